"""Model-based tests (Hypothesis): whatever the records, pages and row groups, CSV and Parquet give back every
record's values in order, or fail loudly; never a value silently changed or dropped."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_surveysphere.codec import dumps
from airflow_provider_surveysphere.formats import SurveySphereFormatError
from airflow_provider_surveysphere.formats.csv import FORMULA_STARTS, CsvEncoder
from airflow_provider_surveysphere.formats.flatten import Flattener
from airflow_provider_surveysphere.formats.parquet import ParquetEncoder
from airflow_provider_surveysphere.formats.types import convert, fits, kind_of, widen

pytestmark = pytest.mark.model

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8)
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False), TEXT,
    st.sampled_from(["2026-11-01T00:00:00Z", "2026-11-01T02:30:00+02:00", "=1+2", "-3", "@x"]),
)
KEYS = st.sampled_from(["a", "b", "c"])
RECORDS = st.lists(st.dictionaries(KEYS, st.one_of(VALUES, st.dictionaries(KEYS, VALUES, max_size=2))), max_size=30)


def pages_of(records: list[dict], sizes: list[int]) -> list[list[dict]]:
    pages, start = [], 0
    for size in sizes:
        pages.append(records[start:start + size])
        start += size
    return [*pages, records[start:]]


def flat_rows(records: list[dict]) -> list[dict]:
    return [Flattener().flatten(record, "r") for record in records]


@given(RECORDS, st.lists(st.integers(0, 10), max_size=4), st.booleans())
def test_csv_gives_back_every_value_as_text(records, sizes, formula_safe):
    encoder = CsvEncoder(Flattener(), formula_safe=formula_safe)
    data = b"".join(encoder.encode_page(page) for page in pages_of(records, sizes)) + encoder.finish()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    header, body = rows[0], rows[1:]
    flat = flat_rows(records)
    assert len(body) == len(flat)
    for row, record in zip(body, flat, strict=True):
        got = dict(zip(header, row, strict=True))
        extra = json_or_empty(got.pop("_extra"))
        for name, value in record.items():
            text = got[name] if name in got else extra_text(extra[name])
            assert text == expected_text(value, formula_safe and name in got)
        assert set(got) | set(extra) >= set(record)


def json_or_empty(text: str) -> dict:
    return json.loads(text) if text else {}


def extra_text(value) -> str:
    return expected_text(value, False)


def expected_text(value, formula_safe: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value if formula_safe and value.startswith(FORMULA_STARTS) else value
    return str(value) if isinstance(value, int) else repr(value)


@given(RECORDS, st.lists(st.integers(0, 10), max_size=4), st.integers(1, 12))
def test_parquet_gives_back_every_value_widened_or_fails_naming_it(records, sizes, row_group_size):
    pages = pages_of(records, sizes)
    flat = flat_rows(records)
    # The columns: those of the first page with a field (records before it wait, and become rows of nulls).
    fixed_at = next((number for number, page in enumerate(pages) if any(flat_rows(page))), len(pages))
    first = flat_rows(pages[fixed_at]) if fixed_at < len(pages) else []
    names = list(dict.fromkeys(name for row in first for name in row))
    # The model: types widen over the rows up to the page on which the first row group is written.
    types: dict[str, str | None] = dict.fromkeys(names)
    seen, frozen_at = 0, None
    inexact = set()  # columns with an int no float holds exactly: int and float meet at string there
    for number, page in enumerate(pages):
        for row in flat_rows(page):
            for name in names:
                types[name] = widen(types[name], kind_of(row.get(name)))
                if kind_of(row.get(name)) == "int" and float(row[name]) != row[name]:
                    inexact.add(name)
        seen += len(page)
        if seen >= row_group_size and number >= fixed_at:
            frozen_at = number
            break
    types = {name: "string" if kind == "float" and name in inexact else kind or "string" for name, kind in types.items()}
    later = [row for page in (pages[frozen_at + 1:] if frozen_at is not None else []) for row in flat_rows(page)]
    misfit = any(not fits(types[name], row.get(name)) for row in later for name in names)

    encoder = ParquetEncoder(Flattener(), row_group_size=row_group_size)
    if misfit:
        with pytest.raises(SurveySphereFormatError, match="does not fit"):
            for page in pages:
                encoder.encode_page(page)
            encoder.finish()
        return
    data = b"".join(encoder.encode_page(page) for page in pages) + encoder.finish()
    table = pq.read_table(io.BytesIO(data))
    assert table.column_names == [*names, "_extra"]
    got = table.to_pylist()
    assert len(got) == len(flat)
    for row, record in zip(got, flat, strict=True):
        for name in names:
            assert row[name] == convert(types[name], record.get(name))
        unknown = {k: v for k, v in record.items() if k not in names}
        assert row["_extra"] == (dumps(unknown).decode() if unknown else None)
