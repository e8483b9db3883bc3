"""Raw records: a JSON Lines export writes each record as the server's bytes, one a line, and the file holds the
same records, as JSON values, as the decoded export, for every pagination strategy and awkward answer."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from responses import matchers

from airflow_provider_surveysphere import codec
from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator
from airflow_provider_surveysphere.pagination import (
    CursorPagination,
    LinkHeaderPagination,
    NextLinkPagination,
    OffsetPagination,
    Page,
    PageNumberPagination,
    PageRequest,
    Pagination,
)
from airflow_provider_surveysphere.sandbox import SandboxConfig, SandboxServer
from airflow_provider_surveysphere.token import TokenCache

from tests.unit.conftest import BASE_URL

URL = f"{BASE_URL}/api/v1/items"

# Awkward answers: each a list of pages, each page a list of record texts exactly as the server spells them.
AWKWARD: dict[str, list[list[str]]] = {
    "pretty-printed": [['{\n  "id": 1,\n  "answers": {\n    "q1": [\n      1,\n      2\n    ]\n  }\n}', '{\n  "id": 2\n}'],
                       ['{\n    "id": 3,\n    "text": "x"\n}']],
    "CRLF and tabs": [['{\r\n\t"id" : 1 ,\r\n\t"a" :\t[ ]\r\n}', '{"id":2,\r"b":{}}'], ['{ "id":3 }']],
    "unicode": [['{"t":"line\u2028sep\u2029para"}', '{"t":"\U0001d11e \U0001f600 Zo\u00eb \u2603"}'],
                ['{"t":"\\ud83d\\ude00 escaped pair","\\u00e9":"\\u2028"}', '{"t":"\\"quoted\\" \\\\ \\/ \\b\\f\\n\\r\\t"}']],
    "big integers": [['{"n":18446744073709551617,"m":-1180591620717411303424}', "100000000000000000000000000000"],
                     ['{"n":9223372036854775808}']],
    "floats in exponent form": [['{"a":1e5,"b":1.5E-7,"c":-2.5e+300,"d":1E308}', "6.02214076e23"],
                                ['{"e":0.1,"f":-0.0,"g":5e-324}']],
    "null records": [["null", '{"id":1}', "null"], ["null"]],
    "scalar records": [['"text"', "true", "false", "[1, [2, {}]]", "0"], ["-1"]],
    "empty pages": [[], []],
    "a lone surrogate": [['{"t":"a\\ud800b"}', '{"id":2,"u":"\u00fc"}'], ['{"t":"\\udfff"}']],
}


@dataclass(frozen=True)
class Strategy:
    """A strategy and how its pages look: how each page's body is assembled and how the mocks match it."""

    name: str
    pagination: Callable[[int], Any]  # page size -> the strategy (or a callable)
    records_key: str | None
    body: Callable[[str, int, int], str]  # (records' list text, page index, pages) -> body text
    match: Callable[[int, int], list[Any]]  # (page index, page size) -> matchers
    headers: Callable[[int, int], dict[str, str]] = lambda index, pages: {}


def _query(**params: Any) -> list[Any]:
    return [matchers.query_param_matcher({k: str(v) for k, v in params.items()}, strict_match=False)]


NO_QUERY = [matchers.query_param_matcher({})]  # the first page of a strategy that names the next ones


def _next_of(index: int, pages: int) -> str:
    return json.dumps(f"{URL}?after={index + 1}") if index + 1 < pages else "null"


def _page_number_body(records: str, index: int, pages: int) -> str:
    return f'{{\n "totalPages" : {pages},\n "data" : {records}\n}}'


def _offset_body(records: str, index: int, pages: int) -> str:
    return f'{{"total": {10**6}, "data": {records}, "extra": [1, {{"x": null}}]}}'


def _cursor_body(records: str, index: int, pages: int) -> str:
    cursor = json.dumps(f"c\u00e9{index + 1}") if index + 1 < pages else '""'
    return f'{{"meta": {{"count": 9, "next_cursor": {cursor}}}, "result": {{"items": {records}, "n": 1}}}}'


