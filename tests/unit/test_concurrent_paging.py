"""Concurrent page fetch (max_concurrency > 1) against the real sandbox on 127.0.0.1, and its argument checks.

Each test starts its own sandbox (ephemeral port) and uses a private token cache.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from responses import matchers

from airflow_provider_surveysphere.exceptions import (
    SurveySphereArgumentError,
    SurveySphereClientError,
)
from airflow_provider_surveysphere.fetching import ConcurrentFetcher
from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator
from airflow_provider_surveysphere.pagination import (
    CursorPagination,
    LinkHeaderPagination,
    NextLinkPagination,
    OffsetPagination,
    PageNumberPagination,
)
from airflow_provider_surveysphere.sandbox import SandboxConfig, SandboxServer
from airflow_provider_surveysphere.sandbox.server import DEFAULT_START
from airflow_provider_surveysphere.token import TokenCache

from tests.unit.conftest import BASE_URL
from tests.unit.test_fetching import wait_until

ENDPOINT = "api/v1/surveys/srv-0001/responses"
START = datetime(2026, 11, 1, tzinfo=timezone.utc)


def window(records: int) -> dict[str, str]:
    """Query parameters selecting the survey's first ``records`` responses (one a minute)."""
    return {"until": (START + timedelta(minutes=records)).strftime("%Y-%m-%dT%H:%M:%SZ")}


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(config=SandboxConfig(responses_per_survey=2_000, start=DEFAULT_START)) as server:
        yield server


