"""The JSON codec: the same JSON Lines as the standard library, record by record, and its documented differences."""

from __future__ import annotations

import json

import pytest

from airflow_provider_surveysphere import codec

STD = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

RECORDS = [
    {"id": "r-1", "text": "é ü 漢字 \u2028 \"quoted\" \\ back", "n": 12345678901234567890123, "neg": -7,
     "f": 0.1, "half": 2.5, "zero": -0.0, "nested": {"b": [1, {"c": None}], "a": True}, "empty": {}},
    [1, "two", 3.0],
    "just a string",
    None,
]


def test_records_encode_exactly_as_the_standard_library_did():
    expected = "".join(STD(record) + "\n" for record in RECORDS).encode()
    assert codec.encode_records(RECORDS) == expected
    assert codec.encode_records(iter(RECORDS)) == expected  # any iterable


def test_one_document_encodes_as_the_standard_library_does():
    for value in RECORDS:
        assert codec.dumps(value) == STD(value).encode()
    assert codec.dumps({"when": object.__name__}) == b'{"when":"object"}'


def test_float_exponents_differ_in_form_only():
    values = [1e16, 1e-07, 1.5e300]
    lines = codec.encode_records(values).decode().splitlines()
    assert [json.loads(line) for line in lines] == values
    assert lines == ["1e16", "1e-7", "1.5e300"]  # the standard library writes 1e+16, 1e-07, 1.5e+300


def test_a_type_json_does_not_know_fails_as_before():
    with pytest.raises(TypeError):
        codec.encode_records([{"when": object()}])


@pytest.mark.parametrize("text", [b'{"a": [1, 2.5, "x\\u00e9"]}', b"12345678901234567890123", b"NaN", b"1e400"])
def test_loads_reads_what_the_standard_library_reads(text):
    assert json.dumps(codec.loads(text)) == json.dumps(json.loads(text))


def test_loads_refuses_what_is_not_json():
    with pytest.raises(ValueError):
        codec.loads(b"<html>maintenance</html>")