def _next_link_body(records: str, index: int, pages: int) -> str:
    return f'{{\r\n"links":{{"next":{_next_of(index, pages)}}},\r\n"data":{records}}}'


def _callable_strategy(size: int) -> Callable[[Any], Any]:
    def follow(response: Any) -> Any:
        cursor = response.json()["cursor"]
        return {"params": {"cursor": cursor}} if cursor is not None else None

    return follow


STRATEGIES = [
    Strategy(
        "PageNumberPagination", lambda size: PageNumberPagination(page_size=size, total_pages_key="totalPages"),
        "data", _page_number_body, lambda index, size: _query(page=index + 1, pageSize=size),
    ),
    Strategy(
        "OffsetPagination", lambda size: OffsetPagination(limit=size, total_key="total"), "data", _offset_body,
        lambda index, size: _query(offset=index * size, limit=size),
    ),
    Strategy(
        "CursorPagination", lambda size: CursorPagination(cursor_key="meta.next_cursor"), "result.items",
        _cursor_body, lambda index, size: _query(cursor=f"c\u00e9{index}") if index else NO_QUERY,
    ),
    Strategy(
        "NextLinkPagination", lambda size: NextLinkPagination(next_key="links.next"), "data", _next_link_body,
        lambda index, size: _query(after=index) if index else NO_QUERY,
    ),
    Strategy(
        "LinkHeaderPagination", lambda size: LinkHeaderPagination(), None, lambda records, index, pages: records,
        lambda index, size: _query(after=index) if index else NO_QUERY,
        lambda index, pages: {"Link": f'<{URL}?after={index + 1}>; rel="next"'} if index + 1 < pages else {},
    ),
    Strategy(
        "CallablePagination", _callable_strategy, "data",
        lambda records, index, pages: f'{{"data":{records},"cursor":{index + 1 if index + 1 < pages else "null"}}}',
        lambda index, size: _query(cursor=index) if index else NO_QUERY,
    ),
    Strategy(
        "SinglePage", lambda size: None, "result.items",
        lambda records, index, pages: f'{{"result": {{"items": {records}}}}}', lambda index, size: [],
    ),
]


def _mock(mocked_api: Any, strategy: Strategy, pages: list[list[str]], separator: str) -> int:
    """Serve the records of ``pages`` the way ``strategy`` pages; return the page size the strategy must ask for."""
    flat = [record for page in pages for record in page]
    size = max(1, len(pages[0]))
    if strategy.name == "SinglePage":
        pages = [flat]
    elif strategy.name in ("PageNumberPagination", "OffsetPagination"):
        # Only the last page may be short; a full last one is followed by an empty one, as a server does.
        pages = [flat[start:start + size] for start in range(0, len(flat), size)]
        if not pages or len(pages[-1]) == size:
            pages.append([])
    for index, records in enumerate(pages):
        body = strategy.body("[" + separator.join(records) + "]", index, len(pages))
        mocked_api.get(URL, body=body.encode(), content_type="application/json",
                       match=strategy.match(index, size), headers=strategy.headers(index, len(pages)))
    return size


class DecodingOperator(SurveySphereOperator):
    """The decoded path, through the override point: every record is decoded and encoded again."""

    def export_raw_records(self, encoder: Any) -> bool:
        return False


def _export(hook: Any, cls: type[SurveySphereOperator], strategy: Strategy, size: int, path: Path) -> dict[str, Any]:
    op = cls(task_id="export", endpoint="api/v1/items", pagination=strategy.pagination(size),
             records_key=strategy.records_key, output_path=str(path))
    op.hook = hook
    return op.execute({})


def _lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n")
    assert b"\r" not in data
    return data.split(b"\n")[:-1]


