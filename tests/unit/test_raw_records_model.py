"""Model test of raw records: for any JSON records, spelled with any insignificant whitespace (pretty-printed, CR/LF,
tabs), escapes and number forms, the raw path writes one record a line, each equal as a JSON value to what the
decoded path (the model) writes, and the pagination fields read the same."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_surveysphere import codec
from airflow_provider_surveysphere.paging import records_of

pytestmark = pytest.mark.model

WHITESPACE = st.text(alphabet=" \t\r\n", max_size=3)
KEY = st.text(max_size=6)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEY, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def spelled(draw: st.DrawFn, value: Any) -> str:
    """``value`` as JSON text, with whitespace drawn between tokens, escapes or not, and a drawn number form."""

    def gap() -> str:
        return draw(WHITESPACE)

    if isinstance(value, dict):
        items = [f"{gap()}{draw(spelled(key))}{gap()}:{gap()}{draw(spelled(item))}{gap()}" for key, item in value.items()]
        return "{" + ",".join(items) + gap() + "}"
    if isinstance(value, list):
        return "[" + ",".join(f"{gap()}{draw(spelled(item))}{gap()}" for item in value) + gap() + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=draw(st.booleans()))
    if isinstance(value, float):
        form = draw(st.sampled_from(["repr", "e", "E"]))
        if form == "repr" or value == 0 or not math.isfinite(value):
            return repr(value)
        text = format(value, ".17e")  # round-trips: the same double
        return text.upper() if form == "E" else text
    return json.dumps(value)


@st.composite
def pages(draw: st.DrawFn) -> tuple[bytes, list[Any], str | None, Any]:
    """A page body, its records, its records_key and its cursor."""
    records = draw(st.lists(VALUES, max_size=6))
    listing = "[" + ",".join(draw(WHITESPACE) + draw(spelled(record)) + draw(WHITESPACE) for record in records) + "]"
    records_key = draw(st.sampled_from([None, "data", "result.items"]))
    cursor = draw(st.none() | st.text(max_size=5) | st.integers())
    if records_key is None:
        body = listing
    else:
        fields = {"next_cursor": cursor, "total": draw(st.integers(min_value=0, max_value=2**70))}
        inner = ",".join(f"{json.dumps(k)}:{draw(WHITESPACE)}{json.dumps(v)}" for k, v in fields.items())
        if records_key == "data":
            body = "{" + draw(WHITESPACE) + f'"data":{listing},' + inner + draw(WHITESPACE) + "}"
        else:
            body = '{"meta":{' + inner + '},\n"result":{"n":1,"items":' + listing + "}}"
    return (draw(WHITESPACE) + body + draw(WHITESPACE)).encode(), records, records_key, cursor


@given(pages())
def test_raw_records_are_one_a_line_and_equal_to_the_decoded_ones(page):
    content, records, records_key, cursor = page
    body = codec.loads(content)
    decoded = codec.encode_records(records_of(body, records_key, "page 1"))

    split = codec.split_records(content, records_key)
    assert split is not None  # valid JSON of the usual kind always splits
    raw_body, raw_records = split
    raw = codec.encode_records(raw_records)

    lines = raw.split(b"\n")
    assert lines[-1] == b"" and b"\r" not in raw
    assert len(lines) - 1 == len(records) == len(raw_records)
    assert [json.loads(line) for line in lines[:-1]] == [json.loads(line) for line in decoded.splitlines()] == records
    if records_key == "data":
        assert (raw_body["next_cursor"], raw_body["total"]) == (body["next_cursor"], body["total"]) == (
            cursor, body["total"]
        )
    elif records_key == "result.items":
        assert raw_body["meta"] == body["meta"] and raw_body["result"]["n"] == 1