@pytest.fixture
def sandbox_hook(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[SurveySphereHook]:
    monkeypatch.setenv("AIRFLOW_CONN_SURVEYSPHERE_DEFAULT", json.dumps({
        "conn_type": "surveysphere", "host": sandbox.base_url, "login": "sandbox-client",
        "password": "sandbox-secret", "extra": {"max_retries": 10},
    }))
    hook = SurveySphereHook(token_cache=TokenCache(), max_retry_wait=5)
    hook.backoff_factor = 0
    hook.backoff_jitter = 0
    yield hook
    hook.close()


def data_requests(sandbox: SandboxServer) -> list[Any]:
    return [record for record in sandbox.request_log if record.path.startswith("/api/")]


def test_records_come_in_page_order_each_once_whatever_order_the_answers_arrive_in(sandbox, sandbox_hook):
    sandbox.config.update({"latency": 0.002, "latency_jitter": 0.03, "seed": 3})  # answers overtake each other
    pagination = PageNumberPagination(page_size=25)
    records = list(sandbox_hook.paginate(ENDPOINT, params=window(1_000), pagination=pagination,
                                         records_key="data", max_concurrency=8))

    sandbox.config.update({"latency": 0, "latency_jitter": 0})
    expected = list(sandbox_hook.paginate(ENDPOINT, params=window(1_000), pagination=pagination, records_key="data"))
    assert [r["id"] for r in records] == [r["id"] for r in expected]
    assert len({r["id"] for r in records}) == 1_000
    assert records == expected
    assert sandbox.stats["max_concurrent"] >= 4  # the pages really were in flight together


@pytest.mark.parametrize("records", [1_000, 990, 10])
def test_without_a_total_at_most_max_concurrency_minus_one_requests_are_wasted(sandbox, sandbox_hook, records):
    paginator = sandbox_hook.paginate(ENDPOINT, params=window(records), pagination=PageNumberPagination(page_size=100),
                                      records_key="data", max_concurrency=8)
    assert len(list(paginator)) == records
    pages_needed = records // 100 + 1  # a short or empty page ends it
    assert paginator.pages == pages_needed
    assert pages_needed <= len(data_requests(sandbox)) <= pages_needed + 7


def test_with_a_total_exactly_the_pages_that_exist_are_fetched(sandbox, sandbox_hook):
    pagination = PageNumberPagination(page_size=100, total_pages_key="totalPages")
    paginator = sandbox_hook.paginate(ENDPOINT, params=window(1_000), pagination=pagination,
                                      records_key="data", max_concurrency=8)
    assert len(list(paginator)) == 1_000
    pages = sorted(int(r.path.split("page=")[1].split("&")[0]) for r in data_requests(sandbox))
    assert pages == list(range(1, 11))  # no page 11, nothing asked twice


def test_offset_pagination_with_a_total_fetches_each_offset_once(hook, mocked_api):
    for offset in range(0, 10, 2):
        mocked_api.get(f"{BASE_URL}/api/items",
                       match=[matchers.query_param_matcher({"offset": str(offset), "limit": "2"})],
                       json={"data": [{"id": offset}, {"id": offset + 1}][: 9 - offset], "total": 9})
    records = hook.paginate("api/items", pagination=OffsetPagination(limit=2, total_key="total"), records_key="data",
                            max_concurrency=4)
    assert [r["id"] for r in records] == list(range(9))
    assert len(mocked_api.calls) == 1 + 5


def test_held_pages_stay_within_max_concurrency(sandbox, sandbox_hook):
    sandbox.config.update({"latency": 0.005})
    paginator = sandbox_hook.paginate(ENDPOINT, params=window(2_000), pagination=PageNumberPagination(page_size=50),
                                      records_key="data", max_concurrency=4)
    most_ahead = 0
    for page in paginator.iter_pages():
        most_ahead = max(most_ahead, len(data_requests(sandbox)) - page.number)
    assert paginator.pages == 41
    assert 1 <= most_ahead <= 4  # requests that reached the server ahead of the page being read


def test_one_token_serves_every_worker(sandbox, sandbox_hook):
    sandbox.config.update({"latency": 0.01})
    records = sandbox_hook.paginate(ENDPOINT, params=window(1_000), pagination=PageNumberPagination(page_size=50),
                                    records_key="data", max_concurrency=8)
    assert len(list(records)) == 1_000
    stats = sandbox.stats
    assert stats["tokens_issued"] == 1
    assert len(stats["requests_by_token"]) == 1 and stats["max_concurrent"] >= 4


def test_a_401_in_several_workers_at_once_fetches_exactly_one_new_token(sandbox, sandbox_hook):
    # The token is revoked after its 5th request while 8 requests are in flight: several get a 401 together.
    sandbox.config.update({"latency": 0.05, "revoke_after": 5, "revoke_times": 1})
    records = sandbox_hook.paginate(ENDPOINT, params=window(1_000), pagination=PageNumberPagination(page_size=50),
                                    records_key="data", max_concurrency=8)
    assert len(list(records)) == 1_000
    stats = sandbox.stats
    assert stats["statuses"].get("401", 0) >= 2
    assert stats["tokens_issued"] == 2


def test_a_429_storm_holds_back_every_worker_until_retry_after_has_passed(sandbox, sandbox_hook):
    sandbox.config.update({"latency": 0.02, "concurrency_limit": 2, "retry_after": 1})
    records = list(sandbox_hook.paginate(ENDPOINT, params=window(600), pagination=PageNumberPagination(page_size=50),
                                         records_key="data", max_concurrency=8))
    assert [r["id"] for r in records] == [f"srv-0001-r{i:07d}" for i in range(1, 601)]
    log = data_requests(sandbox)
    limited = [r for r in log if r.status == 429]
    assert limited, "the sandbox's limit was never hit"
    for answer in limited:
        # Requests that left before this 429 reached the client may still arrive; at most the other 7 workers'.
        early = [r for r in log if answer.time < r.time < answer.time + 1]
        assert len(early) <= 7, f"{len(early)} requests within Retry-After of a 429"
    assert sandbox_hook.throttle.rate_limited == len(limited)
    assert sandbox_hook.throttle.limit is not None and sandbox_hook.throttle.limit < 8


def test_a_permanent_error_mid_flight_stops_the_export_and_leaves_no_file(sandbox, sandbox_hook, tmp_path: Path):
    # Every page request waits at a gate until the test lets it through, so the test knows which were sent when
    # page 7 failed: pages 5-8 were in flight, the loop still waited for page 5.
    gate = threading.Condition()
    released: set[int] = set()
    arrived: list[int] = []
    fetchers: list[ConcurrentFetcher] = []
    original_paginate = sandbox_hook.paginate

    def wake_gate() -> None:
        with gate:
            gate.notify_all()

    def gated(send):
        def send_when_released(request, stop):
            number = request.params["page"]
            with gate, stop.waking(wake_gate):
                arrived.append(number)
                gate.notify_all()
                gate.wait_for(lambda: number in released or stop.is_set())
            stop.check()  # a request held here when the export stopped is never sent
            if number == 7:
                request = replace(request, params={**request.params, "pageSize": 0})  # the sandbox answers 400
            return send(request, stop)
        return send_when_released

    def paginate(*args, **kwargs):
        paginator = original_paginate(*args, **kwargs)
        paginator.send = gated(paginator.send)
        original_new_fetcher = paginator.new_fetcher

        def new_fetcher():
            fetchers.append(original_new_fetcher())
            return fetchers[-1]
        paginator.new_fetcher = new_fetcher
        return paginator

    def release(*pages: int) -> None:
        with gate:
            released.update(pages)
            gate.notify_all()

    sandbox_hook.paginate = paginate
    operator = SurveySphereOperator(
        task_id="export", endpoint=ENDPOINT, query_params=window(2_000),
        pagination=PageNumberPagination(page_size=50), records_key="data",
        output_path=str(tmp_path / "out" / "responses.jsonl"), max_concurrency=4,
    )
    operator.hook = sandbox_hook
    checks: dict[str, bool] = {}

    def control() -> None:
        # In a thread of its own: the export runs in the test's thread (Airflow 2.11's execute guard is per thread).
        with gate:
            checks["pages 5-8 wait"] = gate.wait_for(lambda: sorted(arrived) == list(range(1, 9)), timeout=30)
        fetcher = fetchers[-1]
        release(7)
        checks["page 7's failure is known to the fetcher"] = wait_until(lambda: fetcher.state().busy == 3, seconds=30)
        # Page 8 was in flight when page 7 failed: it is sent, and answered, before the loop reads on (were it let
        # through with pages 5 and 6, the loop could reach page 7's error and stop the export before page 8's
        # thread ran, and whether page 8 reached the sandbox would depend on the scheduler).
        release(8)
        checks["page 8 is answered"] = wait_until(lambda: any("page=8&" in r.path for r in data_requests(sandbox)),
                                                  seconds=30)
        release(5, 6)  # the loop reads pages 5 and 6, which moves the window to pages 7-10

    controller = threading.Thread(target=control, daemon=True)
    release(1, 2, 3, 4)
    controller.start()
    outcome = _raised(lambda: operator.execute({}))
    controller.join(30)
    assert checks == {"pages 5-8 wait": True, "page 7's failure is known to the fetcher": True,
                      "page 8 is answered": True}
    assert len(outcome) == 1 and isinstance(outcome[0], SurveySphereClientError) and "answered 400" in str(outcome[0])
    assert list((tmp_path / "out").iterdir()) == []  # no file, no partial file
    # Nothing past page 8 was asked for after page 7 failed (without the stop, pages 9 and 10 would have been).
    assert sorted(arrived) == list(range(1, 9))
    pages = sorted(int(r.path.split("page=")[1].split("&")[0]) for r in data_requests(sandbox))
    assert pages == list(range(1, 9))


def _raised(function) -> list[BaseException]:
    try:
        function()
    except BaseException as exc:  # noqa: BLE001 - handed to the test
        return [exc]
    return []


def test_the_export_file_is_byte_identical_to_a_sequential_one(sandbox, sandbox_hook, tmp_path: Path):
    sandbox.config.update({"latency": 0.002, "latency_jitter": 0.01})
    files = {}
    for concurrency in (1, 8):
        operator = SurveySphereOperator(
            task_id="export", endpoint=ENDPOINT, query_params=window(1_500),
            pagination=PageNumberPagination(page_size=100, total_pages_key="totalPages"), records_key="data",
            output_path=str(tmp_path / f"c{concurrency}.jsonl"), max_concurrency=concurrency,
        )
        operator.hook = sandbox_hook
        result = operator.execute({})
        assert (result["records"], result["pages"]) == (1_500, 15)
        files[concurrency] = (tmp_path / f"c{concurrency}.jsonl").read_bytes()
    assert files[1] == files[8]


@pytest.mark.parametrize("pagination", [CursorPagination(), NextLinkPagination(), LinkHeaderPagination(),
                                        lambda response: None, None])
def test_strategies_that_name_each_next_page_refuse_concurrency(hook, pagination):
    with pytest.raises(SurveySphereArgumentError, match="max_concurrency: 4 needs pages that can be addressed up front"):
        hook.paginate("api/items", pagination=pagination, max_concurrency=4)


@pytest.mark.parametrize("value", [0, 65, 2.0, "4", True])
def test_max_concurrency_must_be_a_whole_number_in_range(hook, value):
    with pytest.raises(SurveySphereArgumentError, match="max_concurrency"):
        hook.paginate("api/items", pagination=PageNumberPagination(), max_concurrency=value)


def test_the_operator_refuses_concurrency_for_such_strategies_when_the_dag_is_parsed():
    with pytest.raises(SurveySphereArgumentError, match="CursorPagination"):
        SurveySphereOperator(task_id="export", endpoint="api/items", pagination=CursorPagination(),
                             max_concurrency=2)


def test_the_token_request_s_backoff_ends_when_the_paging_stops(sandbox, sandbox_hook):
    from airflow_provider_surveysphere.exceptions import SurveySpherePagingStopped
    from airflow_provider_surveysphere.page import PageRequest
    from airflow_provider_surveysphere.stopping import Stop

    sandbox.config.update({"token_endpoint_failures": 4})
    sandbox_hook.backoff_factor = 30  # the token request's second retry waits 60 s (capped at max_retry_wait)
    send_page = sandbox_hook.paginate(ENDPOINT).send
    stop = Stop()

    def token_requests() -> int:
        return len([record for record in sandbox.request_log if record.path == "/connect/token"])

    def stop_once_waiting() -> None:  # the first retry leaves at once; the second waits
        while token_requests() < 2:
            time.sleep(0.001)
        stop.set()

    stopper = threading.Thread(target=stop_once_waiting)
    stopper.start()
    with pytest.raises(SurveySpherePagingStopped):
        send_page(PageRequest(ENDPOINT), stop)
    stopper.join()
    assert token_requests() == 2 and data_requests(sandbox) == []
