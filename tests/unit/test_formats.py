"""Export formats: flattening, columns, new fields, CSV quoting and formula safety (no pyarrow needed here)."""

from __future__ import annotations

import csv
import io
import logging
from datetime import datetime, timezone

import pytest

from airflow_provider_surveysphere.exceptions import SurveySphereArgumentError
from airflow_provider_surveysphere.formats import FormatOptions, SurveySphereFormatError, resolve_format
from airflow_provider_surveysphere.formats.columns import ColumnLayout
from airflow_provider_surveysphere.formats.csv import CsvEncoder
from airflow_provider_surveysphere.formats.flatten import Flattener
from airflow_provider_surveysphere.formats.types import kind_of, parse_timestamp, widen


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


# -- flattening ---------------------------------------------------------------------------------------------


def test_nested_objects_become_columns_joined_by_the_separator():
    record = {"id": "r1", "answers": {"q1": 5, "q2": {"text": "ok"}}, "tags": ["a", "b"]}
    assert Flattener().flatten(record, "r") == {"id": "r1", "answers.q1": 5, "answers.q2.text": "ok", "tags": '["a","b"]'}
    assert Flattener("__").flatten(record, "r")["answers__q2__text"] == "ok"


def test_lists_by_index_spread_over_one_column_per_position():
    flat = Flattener(lists="index").flatten({"tags": ["a", {"x": 1}], "none": []}, "r")
    assert flat == {"tags.0": "a", "tags.1.x": 1, "none": "[]"}


def test_an_empty_object_adds_no_column_and_null_stays_null():
    assert Flattener().flatten({"a": {}, "b": None}, "r") == {"b": None}


@pytest.mark.parametrize("record, kind", [(["a"], "array"), ("text", "string"), (None, "null"), (3, "number")])
def test_a_record_that_is_not_an_object_fails_naming_its_position(record, kind):
    encoder = CsvEncoder(Flattener())
    encoder.encode_page([{"id": 1}, {"id": 2}])
    with pytest.raises(SurveySphereFormatError, match=rf"record 2 of page 2 \(record 4 of the export\): is a JSON {kind}"):
        encoder.encode_page([{"id": 3}, record])


@pytest.mark.parametrize("record", [{"a.b": 1, "a": {"b": 2}}, {"a": {"b": 2}, "a.b": 1}])
def test_a_key_with_the_separator_colliding_with_a_path_fails_naming_the_column(record):
    with pytest.raises(SurveySphereFormatError, match=r"record 1 of page 1 .*column 'a\.b'"):
        CsvEncoder(Flattener()).encode_page([record])


@pytest.mark.parametrize(
    "pages",
    [
        [[{"a.b": 1}, {"a": {"b": 2}}]],  # two records of one page
        [[{"a": {"b": 2}}], [{"id": 1}, {"a.b": 1}]],  # across pages, the path first
        [[{"x": {"y.z": 1}}], [{"id": 1}, {"x.y": {"z": 2}}]],  # two keys with the separator, split differently
    ],
)
def test_a_name_two_records_spell_differently_fails_naming_the_record_and_column(pages):
    """One column must hold one field: ``a.b`` as a key in one record and as a path in another would merge two
    different fields into one column without a word."""
    encoder = CsvEncoder(Flattener())
    with pytest.raises(SurveySphereFormatError, match=r"record \d of page \d .*column '(a\.b|x\.y\.z)'"):
        for page in pages:
            encoder.encode_page(page)


def test_collisions_inside_lists_spread_by_index_and_repeats_of_one_odd_key():
    encoder = CsvEncoder(Flattener(lists="index"))
    encoder.encode_page([{"t": [{"a.b": 1}], "x.y": 1}, {"t": [{"a.b": 2}], "x.y": 2}])  # the same spelling: fine
    with pytest.raises(SurveySphereFormatError, match=r"record 1 of page 2 .*column 't\.0\.a\.b'.*'t' -> '0' -> 'a\.b'"):
        encoder.encode_page([{"t": [{"a": {"b": 3}}]}])


def test_the_same_path_in_every_record_and_a_list_position_are_no_collision():
    encoder = CsvEncoder(Flattener(lists="index"))
    data = encoder.encode_page([{"a": {"b": 1}, "t": ["x"]}, {"a": {"b": 2}, "t": ["y", "z"]}])
    assert read_csv(data)[0] == ["a.b", "t.0", "t.1", "_extra"]