@pytest.mark.parametrize("separator", [",", " ,\n  "], ids=["compact list", "pretty list"])
@pytest.mark.parametrize("case", list(AWKWARD))
@pytest.mark.parametrize("strategy", STRATEGIES, ids=[s.name for s in STRATEGIES])
def test_raw_and_decoded_exports_hold_equal_records_one_a_line(hook, mocked_api, tmp_path, strategy, case, separator):
    size = _mock(mocked_api, strategy, AWKWARD[case], separator)
    raw = _export(hook, SurveySphereOperator, strategy, size, tmp_path / "raw.jsonl")
    decoded = _export(hook, DecodingOperator, strategy, size, tmp_path / "decoded.jsonl")

    raw_lines, decoded_lines = _lines(tmp_path / "raw.jsonl"), _lines(tmp_path / "decoded.jsonl")
    raw_values = [json.loads(line) for line in raw_lines]
    assert [json.loads(line) for line in decoded_lines] == raw_values
    assert raw_values == [json.loads(record) for page in AWKWARD[case] for record in page]
    if case != "a lone surrogate":  # msgspec refuses its pages: they are decoded (next test)
        server_bytes = [record.replace("\r", "").replace("\n", "").encode() for page in AWKWARD[case] for record in page]
        assert raw_lines == server_bytes
    assert raw["records"] == decoded["records"] == len(raw_lines)
    assert raw["pages"] == decoded["pages"]
    (tmp_path / "raw.jsonl").read_bytes().decode("utf-8")  # valid UTF-8, a lone surrogate included


def test_a_raw_export_keeps_the_servers_bytes_of_each_record(hook, mocked_api, tmp_path):
    """Key order, number spelling, escapes and spaces are the server's; only the line breaks inside go."""
    records = ['{"b": 1E5, "a":\n  [1.50, 18446744073709551617],\n "\\u00e9": "\\u2028 \\ud83d\\ude00"}', "null"]
    mocked_api.get(URL, body='{"result": {"items": [\n' + ",\n".join(records) + "\n]}}", content_type="application/json")
    result = _export(hook, SurveySphereOperator, STRATEGIES[-1], 1, tmp_path / "raw.jsonl")
    assert (tmp_path / "raw.jsonl").read_bytes() == (
        b'{"b": 1E5, "a":  [1.50, 18446744073709551617], "\\u00e9": "\\u2028 \\ud83d\\ude00"}\nnull\n'
    )
    assert result == {"path": str(tmp_path / "raw.jsonl"), "records": 2, "pages": 1, "format": "jsonl"}


def test_a_lone_surrogate_in_a_json_lines_record_is_written_escaped_not_a_unicode_error(hook, mocked_api, tmp_path):
    mocked_api.get(URL, body='{"result": {"items": [{"t": "a\\ud800b", "u": "\u00fc"}]}}',
                   content_type="application/json")
    for cls in (SurveySphereOperator, DecodingOperator):
        _export(hook, cls, STRATEGIES[-1], 1, tmp_path / "out.jsonl")
        assert (tmp_path / "out.jsonl").read_bytes() == b'{"t":"a\\ud800b","u":"\\u00fc"}\n'
        assert json.loads((tmp_path / "out.jsonl").read_text("utf-8")) == {"t": "a\ud800b", "u": "\u00fc"}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"data": [{"t": "a\xffb"}]}', "is not JSON"),  # not UTF-8: msgspec skips a raw string without checking
        (b'{"data": [{"t": "a\nb"}]}', "is not JSON"),  # a raw line break in a string: removing it would hide it
        (b'{"data": {"id": 1}}', "holds a dict, not a list"),
        (b'{"items": []}', "records_key 'data' not found"),
    ],
)
def test_a_body_the_raw_path_cannot_split_fails_as_the_decoded_path_does(hook, mocked_api, tmp_path, body, problem):
    from airflow_provider_surveysphere.exceptions import SurveySpherePaginationError

    mocked_api.get(URL, body=body, content_type="application/json")
    op = SurveySphereOperator(task_id="export", endpoint="api/v1/items", pagination=PageNumberPagination(),
                              records_key="data", output_path=str(tmp_path / "out.jsonl"))
    op.hook = hook
    with pytest.raises(SurveySpherePaginationError, match=problem):
        op.execute({})
    assert not (tmp_path / "out.jsonl").exists()


