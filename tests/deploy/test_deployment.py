"""The example DAGs in a real deployment: triggered through the REST API, run by the scheduler's executor.

Every test runs against the one deployment of the session (see fixtures.py), one after the other, and
counts tokens as the difference of the sandbox's statistics around what it triggered.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_surveysphere.sandbox import SandboxServer

from tests.deploy.harness import AIRFLOW_3, Deployment
from tests.e2e.conftest import expected_ids, read_ids

pytestmark = pytest.mark.deploy

TODAY = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
YESTERDAY = TODAY - timedelta(days=1)




def assert_no_secret_in_logs(airflow: Deployment, sandbox: SandboxServer, dag_id: str, run_id: str) -> dict[str, str]:
    """Every task log the API serves for the run is free of the client secret and of every issued token."""
    logs = airflow.run_logs(dag_id, run_id)
    assert logs, f"the API served no task log for {run_id}"
    for key, text in logs.items():
        assert sandbox.config.client_secret not in text, f"client secret in the log of {key}"
        for token in sandbox.issued_tokens:
            assert token not in text, f"an access token in the log of {key}"
    return logs


def tokens_issued(sandbox: SandboxServer) -> int:
    return sandbox.stats["tokens_issued"]


def run_until_done(airflow: Deployment, dag_id: str, expected_runs: int, **trigger: Any) -> tuple[str, list[dict[str, Any]]]:
    """Trigger one run, unpause (the scheduler adds the due scheduled run, if any), wait for ``expected_runs``."""
    airflow.wait_for_dag(dag_id)
    run_id = airflow.trigger(dag_id, **trigger)
    airflow.unpause(dag_id)
    runs = airflow.wait_for_all_runs(dag_id, min_runs=expected_runs)
    return run_id, runs


def assert_all_succeeded_first_try(airflow: Deployment, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    instances = airflow.task_instances(dag_id, run_id)
    states = {f"{ti['task_id']}[{ti['map_index']}]": (ti["state"], ti["try_number"]) for ti in instances}
    assert all(value == ("success", 1) for value in states.values()), states
    return instances


def test_every_component_reports_healthy(deployment: Deployment) -> None:
    health = deployment.session.get(
        f"{deployment.base_url}/api/v2/monitor/health" if AIRFLOW_3 else f"{deployment.base_url}/health", timeout=30
    ).json()
    components = ["metadatabase", "scheduler", "triggerer"] + (["dag_processor"] if AIRFLOW_3 else [])
    assert {name: health[name]["status"] for name in components} == dict.fromkeys(components, "healthy")
    assert sorted(deployment.alive()) == sorted(p.name for p in deployment.processes)


def test_adhoc_call_triggered_through_the_api(deployment: Deployment, deploy_sandbox: SandboxServer) -> None:
    before = tokens_issued(deploy_sandbox)
    run_id, runs = run_until_done(deployment, "surveysphere_adhoc_call", 1, conf={"survey_id": "srv-0002"})

    assert [run["state"] for run in runs] == ["success"]
    assert_all_succeeded_first_try(deployment, "surveysphere_adhoc_call", run_id)
    assert tokens_issued(deploy_sandbox) - before == 1  # one task calls the API: one token
    logs = assert_no_secret_in_logs(deployment, deploy_sandbox, "surveysphere_adhoc_call", run_id)
    survey = deploy_sandbox.config.dataset().survey(2)
    assert f"Survey srv-0002 (Survey 2) is {survey['status']}" in logs["report[-1]#1"]


def test_daily_export_scheduled_and_manual_runs_export_yesterday(
    deployment: Deployment, deploy_sandbox: SandboxServer, exports_base: Path
) -> None:
    """Unpausing schedules yesterday's run; a manual run without a logical date also exports yesterday."""
    manual_base = exports_base / "manual"
    before = tokens_issued(deploy_sandbox)
    run_id, runs = run_until_done(deployment, "surveysphere_daily_export", 2, conf={"export_base": str(manual_base)})

    assert sorted(run["run_type"] for run in runs) == ["manual", "scheduled"]
    assert {run["state"] for run in runs} == {"success"}, runs
    for run in runs:
        assert_all_succeeded_first_try(deployment, "surveysphere_daily_export", run["dag_run_id"])
    day = YESTERDAY.strftime("%Y-%m-%d")
    expected = expected_ids(deploy_sandbox, 1, YESTERDAY, TODAY)
    assert len(expected) == 24 * 60  # the sandbox's default data covers yesterday
    assert read_ids(exports_base / "daily" / "survey=srv-0001" / f"{day}.jsonl") == expected  # scheduled run
    assert read_ids(manual_base / "daily" / "survey=srv-0001" / f"{day}.jsonl") == expected  # manual run
    assert tokens_issued(deploy_sandbox) - before == 2  # two task runs, one token each
    assert_no_secret_in_logs(deployment, deploy_sandbox, "surveysphere_daily_export", run_id)


