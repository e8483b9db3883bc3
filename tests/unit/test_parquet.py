"""Parquet exports: inferred and declared types, widening, row groups, compression (pyarrow, the [parquet] extra)."""

from __future__ import annotations

import io
import sys
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_surveysphere.exceptions import SurveySphereArgumentError
from airflow_provider_surveysphere.formats import FormatOptions, SurveySphereFormatError
from airflow_provider_surveysphere.formats.flatten import Flattener
from airflow_provider_surveysphere.formats.parquet import ParquetEncoder


def write(pages, **kwargs) -> pq.ParquetFile:
    encoder = ParquetEncoder(Flattener(), **kwargs)
    data = b"".join(encoder.encode_page(page) for page in pages) + encoder.finish()
    return pq.ParquetFile(io.BytesIO(data))


def test_types_are_inferred_from_the_first_page():
    page = [{"id": "r1", "n": 1, "x": 1.5, "ok": True, "at": "2026-11-01T00:00:00Z", "a": {"q": None}, "l": [1]}]
    file = write([page])
    assert file.schema_arrow == pa.schema([
        ("id", pa.string()), ("n", pa.int64()), ("x", pa.float64()), ("ok", pa.bool_()),
        ("at", pa.timestamp("us", tz="UTC")), ("a.q", pa.string()), ("l", pa.string()), ("_extra", pa.string()),
    ])
    row = file.read().to_pylist()[0]
    assert row["at"] == datetime(2026, 11, 1, tzinfo=timezone.utc) and row["l"] == "[1]" and row["a.q"] is None


def test_a_later_value_widens_its_column_int_to_float_to_string():
    file = write([[{"n": 1, "m": 1, "at": "2026-11-01T00:00:00Z"}], [{"n": 2.5, "m": "many", "at": "later"}]])
    assert file.schema_arrow.field("n").type == pa.float64()
    assert file.schema_arrow.field("m").type == pa.string()
    assert file.schema_arrow.field("at").type == pa.string()
    assert file.read().to_pydict()["m"] == ["1", "many"]
    assert file.read().to_pydict()["n"] == [1.0, 2.5]


def test_a_value_outside_a_declared_type_fails_naming_column_value_and_page():
    encoder = ParquetEncoder(Flattener(), ["id", "score"], types={"score": "int"})
    encoder.encode_page([{"id": "a", "score": 1}])
    with pytest.raises(SurveySphereFormatError, match=r"page 2: column 'score': 2\.5 does not fit int, its declared type"):
        encoder.encode_page([{"id": "b", "score": 2.5}])


def test_declared_types_are_kept_and_an_int_fits_a_float_column():
    file = write([[{"id": 1, "score": 3}]], columns=["id", "score"], types={"id": "string", "score": "float"})
    assert file.schema_arrow.field("id").type == pa.string() and file.schema_arrow.field("score").type == pa.float64()
    assert file.read().to_pylist() == [{"id": "1", "score": 3.0, "_extra": None}]


def test_rows_are_written_in_row_groups_of_the_given_size_as_pages_arrive():
    encoder = ParquetEncoder(Flattener(), row_group_size=4)
    chunks = [encoder.encode_page([{"i": i * 3 + k} for k in range(3)]) for i in range(5)]
    assert chunks[0] == b"" and chunks[1] != b""  # the first group leaves as soon as it is full
    file = pq.ParquetFile(io.BytesIO(b"".join(chunks) + encoder.finish()))
    assert [file.metadata.row_group(g).num_rows for g in range(file.num_row_groups)] == [4, 4, 4, 3]
    assert file.read().to_pydict()["i"] == list(range(15))
    assert file.metadata.row_group(0).column(0).compression == "ZSTD"


def test_once_the_first_row_group_fixed_the_schema_a_value_that_does_not_fit_fails():
    encoder = ParquetEncoder(Flattener(), row_group_size=2)
    encoder.encode_page([{"n": 1}, {"n": 2}])
    with pytest.raises(SurveySphereFormatError, match=r"page 2: column 'n': 'x' does not fit int, the type the first row group fixed"):
        encoder.encode_page([{"n": "x"}])


def test_a_column_of_nulls_only_is_text_and_an_empty_export_is_a_valid_file():
    assert write([[{"a": None}]]).schema_arrow.field("a").type == pa.string()
    empty = write([], columns=["id", "n"], types={"n": "int"})
    assert empty.read().num_rows == 0 and empty.schema_arrow.names == ["id", "n", "_extra"]


def test_the_codec_inside_the_file_follows_compression():
    for compression, codec in (("gzip", "GZIP"), (None, "UNCOMPRESSED"), ("infer", "ZSTD")):
        encoder = FormatOptions().encoder("parquet", compression)
        file = pq.ParquetFile(io.BytesIO(encoder.encode_page([{"a": 1}]) + encoder.finish()))
        assert file.metadata.row_group(0).column(0).compression == codec


def test_without_pyarrow_parquet_fails_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(SurveySphereArgumentError, match=r"pip install 'airflow-provider-surveysphere\[parquet\]'"):
        FormatOptions().encoder("parquet", "infer")


def test_records_without_a_field_before_the_first_field_become_rows_of_nulls():
    file = write([[{}, {"x": {}}], [{"a": 1}]], row_group_size=2)
    assert file.schema_arrow == pa.schema([("a", pa.int64()), ("_extra", pa.string())])
    assert file.read().to_pylist() == [{"a": None, "_extra": None}, {"a": None, "_extra": None}, {"a": 1, "_extra": None}]
    assert write([[{}], [{}]]).read().to_pylist() == [{"_extra": None}, {"_extra": None}]


def test_a_lone_surrogate_fails_naming_the_column():
    encoder = ParquetEncoder(Flattener(), row_group_size=1)
    with pytest.raises(SurveySphereFormatError, match=r"up to page 2: column 'text': 'a\\ud800b' .*surrogate"):
        for page in ([{"text": "ok"}], [{"text": "a\ud800b"}]):
            encoder.encode_page(page)


def test_nan_widened_to_text_is_null_not_the_text_null():
    rows = write([[{"a": "x"}, {"a": float("nan")}, {"a": float("inf")}], [{"b": 1}]]).read().to_pylist()
    assert [row["a"] for row in rows] == ["x", None, None, None]
    assert write([[{"a": float("nan")}]]).schema_arrow.field("a").type == pa.float64()  # a float column keeps NaN


@pytest.mark.parametrize("pages", [[[{"n": 2**60 + 1}, {"n": 1.5}]], [[{"n": 1.5}], [{"n": 2**60 + 1}]],
                                   [[{"n": 2**60 + 1}], [{"n": 0.5}]]])
def test_an_int_a_float_cannot_hold_exactly_widens_to_text_not_to_a_rounded_float(pages):
    """int and float meet at float, but 2**60 + 1 as a float is 2**60: widening must not change a value."""
    file = write(pages)
    assert file.schema_arrow.field("n").type == pa.string()
    assert str(2**60 + 1) in file.read().column("n").to_pylist()


def test_a_float_column_refuses_an_int_it_cannot_hold_exactly():
    with pytest.raises(SurveySphereFormatError, match=r"page 2: column 'n': 1152921504606846977 does not fit float"):
        write([[{"n": 1.5}], [{"n": 2**60 + 1}]], row_group_size=1)
    with pytest.raises(SurveySphereFormatError, match="does not fit float, its declared type"):
        write([[{"n": 2**60 + 1}]], columns=["n"], types={"n": "float"})
    assert write([[{"n": 2**53}]], columns=["n"], types={"n": "float"}).read().column("n").to_pylist() == [2.0**53]
