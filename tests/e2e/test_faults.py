"""Fault injection: real DAG runs against a sandbox that fails, rate-limits, revokes, drops and is slow.

The DAG is tests/e2e/dags/surveysphere_fault_export.py (the daily export with small pages and no
task retries): a passing run proves the hook's own retries and token renewal were enough. Faults
come from the sandbox's deterministic counters, so each run meets the same faults.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
from airflow_provider_surveysphere.sandbox import SandboxServer
from airflow_provider_surveysphere.token import TokenCache

from dags_examples.run_demo import sandbox_connection
from tests.e2e.conftest import DAY, expected_ids, read_ids

pytestmark = pytest.mark.e2e

TEST_DAGS = Path(__file__).parent / "dags"
DAG_ID = "surveysphere_fault_export"
RESPONSES = "/api/v1/surveys/srv-0001/responses"


def run_fault_dag(run_dag, page_size: int, **env: str):
    return run_dag(DAG_ID, AIRFLOW__CORE__DAGS_FOLDER=str(TEST_DAGS), SURVEYSPHERE_TEST_PAGE_SIZE=str(page_size), **env)


def connection_with(sandbox: SandboxServer, **extra) -> str:
    conn = json.loads(sandbox_connection(sandbox))
    conn["extra"] = {**conn["extra"], **extra}
    return json.dumps(conn)


def data_log(sandbox: SandboxServer):
    return [r for r in sandbox.request_log if r.path.startswith(RESPONSES)]


def test_chaos_export_writes_every_record_exactly_once(run_dag, sandbox):
    """500 every 7th, 429 every 11th, a dropped connection every 13th, one revocation, slow answers."""
    sandbox.config.update({"error_every": 7, "rate_limit_every": 11, "retry_after": 1, "drop_every": 13,
                           "revoke_after": 15, "revoke_times": 1, "latency": 0.02})
    run = run_fault_dag(run_dag, page_size=100)
    assert run.result.returncode == 0, run.output[-5000:]

    (path,) = run.files()
    ids = read_ids(path)
    assert ids == expected_ids(sandbox, 1, *DAY) and len(ids) == 2880 == len(set(ids))  # each record once, in order
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no partial file left

    stats = sandbox.stats
    statuses = stats["statuses"]
    # The faults did happen, and more than once each.
    assert statuses["500"] >= 3 and statuses["429"] >= 2 and stats["dropped"] >= 2 and statuses["401"] == 1
    assert stats["tokens_revoked"] == 1
    assert stats["tokens_issued"] == 1 + stats["tokens_revoked"]

    # No request was sent before its Retry-After had passed.
    log = data_log(sandbox)
    rate_limited = [i for i, r in enumerate(log) if r.status == 429]
    assert rate_limited
    for i in rate_limited:
        retry = next(r for r in log[i + 1:] if r.path == log[i].path)  # the same page asked again
        assert retry.time - log[i].time >= sandbox.config.retry_after, (log[i], retry)


def test_token_expiring_mid_run_is_renewed_before_it_expires(run_dag, sandbox):
    """3-second tokens, an export of over ten seconds: a handful of tokens, each renewed in time."""
    sandbox.config.update({"token_lifetime": 3.0, "latency": 0.08})
    run = run_fault_dag(run_dag, page_size=25)  # 116 slow pages
    assert run.result.returncode == 0, run.output[-5000:]
    (path,) = run.files()
    assert read_ids(path) == expected_ids(sandbox, 1, *DAY)

    stats = sandbox.stats
    log = data_log(sandbox)
    duration = log[-1].time - log[0].time
    assert duration > 2 * sandbox.config.token_lifetime  # the export outlived several tokens
    tokens = stats["tokens_issued"]
    # A token is renewed when half its lifetime is left (the leeway's cap), not on every call ...
    assert 3 <= tokens <= duration / (sandbox.config.token_lifetime / 2) + 2
    assert tokens * 3 < stats["data_requests"]
    # ... and before it expires: the server never refused one.
    assert "401" not in stats["statuses"]


def test_exhausted_retries_fail_clearly_and_keep_the_previous_file(run_dag, sandbox, tmp_path):
    output = tmp_path / "exports" / "survey=srv-0001" / "2026-11-01.jsonl"
    output.parent.mkdir(parents=True)
    previous = '{"id":"from the previous complete run"}\n'
    output.write_text(previous)

    sandbox.config.update({"latency": 0.02})
    done = threading.Event()

    def break_the_server_after_three_pages() -> None:  # some pages reach the partial file first
        while not done.is_set():
            if sandbox.stats["data_requests"] >= 3:
                sandbox.config.update({"error_every": 1})
                return
            time.sleep(0.005)

    breaker = threading.Thread(target=break_the_server_after_three_pages, daemon=True)
    breaker.start()
    try:
        run = run_fault_dag(run_dag, page_size=100,
                            AIRFLOW_CONN_SURVEYSPHERE_DEFAULT=connection_with(sandbox, max_retries=2))
    finally:
        done.set()
        breaker.join()

    assert run.result.returncode != 0, run.output[-5000:]
    assert f"SurveySphere API GET {RESPONSES} answered 500" in run.output  # a clear error
    log = data_log(sandbox)
    assert [r.status for r in log[:3]] == [200, 200, 200]
    failing_page = log[-1].path
    assert [r.status for r in log if r.path == failing_page] == [500, 500, 500]  # 1 try + 2 retries, then stop
    assert output.read_text() == previous  # the previous complete file is untouched
    assert [p.name for p in output.parent.iterdir()] == [output.name]  # and no partial file is left


def test_sixteen_threads_sharing_one_hook_fetch_one_token(sandbox, monkeypatch):
    sandbox.config.update({"latency": 0.2})  # a slow token endpoint: every thread asks while it is fetched
    monkeypatch.setenv("AIRFLOW_CONN_SURVEYSPHERE_DEFAULT", sandbox_connection(sandbox))
    hook = SurveySphereHook(token_cache=TokenCache())
    start = threading.Barrier(16)
    errors: list[BaseException] = []
    answered: list[int] = []

    def call(number: int) -> None:
        try:
            start.wait(5)
            hook.request("GET", "api/v1/surveys/srv-0001/responses", params={"page": number, "pageSize": 10})
            answered.append(number)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(1, 17)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    hook.close()
    assert errors == []
    assert sorted(answered) == list(range(1, 17))
    stats = sandbox.stats
    assert stats["token_requests"] == 1 and stats["tokens_issued"] == 1
    assert stats["data_requests"] == 16 and stats["statuses"] == {"200": 17}
    assert stats["max_concurrent"] > 1  # the calls did overlap