# -- columns and new fields ---------------------------------------------------------------------------------


def test_columns_come_from_the_first_page_in_order_of_first_appearance():
    layout = ColumnLayout(None, "extra")
    rows = layout.rows([{"b": 1}, {"a": 2, "b": 3}, {"c": 4}], page=1)
    assert layout.header == ["b", "a", "c", "_extra"]
    assert rows == [[1, None, None, None], [3, 2, None, None], [None, None, 4, None]]


def test_declared_columns_keep_their_order_and_a_missing_field_is_empty():
    layout = ColumnLayout(["c", "a"], "extra")
    assert layout.rows([{"a": 1}], page=1) == [[None, 1, None]]
    assert layout.header == ["c", "a", "_extra"]


def test_a_new_field_goes_to_the_extra_column_as_json_by_default():
    encoder = CsvEncoder(Flattener())
    first = encoder.encode_page([{"id": 1}])
    later = encoder.encode_page([{"id": 2, "new": {"x": "y"}, "more": [1]}])
    assert read_csv(first + later + encoder.finish()) == [
        ["id", "_extra"], ["1", ""], ["2", '{"new.x":"y","more":"[1]"}'],
    ]


def test_a_new_field_with_on_new_field_error_fails_naming_field_and_page():
    encoder = CsvEncoder(Flattener(), on_new_field="error")
    encoder.encode_page([{"id": 1}])
    encoder.encode_page([{"id": 2}])
    with pytest.raises(SurveySphereFormatError, match=r"page 3: the field 'survey\.title' is not one of"):
        encoder.encode_page([{"id": 3, "survey": {"title": "t"}}])


def test_ignored_fields_are_dropped_counted_and_logged_once_per_field(caplog):
    encoder = CsvEncoder(Flattener(), on_new_field="ignore", logger=logging.getLogger("test.formats"))
    data = encoder.encode_page([{"id": 1}])
    with caplog.at_level(logging.WARNING, logger="test.formats"):
        data += encoder.encode_page([{"id": 2, "x": 1}, {"id": 3, "x": 2, "y": 0}])
        data += encoder.encode_page([{"id": 4, "x": 3}])
    assert read_csv(data) == [["id"], ["1"], ["2"], ["3"], ["4"]]
    assert encoder.summary() == {"format": "csv", "ignored_fields": {"x": 3, "y": 1}}
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2 and "Page 2: the field 'x'" in warnings[0] and "'y'" in warnings[1]


def test_a_field_named_like_the_extra_column_is_refused():
    with pytest.raises(SurveySphereFormatError, match="'_extra' is the column of new fields"):
        CsvEncoder(Flattener()).encode_page([{"_extra": 1}])


def test_records_without_a_field_do_not_fix_an_empty_set_of_columns():
    """A first page of ``{}`` (or of empty objects only) must not leave every later field outside the columns."""
    encoder = CsvEncoder(Flattener(), on_new_field="error")
    data = encoder.encode_page([{}, {"x": {}}]) + encoder.encode_page([{"a": 1}]) + encoder.finish()
    assert read_csv(data) == [["a"], [""], [""], ["1"]]
    extra = CsvEncoder(Flattener())
    data = extra.encode_page([{}]) + extra.encode_page([{"a": 1, "b": {"c": 2}}]) + extra.finish()
    assert read_csv(data) == [["a", "b.c", "_extra"], ["", "", ""], ["1", "2", ""]]


def test_an_export_of_records_without_a_field_keeps_one_row_each():
    encoder = CsvEncoder(Flattener())
    data = encoder.encode_page([{}, {}]) + encoder.finish()
    assert list(csv.DictReader(io.StringIO(data.decode(), newline=""))) == [{"_extra": ""}, {"_extra": ""}]


# -- CSV ----------------------------------------------------------------------------------------------------


def test_csv_quotes_per_rfc_4180_and_writes_null_and_booleans_plainly():
    encoder = CsvEncoder(Flattener())
    data = encoder.encode_page([{"text": 'a "quoted", multi\nline', "n": None, "ok": True, "no": False, "x": 1.5}])
    assert data.decode() == 'text,n,ok,no,x,_extra\r\n"a ""quoted"", multi\nline",,true,false,1.5,\r\n'
    assert read_csv(data)[1][0] == 'a "quoted", multi\nline'