def test_fan_out_writes_beside_the_daily_export_with_one_token_per_task_run(
    deployment: Deployment, deploy_sandbox: SandboxServer, exports_base: Path
) -> None:
    fan_out_base = exports_base / "fan-out"
    before = tokens_issued(deploy_sandbox)
    run_id, runs = run_until_done(deployment, "surveysphere_fanout_export", 2, conf={"export_base": str(fan_out_base)})

    assert {run["state"] for run in runs} == {"success"}, runs
    instances = assert_all_succeeded_first_try(deployment, "surveysphere_fanout_export", run_id)
    assert sorted(ti["map_index"] for ti in instances if ti["task_id"] == "export_survey") == [0, 1, 2]
    day = YESTERDAY.strftime("%Y-%m-%d")
    for number in (1, 2, 3):
        path = fan_out_base / "fanout" / f"survey=srv-{number:04d}" / f"{day}.jsonl"
        assert read_ids(path) == expected_ids(deploy_sandbox, number, YESTERDAY, TODAY)
    # Same base as the daily export: each example has its own folder, neither overwrites the other.
    scheduled = {p.relative_to(exports_base).parts[0] for p in exports_base.rglob("*.jsonl") if p.parts[-4] != "manual"}
    assert {"daily", "fan-out"} <= scheduled
    # two runs (scheduled and manual), each: list_exports + 3 mapped exports, one token per task run
    assert tokens_issued(deploy_sandbox) - before == 2 * (1 + 3)
    assert_no_secret_in_logs(deployment, deploy_sandbox, "surveysphere_fanout_export", run_id)


def test_a_bad_day_param_is_refused_when_triggered(deployment: Deployment) -> None:
    """A bad ``day`` fails at once, at the API, naming the problem: no run, no retries."""
    response = deployment.request(
        "POST",
        "dags/surveysphere_daily_export/dagRuns",
        json={"conf": {"day": "last tuesday"}, **({"logical_date": None} if AIRFLOW_3 else {})},
    )

    assert response.status_code == 400, response.text
    assert "day" in response.text


def test_backfill_re_exports_a_past_day(
    deployment: Deployment, deploy_sandbox: SandboxServer, exports_base: Path
) -> None:
    """The documented way to re-export a past interval on each line (docs/deployment.md)."""
    day = TODAY - timedelta(days=3)
    text = day.strftime("%Y-%m-%d")
    dag_id = "surveysphere_daily_export"
    before = {run["dag_run_id"] for run in deployment.runs(dag_id)}
    if AIRFLOW_3:
        deployment.cli("backfill", "create", "--dag-id", dag_id, "--from-date", text, "--to-date", text)
    else:
        deployment.cli("dags", "backfill", "--start-date", text, "--end-date", text, dag_id, timeout=600)
    runs = deployment.wait_for_all_runs(dag_id, min_runs=len(before) + 1)
    (backfill,) = [run for run in runs if run["dag_run_id"] not in before]

    assert backfill["run_type"] == "backfill"
    assert backfill["state"] == "success"
    assert backfill["data_interval_start"].startswith(text)
    path = exports_base / "daily" / "survey=srv-0001" / f"{text}.jsonl"
    assert read_ids(path) == expected_ids(deploy_sandbox, 1, day, day + timedelta(days=1))


def test_a_template_error_fails_at_once_without_spending_retries(deployment: Deployment) -> None:
    """retries=2 with a 5-minute delay: without the permanent error the run would wait 10 minutes."""
    dag_id = "surveysphere_bad_template"
    deployment.wait_for_dag(dag_id)
    deployment.unpause(dag_id)
    run_id = deployment.trigger(dag_id)
    run = deployment.wait_for_run(dag_id, run_id, timeout=240)

    assert run["state"] == "failed"
    (ti,) = deployment.task_instances(dag_id, run_id)
    assert (ti["state"], ti["try_number"]) == ("failed", 1)
    log = deployment.task_log(dag_id, run_id, "export_responses", 1)
    assert "task 'export_responses': a templated field failed to render" in log
    assert "no_such_name" in log
