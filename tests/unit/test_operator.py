"""SurveySphereOperator: single calls to XCom, bounded record lists, atomic JSON Lines exports."""

from __future__ import annotations

import json
import logging

import pytest
from responses import matchers

from airflow.providers.common.compat.sdk import ObjectStoragePath
from airflow_provider_surveysphere.exceptions import (
    SurveySphereAPIError,
    SurveySphereArgumentError,
    SurveySphereResponseCheckError,
)
from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator
from airflow_provider_surveysphere.output import AtomicJsonLinesWriter, ExportProgress
from airflow_provider_surveysphere.pagination import PageNumberPagination

from tests.unit.conftest import BASE_URL

RESPONSES = f"{BASE_URL}/api/v1/surveys/s1/responses"


def operator(hook, **kwargs) -> SurveySphereOperator:
    op = SurveySphereOperator(task_id="t", **kwargs)
    op.hook = hook  # the test's hook: private token cache, no backoff sleeps
    return op


def add_pages(mocked_api, pages: int, page_size: int, last: int) -> None:
    for page in range(1, pages + 1):
        count = page_size if page < pages else last
        mocked_api.get(
            RESPONSES,
            match=[matchers.query_param_matcher({"page": str(page), "pageSize": str(page_size)}, strict_match=False)],
            json={"data": [{"id": f"r{page}-{i}", "text": "ünïcode"} for i in range(count)]},
        )


def add_single_page(mocked_api, count: int) -> None:
    mocked_api.get(RESPONSES, json={"data": [{"id": f"r{i}"} for i in range(count)]})


def test_single_call_returns_its_json(hook, mocked_api):
    mocked_api.get(f"{BASE_URL}/api/v1/surveys/s1", json={"id": "s1", "status": "open"})
    assert operator(hook, endpoint="api/v1/surveys/s1").execute({}) == {"id": "s1", "status": "open"}


def test_response_filter_shapes_the_xcom_value(hook, mocked_api):
    mocked_api.get(f"{BASE_URL}/api/v1/surveys/s1", json={"id": "s1", "status": "open"})
    op = operator(hook, endpoint="api/v1/surveys/s1", response_filter=lambda r: r.json()["status"])
    assert op.execute({}) == "open"


def test_response_check_false_fails_the_task(hook, mocked_api):
    mocked_api.get(f"{BASE_URL}/api/v1/surveys/s1", json={"status": "closed"})
    op = operator(hook, endpoint="api/v1/surveys/s1", response_check=lambda r: r.json()["status"] == "open")
    with pytest.raises(SurveySphereResponseCheckError, match="response_check returned a false value"):
        op.execute({})


def test_non_json_single_call_suggests_a_response_filter(hook, mocked_api):
    mocked_api.get(f"{BASE_URL}/export.csv", body="a,b\n1,2\n", content_type="text/csv")
    with pytest.raises(SurveySphereArgumentError, match="response_filter"):
        operator(hook, endpoint="export.csv").execute({})


def test_paginated_call_returns_the_records(hook, mocked_api):
    add_pages(mocked_api, 3, 2, 1)
    op = operator(hook, endpoint="api/v1/surveys/s1/responses", pagination=PageNumberPagination(page_size=2),
                  records_key="data")
    assert [r["id"] for r in op.execute({})] == ["r1-0", "r1-1", "r2-0", "r2-1", "r3-0"]


def test_too_many_records_for_xcom_suggest_output_path(hook, mocked_api):
    add_pages(mocked_api, 3, 2, 2)
    op = operator(hook, endpoint="api/v1/surveys/s1/responses", pagination=PageNumberPagination(page_size=2),
                  records_key="data", max_xcom_records=3)
    with pytest.raises(SurveySphereArgumentError, match="more than max_xcom_records=3.*set output_path"):
        op.execute({})
    assert len(mocked_api.calls) == 3  # stopped at the page that crossed the bound


def test_export_streams_json_lines_and_returns_metadata(hook, mocked_api, tmp_path):
    add_pages(mocked_api, 4, 3, 2)
    target = tmp_path / "out" / "responses.jsonl"
    op = operator(hook, endpoint="api/v1/surveys/s1/responses", query_params={"since": "2026-11-01"},
                  pagination=PageNumberPagination(page_size=3), records_key="data", output_path=str(target))
    result = op.execute({})
    assert result == {"path": str(target), "records": 11, "pages": 4, "format": "jsonl"}
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines][:4] == ["r1-0", "r1-1", "r1-2", "r2-0"]
    assert len(lines) == 11 and json.loads(lines[0])["text"] == "ünïcode"
    assert sorted(p.name for p in target.parent.iterdir()) == ["responses.jsonl"]  # no temporary left


def test_export_accepts_file_urls_and_object_storage_paths(hook, mocked_api, tmp_path):
    add_single_page(mocked_api, 2)
    url = f"file://{tmp_path}/a.jsonl"
    assert operator(hook, endpoint="api/v1/surveys/s1/responses", records_key="data", output_path=url).execute({})[
        "records"
    ] == 2
    path = ObjectStoragePath(f"file://{tmp_path}/b.jsonl")
    result = operator(hook, endpoint="api/v1/surveys/s1/responses", records_key="data", output_path=path).execute({})
    assert result["records"] == 2 and (tmp_path / "b.jsonl").exists()


def test_failed_export_leaves_no_partial_file_and_keeps_the_previous_one(hook, mocked_api, tmp_path):
    target = tmp_path / "responses.jsonl"
    target.write_text('{"id": "previous complete run"}\n')
    add_pages(mocked_api, 2, 2, 2)
    mocked_api.get(RESPONSES, status=503, match=[matchers.query_param_matcher({"page": "3", "pageSize": "2"})])  # keeps failing
    op = operator(hook, endpoint="api/v1/surveys/s1/responses", pagination=PageNumberPagination(page_size=2),
                  records_key="data", output_path=str(target))
    with pytest.raises(SurveySphereAPIError, match="503"):
        op.execute({})
    assert target.read_text() == '{"id": "previous complete run"}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["responses.jsonl"]


