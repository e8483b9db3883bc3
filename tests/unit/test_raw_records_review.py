"""Raw records, the cases an outside review found: code of a DAG author's that reads record values gets decoded
records, and a page the raw path cannot read fails naming the page."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from responses import matchers

from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator
from airflow_provider_surveysphere.pagination import CursorPagination, Page, PageNumberPagination, PageRequest

from tests.unit.conftest import BASE_URL

URL = f"{BASE_URL}/api/v1/items"


def _export(hook: Any, tmp_path: Any, pagination: Any, cls: type[SurveySphereOperator] = SurveySphereOperator) -> Any:
    op = cls(task_id="export", endpoint="api/v1/items", pagination=pagination, records_key="data",
             output_path=str(tmp_path / "out.jsonl"))
    op.hook = hook
    return op.execute({})


class StopAtOld(PageNumberPagination):
    """A DAG author's subclass of a built-in strategy written before raw records: it reads the last record's value."""

    def next_request(self, page: Page) -> PageRequest | None:
        if page.records and page.records[-1]["old"]:
            return None
        return super().next_request(page)


class TotalFromLastRecord(CursorPagination):
    def total_pages(self, page: Page) -> int | None:
        return int(page.records[-1]["pages"]) if page.records else None


class SmallerPages(PageNumberPagination):
    """Changes only its defaults: it reads no record value, and keeps raw records."""

    def __init__(self) -> None:
        super().__init__(page_size=2)


def test_a_subclass_of_a_built_in_strategy_that_reads_record_values_gets_decoded_records(hook, mocked_api, tmp_path):
    mocked_api.get(URL, body='{"data": [{"old": false}, {"old" : false}]}', content_type="application/json",
                   match=[matchers.query_param_matcher({"page": "1", "pageSize": "2"})])
    mocked_api.get(URL, body='{"data": [{"old": true}, {"old": true}]}', content_type="application/json",
                   match=[matchers.query_param_matcher({"page": "2", "pageSize": "2"})])
    assert _export(hook, tmp_path, StopAtOld(page_size=2))["records"] == 4
    assert (tmp_path / "out.jsonl").read_bytes() == b'{"old":false}\n{"old":false}\n{"old":true}\n{"old":true}\n'
    assert StopAtOld.needs_record_values and TotalFromLastRecord.needs_record_values


def test_a_subclass_that_reads_no_record_value_keeps_raw_records(hook, mocked_api, tmp_path):
    mocked_api.get(URL, body='{"data": [{"a" : 1}]}', content_type="application/json")
    assert not SmallerPages.needs_record_values
    _export(hook, tmp_path, SmallerPages())
    assert (tmp_path / "out.jsonl").read_bytes() == b'{"a" : 1}\n'  # the server's bytes: raw


def test_a_subclass_that_says_it_reads_no_record_value_keeps_raw_records():
    class Declared(PageNumberPagination):
        needs_record_values = False

        def next_request(self, page: Page) -> PageRequest | None:
            return super().next_request(page)

    assert not Declared.needs_record_values


class DecodingOperator(SurveySphereOperator):
    def export_raw_records(self, encoder: Any) -> bool:
        return False


@pytest.mark.parametrize("cls", [SurveySphereOperator, DecodingOperator], ids=["raw", "decoded"])
def test_a_record_nested_past_the_recursion_limit_fails_naming_the_page(hook, mocked_api, tmp_path, cls):
    """Not a bare RecursionError from deep in msgspec (a transient error to Airflow, retried): a permanent one."""
    from airflow_provider_surveysphere.exceptions import SurveySpherePaginationError

    deep = b"[" * 100_000 + b"]" * 100_000
    mocked_api.get(URL, body=b'{"data": [' + deep + b"]}", content_type="application/json")
    with pytest.raises(SurveySpherePaginationError, match=r"page 1 of api/v1/items is nested too deeply"):
        _export(hook, tmp_path, PageNumberPagination(), cls)
    assert not (tmp_path / "out.jsonl").exists()


def test_a_record_with_a_repeated_key_keeps_both_raw_and_the_last_decoded(hook, mocked_api, tmp_path):
    """RFC 8259 leaves a repeated name to the reader; docs/formats.md says which bytes each export writes."""
    mocked_api.get(URL, body='{"data": [{"a": 1, "a": 2}]}', content_type="application/json")
    _export(hook, tmp_path, PageNumberPagination())
    assert (tmp_path / "out.jsonl").read_bytes() == b'{"a": 1, "a": 2}\n'
    _export(hook, tmp_path, PageNumberPagination(), DecodingOperator)
    assert (tmp_path / "out.jsonl").read_bytes() == b'{"a":2}\n'


@pytest.mark.parametrize("body", [b'{"data": [{"a" : 1}]}\n', b'\r\n{"data": [{"a" : 1}]}\r\n', b' {"data":[{"a" : 1}]}\t\n'])
def test_a_compact_body_ending_with_a_newline_is_split_once(monkeypatch, body):
    """Many servers end a compact answer with a newline (Flask's jsonify does): that is no line break inside a record,
    and must not cost the pretty-printed path's second split (it doubled the page's client CPU)."""
    from airflow_provider_surveysphere import codec

    calls: list[bytes] = []
    split_body = codec._split_body
    monkeypatch.setattr(codec, "_split_body", lambda content, key: calls.append(content) or split_body(content, key))
    split = codec.split_records(body, "data")
    assert split is not None and [bytes(record) for record in split[1]] == [b'{"a" : 1}']
    assert len(calls) == 1


@pytest.mark.parametrize("edge", [b"\x0c", b"\x0b", b"\x1c", b"\xc2\xa0"])
def test_only_json_whitespace_is_stripped_from_a_body(edge):
    from airflow_provider_surveysphere import codec

    assert codec.split_records(b'{"data": [1]}' + edge, "data") is None  # not JSON: decoded, and refused, as before
    with pytest.raises(ValueError):
        codec.loads(b'{"data": [1]}' + edge)


class LastIdLogged:
    """A mixin (not a Pagination) that reads record values in next_request."""

    seen: ClassVar[list[Any]] = []

    def next_request(self, page: Page) -> PageRequest | None:
        if page.records:
            self.seen.append(page.records[-1]["id"])
        return super().next_request(page)  # type: ignore[misc]


class LoggedPages(LastIdLogged, PageNumberPagination):
    pass


def test_a_mixin_that_reads_record_values_in_next_request_gets_decoded_records(hook, mocked_api, tmp_path):
    mocked_api.get(URL, body='{"data": [{"id": 7}]}', content_type="application/json")
    assert LoggedPages.needs_record_values
    _export(hook, tmp_path, LoggedPages(page_size=2))
    assert LastIdLogged.seen == [7]
    assert (tmp_path / "out.jsonl").read_bytes() == b'{"id":7}\n'


def test_a_hook_subclass_whose_paginate_predates_raw_records_still_serves_decoding_exports(hook, mocked_api, tmp_path):
    fixed = type(hook).paginate

    class OldHook(type(hook)):  # type: ignore[misc]
        def paginate(self, endpoint: str, *, params: Any = None, pagination: Any = None, records_key: Any = None,
                     method: str = "GET", json: Any = None, data: Any = None, headers: Any = None,
                     max_pages: Any = None, max_concurrency: int = 1) -> Any:
            return fixed(self, endpoint, params=params, pagination=pagination, records_key=records_key, method=method,
                         json=json, data=data, headers=headers, max_pages=max_pages, max_concurrency=max_concurrency)

    hook.__class__ = OldHook
    mocked_api.get(URL, body='{"data": [{"a" : 1}]}', content_type="application/json")
    op = SurveySphereOperator(task_id="export", endpoint="api/v1/items", records_key="data",
                              output_path=str(tmp_path / "out.csv"))
    op.hook = hook
    assert op.execute({})["records"] == 1
    assert (tmp_path / "out.csv").read_text().splitlines()[1] == "1,"


def test_an_encoder_written_before_raw_records_gets_decoded_records(tmp_path):
    class OldEncoder:  # the RecordEncoder protocol as it was: no takes_raw_records
        name = "jsonl"
        compresses_itself = False

    op = SurveySphereOperator(task_id="export", endpoint="api/v1/items", output_path=str(tmp_path / "out.jsonl"))
    assert op.export_raw_records(OldEncoder()) is False  # type: ignore[arg-type]
