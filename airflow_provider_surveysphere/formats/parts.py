"""CSV and Parquet parts of an incremental export: how they are written, and the two columns read back.

The reader needs each record's ``id_key`` and ``time_key`` exactly as the API sent them, so a part is written so
that they survive: CSV without formula safety (a ``'`` would change an id), Parquet with ``id_key`` declared text
and ``time_key`` text kept text (a number stays a number). A timestamp column would fix its type with the part's
first row group and refuse a later mark the export accepts (no offset, a date, seven fraction digits), and would
send the mark back respelled. Parts written before stored ISO 8601 marks as timestamps: those read back as ISO
8601 UTC text, the same instant.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from airflow_provider_surveysphere.formats.base import RecordEncoder
from airflow_provider_surveysphere.formats.columns import EXTRA_COLUMN
from airflow_provider_surveysphere.formats.flatten import Flattener

NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def part_encoder(output_format: str, time_key: str, id_key: str) -> RecordEncoder:
    """The encoder of a new part in ``output_format``."""
    if output_format == "csv":
        from airflow_provider_surveysphere.formats.csv import CsvEncoder

        return CsvEncoder(Flattener(), formula_safe=False)
    if output_format == "parquet":
        from airflow_provider_surveysphere.formats.parquet import ParquetEncoder

        return ParquetEncoder(Flattener(), types={id_key: "string"}, keep_text=(time_key,))
    from airflow_provider_surveysphere.formats.jsonl import JsonLinesEncoder

    return JsonLinesEncoder()


def read_tabular_part(name: str, file: Any, fields: Iterable[str], numbers: Iterable[str] = ()) -> list[dict[str, Any]]:
    """``fields`` of every row of a CSV or Parquet part (a missing column reads as null).

    :param numbers: the CSV fields whose numeric text was a JSON number (the others stay text: an id ``00123``
        must not become ``123``)

    :raises ValueError: the file is not a CSV or Parquet file
    """
    wanted = list(dict.fromkeys(fields))
    if name.endswith(".csv"):
        text = io.TextIOWrapper(file, encoding="utf-8", newline="")
        numeric = set(numbers)
        return [
            _with_extra(
                {key: _csv_value(row.get(key)) if key in numeric else (row.get(key) or None) for key in wanted},
                row.get(EXTRA_COLUMN),
            )
            for row in csv.DictReader(text)
        ]
    from airflow_provider_surveysphere.formats.parquet import pyarrow_modules

    pa, pq = pyarrow_modules()
    try:
        table = pq.read_table(io.BytesIO(file.read()))
    except pa.ArrowException as exc:
        raise ValueError(f"not a Parquet file: {exc}") from None
    columns = {
        key: table.column(key).to_pylist() if key in table.column_names else None for key in [*wanted, EXTRA_COLUMN]
    }
    extra = columns.pop(EXTRA_COLUMN) or [None] * table.num_rows
    return [
        _with_extra(
            {key: _parquet_value(values[row]) if values is not None else None for key, values in columns.items()},
            extra[row],
        )
        for row in range(table.num_rows)
    ]


def _with_extra(record: dict[str, Any], extra: str | None) -> dict[str, Any]:
    """A field that was not one of the part's columns (it first appeared after the first page) is in ``_extra``,
    as the JSON the API sent."""
    if extra:
        for key, value in json.loads(extra).items():
            if key in record and record[key] is None:
                record[key] = value
    return record


def _csv_value(text: str | None) -> Any:
    """A CSV field as the JSON value it was written from: empty is null, a number is a number."""
    if not text:
        return None
    if NUMBER.fullmatch(text):
        return float(text) if any(c in text for c in ".eE") else int(text)
    return text


def _parquet_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if value.microsecond else value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value