def test_csv_is_utf_8_and_takes_another_dialect():
    encoder = CsvEncoder(Flattener(), dialect="excel-tab", on_new_field="ignore")
    assert encoder.encode_page([{"name": "Zoë", "city": "Köln"}]) == "name\tcity\r\nZoë\tKöln\r\n".encode()


@pytest.mark.parametrize("text", ["=1+2", "+1", "-2+3", "@SUM(A1)", "\t=x", "\r=x"])
def test_formula_safe_prefixes_text_a_spreadsheet_would_run(text):
    safe = CsvEncoder(Flattener(), on_new_field="ignore").encode_page([{"t": text, "n": -5}])
    assert read_csv(safe)[1] == ["'" + text, "-5"]  # numbers are never touched
    raw = CsvEncoder(Flattener(), on_new_field="ignore", formula_safe=False).encode_page([{"t": text}])
    assert read_csv(raw)[1] == [text]


@pytest.mark.parametrize("columns", [None, ["=HYPERLINK(\"x\")", "+q", "ok"]])
def test_formula_safe_covers_the_header_row_whose_names_come_from_the_data(columns):
    """Column names are the records' keys (a survey's question labels, say): a spreadsheet runs a header cell
    ``=HYPERLINK(...)`` just like a value."""
    record = {'=HYPERLINK("x")': 1, "+q": "-n", "ok": 2}
    safe = CsvEncoder(Flattener(), columns, on_new_field="ignore").encode_page([record])
    assert read_csv(safe) == [["'=HYPERLINK(\"x\")", "'+q", "ok"], ["1", "'-n", "2"]]
    empty = CsvEncoder(Flattener(), columns, on_new_field="ignore")
    assert read_csv(empty.finish()) == ([["'=HYPERLINK(\"x\")", "'+q", "ok"]] if columns else [])
    raw = CsvEncoder(Flattener(), columns, on_new_field="ignore", formula_safe=False).encode_page([record])
    assert read_csv(raw)[0] == ['=HYPERLINK("x")', "+q", "ok"]


def test_nan_and_infinities_are_empty_fields_as_json_lines_writes_them_null():
    """Non-standard input (``NaN``, ``Infinity``) parses to floats; JSON Lines writes null, so CSV writes an empty
    field, not Python's ``nan``/``inf`` that no CSV reader takes for a number."""
    data = CsvEncoder(Flattener(), on_new_field="ignore").encode_page([{"a": float("nan"), "b": float("-inf"), "c": 1.5}])
    assert read_csv(data) == [["a", "b", "c"], ["", "", "1.5"]]


def test_an_export_without_records_still_has_its_header():
    assert CsvEncoder(Flattener(), columns=["id", "a.b"]).finish() == b"id,a.b,_extra\r\n"
    assert CsvEncoder(Flattener(), on_new_field="error").finish() == b""


# -- types (the rule Parquet uses) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, kind",
    [(1, "int"), (True, "bool"), (1.5, "float"), ("2026-11-01T00:00:00Z", "timestamp"),
     ("2026-11-01T02:00:00+02:00", "timestamp"), ("2026-11-01T00:00:00", "string"), ("2026-11-01", "string"),
     ("text", "string"), (2**63, "string"), (None, None)],
)
def test_the_kind_of_a_value(value, kind):
    assert kind_of(value) == kind


def test_widening_goes_int_to_float_to_string():
    assert widen("int", "float") == widen("float", "int") == "float"
    assert widen("float", "string") == widen("int", "bool") == widen("timestamp", "int") == "string"
    assert widen(None, "int") == widen("int", None) == widen("int", "int") == "int"
    assert parse_timestamp("2026-11-01T02:00:00+02:00").isoformat() == "2026-11-01T00:00:00+00:00"


