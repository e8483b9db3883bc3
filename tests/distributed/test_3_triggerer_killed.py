"""Scenario 3: the triggerer holding a deferred sensor's trigger is killed; the other one takes the trigger over,
the survey closes, the sensor resumes with the matched value and the export is exact."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from tests.distributed import cluster
from tests.distributed.conftest import Distributed

pytestmark = pytest.mark.distributed

DAG_ID = "surveysphere_export_when_closed"
TRIGGER = "%.SurveySphereTrigger"
SURVEY = 3


def wait_for_state(distributed: Distributed, run_id: str, task_id: str, state: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = {ti["task_id"]: ti["state"] for ti in distributed.airflow.task_instances(DAG_ID, run_id)}
        if states.get(task_id) == state:
            return
        time.sleep(0.5)
    raise AssertionError(f"{task_id} of {run_id} is not {state} after {timeout:.0f} s: {states}")


def test_a_killed_triggerer_hands_the_sensor_to_the_other_one(distributed: Distributed) -> None:
    airflow, sandbox, database = distributed.airflow, distributed.sandbox, distributed.database
    survey = f"srv-{SURVEY:04d}"
    sandbox.config.update({"close_survey": survey, "close_at": ""})  # open until the test closes it
    try:
        airflow.wait_for_dag(DAG_ID)
        airflow.unpause(DAG_ID)
        before = distributed.tokens()
        base = f"s3://aws_default@{cluster.BUCKET}/s3-sensor"
        run_id = airflow.trigger(DAG_ID, conf={"survey_id": survey, "export_base": base})
        wait_for_state(distributed, run_id, "wait_until_closed", "deferred")
        trigger_id, holder = cluster.wait_for_holder(database, TRIGGER)
        time.sleep(3)  # a poll or two by the first holder

        killed = cluster.kill_tree(airflow, holder)
        killed_at = time.monotonic()
        new_trigger_id, new_holder = cluster.wait_for_holder(database, TRIGGER, not_host=holder)
        takeover = time.monotonic() - killed_at
        assert (new_trigger_id, new_holder) == (trigger_id, next(t for t in cluster.TRIGGERERS if t != holder))
        airflow.restart(holder)
        sandbox.config.update({"close_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")})
        run = airflow.wait_for_run(DAG_ID, run_id, timeout=300)
    finally:
        sandbox.config.update({"close_survey": "", "close_at": ""})

    assert run["state"] == "success", run
    states = {ti["task_id"]: (ti["state"], ti["try_number"]) for ti in airflow.task_instances(DAG_ID, run_id)}
    assert states == {"wait_until_closed": ("success", 1), "export_all_responses": ("success", 1)}
    matched = airflow.call(
        "GET", f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/wait_until_closed/xcomEntries/return_value"
    )
    assert matched["value"] == "closed"
    ids = cluster.object_ids(distributed.client, f"s3-sensor/closed-surveys/survey={survey}/responses.jsonl")
    expected = [f"{survey}-r{index:07d}" for index in range(1, sandbox.config.responses_per_survey + 1)]
    assert ids == expected
    tokens = distributed.tokens() - before
    # One per trigger run (the killed holder's, the taker's) and one for the export; resuming the sensor asks none.
    assert tokens == 2 + 1
    distributed.assert_no_secret_anywhere([(DAG_ID, run_id)])
    print(f"scenario 3: killed {holder} (pids {killed}) holding trigger {trigger_id}; {new_holder} took it over "
          f"in {takeover:.1f} s; matched {matched['value']!r}; {len(ids)}/{len(expected)} records; {tokens} tokens")