def test_the_paginator_gives_raw_records_and_decoded_pagination_fields(hook, mocked_api):
    mocked_api.get(URL, body=_cursor_body('[{"id": 1},\n {"id": 2}]', 0, 2), content_type="application/json")
    mocked_api.get(URL, body=_cursor_body("[]", 1, 2), content_type="application/json", match=_query(cursor="c\u00e91"))
    paginator = hook.paginate("api/v1/items", pagination=CursorPagination(cursor_key="meta.next_cursor"),
                              records_key="result.items", raw_records=True)
    pages = list(paginator.iter_pages())
    assert [bytes(record) for record in pages[0].records] == [b'{"id": 1}', b'{"id": 2}']
    assert pages[0].body["meta"] == {"count": 9, "next_cursor": "c\u00e91"}
    assert pages[0].body["result"]["n"] == 1 and pages[0].body["result"]["items"] is pages[0].records
    assert (paginator.pages, paginator.records) == (2, 2)


def test_a_strategy_that_reads_record_values_gets_decoded_records(hook, mocked_api, tmp_path):
    class AfterLastId(Pagination):
        def next_request(self, page: Page) -> PageRequest | None:
            if not page.records:
                return None
            return PageRequest(page.request.endpoint, {"after": page.records[-1]["id"]})

    mocked_api.get(URL, json={"data": [{"id": 1}, {"id": 2}]}, match=[matchers.query_param_matcher({})])
    mocked_api.get(URL, json={"data": [{"id": 3}]}, match=_query(after=2))
    mocked_api.get(URL, json={"data": []}, match=_query(after=3))
    op = SurveySphereOperator(task_id="export", endpoint="api/v1/items", pagination=AfterLastId(), records_key="data",
                              output_path=str(tmp_path / "out.jsonl"))
    op.hook = hook
    assert op.execute({})["records"] == 3
    assert (tmp_path / "out.jsonl").read_bytes() == b'{"id":1}\n{"id":2}\n{"id":3}\n'


def test_csv_exports_and_xcom_lists_decode_the_records(hook, mocked_api, tmp_path):
    mocked_api.get(URL, body='{"data": [{"id": 1, "a": {"b": 2}}]}', content_type="application/json")
    op = SurveySphereOperator(task_id="export", endpoint="api/v1/items", pagination=PageNumberPagination(),
                              records_key="data", output_path=str(tmp_path / "out.csv"))
    op.hook = hook
    op.execute({})
    assert (tmp_path / "out.csv").read_bytes() == b"id,a.b,_extra\r\n1,2,\r\n"
    op = SurveySphereOperator(task_id="list", endpoint="api/v1/items", pagination=PageNumberPagination(),
                              records_key="data")
    op.hook = hook
    assert op.execute({}) == [{"id": 1, "a": {"b": 2}}]


def test_a_raw_export_counts_and_reports_progress(hook, mocked_api, tmp_path, caplog, monkeypatch):
    from airflow_provider_surveysphere.operators import surveysphere as operator_module
    from airflow_provider_surveysphere.output import ExportProgress

    monkeypatch.setattr(
        operator_module, "ExportProgress", lambda _: ExportProgress(logging.getLogger("progress-test"), every_pages=1)
    )
    pages = [[f'{{"id": {page * 3 + i}}}' for i in range(3 if page < 3 else 2)] for page in range(4)]
    size = _mock(mocked_api, STRATEGIES[0], pages, ",\n")
    op = SurveySphereOperator(task_id="export", endpoint="api/v1/items", pagination=STRATEGIES[0].pagination(size),
                              records_key="data", output_path=str(tmp_path / "out.jsonl"))
    op.hook = hook
    with caplog.at_level(logging.INFO, logger="progress-test"):
        result = op.execute({})
    assert (result["records"], result["pages"]) == (11, 4)
    assert op.export_result == result
    assert [json.loads(line)["id"] for line in _lines(tmp_path / "out.jsonl")] == list(range(11))
    progress = [m.split(" so far")[0] for m in caplog.messages if m.startswith("Export in progress")]
    assert progress == [f"Export in progress: {n} pages, {r} records" for n, r in ((1, 3), (2, 6), (3, 9), (4, 11))]