def test_rerun_overwrites_its_own_file(hook, mocked_api, tmp_path):
    target = tmp_path / "day.jsonl"
    add_single_page(mocked_api, 3)
    op = operator(hook, endpoint="api/v1/surveys/s1/responses", records_key="data", output_path=str(target))
    op.execute({})
    op.execute({})
    assert len(target.read_text().splitlines()) == 3


def test_unwritable_output_path_is_a_clear_error(hook, mocked_api, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    add_single_page(mocked_api, 1)
    op = operator(hook, endpoint="api/v1/surveys/s1/responses", records_key="data",
                  output_path=str(blocker / "sub" / "out.jsonl"))
    with pytest.raises(SurveySphereArgumentError, match="output_path: cannot write"):
        op.execute({})


# The templates that render to nothing: tests/unit/test_templating.py (rendered by Airflow).


def test_response_filter_with_pagination_is_refused_at_definition():
    with pytest.raises(SurveySphereArgumentError, match="single calls only"):
        SurveySphereOperator(task_id="t", endpoint="x", pagination=PageNumberPagination(), response_filter=str)


def test_every_template_field_is_rendered_by_airflow(tmp_path):
    from datetime import datetime, timezone

    from airflow.providers.common.compat.sdk import DAG

    with DAG(dag_id="fields", schedule=None, start_date=datetime(2026, 11, 1, tzinfo=timezone.utc)):
        op = SurveySphereOperator(
            task_id="t",
            endpoint="api/v1/{{ ds }}",
            query_params={"since": "{{ ds }}"},
            json={"day": "{{ ds }}"},
            data="day={{ ds }}",
            headers={"X-Day": "{{ ds }}"},
            output_path=str(tmp_path) + "/{{ ds }}.jsonl",
            output_conn_id="storage_{{ ds_nodash }}",
        )
    op.render_template_fields({"ds": "2026-11-02", "ds_nodash": "20261102"})
    assert (op.endpoint, op.query_params, op.json, op.data, op.headers, op.output_path, op.output_conn_id) == (
        "api/v1/2026-11-02", {"since": "2026-11-02"}, {"day": "2026-11-02"}, "day=2026-11-02",
        {"X-Day": "2026-11-02"}, f"{tmp_path}/2026-11-02.jsonl", "storage_20261102",
    )


def test_writer_discards_the_temporary_file_on_failure(tmp_path):
    target = tmp_path / "x.jsonl"
    with pytest.raises(RuntimeError):
        with AtomicJsonLinesWriter(str(target)) as writer:
            writer.write_records([{"a": 1}])
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_progress_is_logged_every_fifty_pages_or_ten_seconds(caplog):
    now = [0.0]
    logger = logging.getLogger("progress-test")
    progress = ExportProgress(logger, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="progress-test"):
        for pages in range(1, 50):
            progress.update(pages, pages * 10)
        assert caplog.records == []
        progress.update(50, 500)
        assert len(caplog.records) == 1 and "50 pages, 500 records so far" in caplog.text
        now[0] = 10.5
        progress.update(51, 510)
        assert len(caplog.records) == 2 and "records/s" in caplog.text


def test_a_progress_line_says_so_far_with_the_rate_and_the_share_done_when_the_total_is_known(caplog):
    now = [0.0]
    progress = ExportProgress(logging.getLogger("progress-test"), every_pages=1, clock=lambda: now[0])
    now[0] = 8.0
    assert progress.describe(9, 9000) == "Export in progress: 9 pages, 9,000 records so far (1,125 records/s)"
    assert progress.describe(9, 9000, total_pages=20) == (
        "Export in progress: 9 pages, 9,000 records so far (1,125 records/s); page 9 of 20 (45%)"
    )
    with caplog.at_level(logging.INFO, logger="progress-test"):
        progress.update(9, 9000, total_pages=20)
    assert caplog.messages == ["Export in progress: 9 pages, 9,000 records so far (1,125 records/s); page 9 of 20 (45%)"]


def test_an_export_logs_its_share_done_from_the_servers_total(hook, mocked_api, tmp_path, caplog, monkeypatch):
    from airflow_provider_surveysphere.operators import surveysphere as operator_module

    # Every page reported, to a logger caplog sees (the task's own logger goes through structlog on Airflow 3).
    monkeypatch.setattr(
        operator_module, "ExportProgress", lambda _: ExportProgress(logging.getLogger("progress-test"), every_pages=1)
    )
    for page in (1, 2, 3):
        mocked_api.get(
            RESPONSES,
            match=[matchers.query_param_matcher({"page": str(page), "pageSize": "2"})],
            json={"data": [{"id": f"r{page}a"}, {"id": f"r{page}b"}] if page < 3 else [{"id": "r3a"}], "totalPages": 3},
        )
    operator = SurveySphereOperator(
        task_id="export", endpoint="api/v1/surveys/s1/responses", output_path=str(tmp_path / "out.jsonl"),
        pagination=PageNumberPagination(page_param="page", size_param="pageSize", page_size=2, total_pages_key="totalPages"),
        records_key="data", emit_asset=False,
    )
    operator.hook = hook
    with caplog.at_level(logging.INFO, logger="progress-test"):
        operator.execute({})
    progress = [m for m in caplog.messages if m.startswith("Export in progress")]
    assert [m.split("; ")[-1] for m in progress] == ["page 1 of 3 (33%)", "page 2 of 3 (67%)", "page 3 of 3 (100%)"]