@pytest.mark.parametrize(
    "text, instant",
    [
        ("2026-11-01T00:00:00.5Z", datetime(2026, 11, 1, 0, 0, 0, 500000, tzinfo=timezone.utc)),  # 3.10: not 3/6
        ("2026-11-01T00:00:00.12345z", datetime(2026, 11, 1, 0, 0, 0, 123450, tzinfo=timezone.utc)),
        ("2026-11-01 02:00+0200", datetime(2026, 11, 1, tzinfo=timezone.utc)),  # 3.10: no +HHMM
        ("2026-11-01T00:00:00.1234567Z", None),  # a seventh digit would be dropped: text keeps it
        ("2026-11-01T00:00:00.123456789+00:00", None),
        ("2026-W44-7T00:00:00Z", None),  # 3.11+ only: kept as text everywhere
        ("2026-305T00:00:00Z", None),
        ("2026-11-01T24:00:00Z", None),
        ("2026-11-01T00:00:00+02:00:30", None),
    ],
)
def test_timestamps_parse_alike_on_every_python_and_lose_no_digit(text, instant):
    """The same page must give the same Parquet schema on Python 3.10 and 3.13, and a timestamp column must hold
    the value exactly: anything the one strict form cannot hold stays text."""
    assert parse_timestamp(text) == instant
    assert kind_of(text) == ("timestamp" if instant else "string")


@pytest.mark.parametrize("record", [{"id": 1, "text": "a\ud800b"}, {"id": 1, "a\udfffb": 2}, {"id": 1, "l": ["\ud800"]}, {"id": 1, "new": "\ud800"}])
def test_a_lone_surrogate_fails_naming_page_and_column_not_as_a_bare_unicode_error(record):
    """JSON may escape half a surrogate pair (``"\\ud800"``); UTF-8 cannot hold it, so the export must fail as a
    permanent error naming where, not as a UnicodeEncodeError that Airflow retries."""
    encoder = CsvEncoder(Flattener())
    with pytest.raises(SurveySphereFormatError, match=r"page 1\b.*: column '.*': .*surrogate"):
        encoder.encode_page([{"id": 0}, record])


# -- choosing the format ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "output_format, name, chosen",
    [(None, "x.csv", "csv"), (None, "x.CSV.gz", "csv"), (None, "x.parquet", "parquet"), (None, "x.jsonl.zst", "jsonl"),
     (None, "x.json", "jsonl"), (None, "x", "jsonl"), ("csv", "x.txt", "csv"), ("parquet", None, "parquet")],
)
def test_the_format_comes_from_the_argument_else_the_extension(output_format, name, chosen):
    assert resolve_format(output_format, name) == chosen


def test_a_format_the_extension_contradicts_is_refused():
    with pytest.raises(SurveySphereArgumentError, match=r"output_format: is 'csv' but the output path 'x.parquet' says 'parquet'"):
        resolve_format("csv", "x.parquet")
    with pytest.raises(SurveySphereArgumentError, match="Parquet compresses inside the file"):
        resolve_format(None, "x.parquet.gz")
    with pytest.raises(SurveySphereArgumentError, match="use one of"):
        resolve_format("xlsx", "x.xlsx")


@pytest.mark.parametrize(
    "options, problem",
    [({"on_new_field": "drop"}, "on_new_field: is 'drop'"), ({"lists": "explode"}, "lists: is 'explode'"),
     ({"flatten_separator": ""}, "flatten_separator"), ({"csv_dialect": "nope"}, "csv_dialect: is 'nope'"),
     ({"row_group_size": 0}, "row_group_size: is 0"), ({"columns": "id"}, "columns: is 'id'"),
     ({"columns": ["a", "a"]}, "'a' is listed twice"), ({"columns": [("a", "decimal")]}, "'a' has the type 'decimal'"),
     ({"columns": [("a", "int", "x")]}, "neither a name nor"),
     ({"columns": [], "on_new_field": "ignore"}, "columns: is empty"),
     ({"columns": [], "on_new_field": "error"}, "columns: is empty")],
)
def test_bad_options_are_refused_naming_the_argument(options, problem):
    with pytest.raises(SurveySphereArgumentError, match=problem):
        FormatOptions(**options)


def test_options_a_format_cannot_use_are_refused():
    with pytest.raises(SurveySphereArgumentError, match="columns: apply to csv and parquet"):
        FormatOptions(columns=["id"]).check_for("jsonl")
    with pytest.raises(SurveySphereArgumentError, match="types apply to parquet only"):
        FormatOptions(columns=[("id", "int")]).check_for("csv")
    assert FormatOptions(columns=[("id", "int64"), "b"]).types == {"id": "int"}