def test_split_records_is_none_without_a_list_of_records_and_raw_otherwise():
    assert codec.split_records(b"[NaN]", None) is None  # msgspec refuses: the page is decoded as usual
    assert codec.split_records(b'{"a": [1]}', "a.b") is None
    body, records = codec.split_records(b' [ 1 ,\r\n {"a" : 2} ] ', None)
    assert body is records and [bytes(r) for r in records] == [b"1", b'{"a" : 2}']
    assert all(isinstance(record, msgspec.Raw) for record in records)


@pytest.fixture
def pretty_sandbox_hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SandboxServer, SurveySphereHook]]:
    from airflow_provider_surveysphere.sandbox.server import DEFAULT_START

    config = SandboxConfig(responses_per_survey=2_000, start=DEFAULT_START, indent=2)
    with SandboxServer(config=config) as sandbox:
        monkeypatch.setenv("AIRFLOW_CONN_SURVEYSPHERE_DEFAULT", json.dumps({
            "conn_type": "surveysphere", "host": sandbox.base_url, "login": "sandbox-client",
            "password": "sandbox-secret", "extra": {"max_retries": 10},
        }))
        hook = SurveySphereHook(token_cache=TokenCache(), max_retry_wait=5)
        hook.backoff_factor = hook.backoff_jitter = 0
        yield sandbox, hook
        hook.close()


def test_a_raw_export_of_pretty_printed_pages_is_the_same_file_at_any_concurrency(pretty_sandbox_hook, tmp_path):
    """The sandbox pretty-prints (``indent=2``); answers overtake each other at N=8; the files are byte-identical,
    and hold the server's spelling (``"id": "...``) one record a line, the same records as a decoded export."""
    from tests.unit.test_concurrent_paging import ENDPOINT, window

    sandbox, hook = pretty_sandbox_hook
    sandbox.config.update({"latency": 0.002, "latency_jitter": 0.01})
    files = {}
    for name, cls, concurrency in (("raw1", SurveySphereOperator, 1), ("raw8", SurveySphereOperator, 8),
                                   ("decoded", DecodingOperator, 8)):
        op = cls(task_id="export", endpoint=ENDPOINT, query_params=window(1_050),
                 pagination=PageNumberPagination(page_size=100, total_pages_key="totalPages"), records_key="data",
                 output_path=str(tmp_path / f"{name}.jsonl"), max_concurrency=concurrency)
        op.hook = hook
        assert (op.execute({})["records"], op.export_result["pages"]) == (1_050, 11)
        files[name] = (tmp_path / f"{name}.jsonl").read_bytes()
    assert sandbox.stats["max_concurrent"] >= 2
    assert files["raw1"] == files["raw8"]
    lines = files["raw1"].splitlines()
    assert len(lines) == 1_050 and lines[0].startswith(b'{      "id": "')  # the server's spaces, not its line breaks
    assert [json.loads(line) for line in lines] == [json.loads(line) for line in files["decoded"].splitlines()]


@pytest.mark.parametrize("control", [bytes([code]) for code in range(32)], ids=lambda c: f"0x{c[0]:02x}")
def test_a_raw_control_character_in_a_string_is_refused_so_line_breaks_outside_strings_are_whitespace(control):
    """What removing CR and LF relies on: msgspec refuses every raw control character inside a string, so a body
    that splits has none there (and one that does not split is decoded, and refused as not JSON)."""
    content = b'{"data": [{"t": "a' + control + b'b"}]}'
    assert codec.split_records(content, "data") is None
    with pytest.raises(ValueError):
        codec.loads(content)


def test_a_number_beyond_a_double_keeps_its_spelling_raw_and_is_null_decoded(hook, mocked_api, tmp_path):
    """The one documented difference in values (docs/formats.md): no double holds 1e400."""
    mocked_api.get(URL, body='{"result": {"items": [{"n": 1e400, "m": -1E+999}]}}', content_type="application/json")
    _export(hook, SurveySphereOperator, STRATEGIES[-1], 1, tmp_path / "raw.jsonl")
    _export(hook, DecodingOperator, STRATEGIES[-1], 1, tmp_path / "decoded.jsonl")
    assert (tmp_path / "raw.jsonl").read_bytes() == b'{"n": 1e400, "m": -1E+999}\n'
    assert (tmp_path / "decoded.jsonl").read_bytes() == b'{"n":null,"m":null}\n'
