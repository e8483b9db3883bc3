"""Scenario 4: the event-driven example writing its parts to S3 across a failover of the triggerer that holds its
watcher: responses arrive, that triggerer is killed, more arrive (the other triggerer takes the watcher over),
then more after the killed one is back. Every response is in exactly one part; the high-water mark read back from
S3 is the last response's."""

from __future__ import annotations

import json
import time

import pytest

from tests.deploy.harness import DAGS_FOLDER, DeploymentError
from tests.distributed import cluster
from tests.distributed.conftest import Distributed

pytestmark = pytest.mark.distributed

DAG_ID = "surveysphere_new_responses"
WATCHER = "%.SurveySphereNewRecordsTrigger"
SURVEY = "srv-0007"
FOLDER = f"base/new-responses/survey={SURVEY}/"


def exported(distributed: Distributed) -> list[dict]:
    return [
        json.loads(line)
        for key in cluster.keys(distributed.client, FOLDER)
        for line in distributed.client.get_object(Bucket=cluster.BUCKET, Key=key)["Body"].read().decode().splitlines()
    ]


def wait_for_export(distributed: Distributed, count: int, timeout: float = 300) -> list[dict]:
    """Wait until the parts hold ``count`` responses and no run is queued or running; return the runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = distributed.airflow.runs(DAG_ID)
        if len(exported(distributed)) >= count and runs and all(r["state"] in ("success", "failed") for r in runs):
            return runs
        time.sleep(1)
    raise DeploymentError(f"the parts hold {len(exported(distributed))} of {count} responses after {timeout:.0f} s")


def test_new_responses_are_exported_once_across_a_killed_watcher_triggerer(distributed: Distributed) -> None:
    airflow, sandbox, database = distributed.airflow, distributed.sandbox, distributed.database
    sandbox.config.update({"live_survey": SURVEY, "live_visible": 0})
    before = distributed.tokens()
    distributed.add_dag(DAGS_FOLDER / "surveysphere_new_responses.py")
    airflow.wait_for_dag(DAG_ID)
    airflow.unpause(DAG_ID)
    trigger_id, holder = cluster.wait_for_holder(database, WATCHER)

    sandbox.config.update({"live_visible": 30})
    wait_for_export(distributed, 30)
    killed = cluster.kill_tree(airflow, holder)
    sandbox.config.update({"live_visible": 45})  # arrives while no triggerer watches
    _, taker = cluster.wait_for_holder(database, WATCHER, not_host=holder)
    wait_for_export(distributed, 45)
    airflow.restart(holder)
    sandbox.config.update({"live_visible": 52})
    runs = wait_for_export(distributed, 52)
    airflow.pause(DAG_ID)

    assert {r["state"] for r in runs} == {"success"}, runs
    assert {r["run_type"] for r in runs} == {"asset_triggered"}
    records = exported(distributed)
    ids = [record["id"] for record in records]
    expected = [f"{SURVEY}-r{index:07d}" for index in range(1, 53)]
    assert ids == expected  # complete, in order, none twice, across the failover
    dataset = sandbox.config.dataset()
    assert max(record["submitted_at"] for record in records) == dataset.response(7, 51)["submitted_at"]
    parts = cluster.keys(distributed.client, FOLDER)
    assert len(parts) <= len(runs)  # a wake-up with nothing new writes no part
    assert cluster.incomplete_uploads(distributed.client, FOLDER) == []
    tries = sum(ti["try_number"] for r in runs for ti in airflow.task_instances(DAG_ID, r["dag_run_id"]))
    tokens = distributed.tokens() - before
    # One token per task run, plus one per run of the watcher's trigger: the first holder's and the taker's.
    assert tokens == tries + 2, (tokens, tries)
    distributed.assert_no_secret_anywhere([(DAG_ID, r["dag_run_id"]) for r in runs])
    print(f"scenario 4: killed {holder} (pids {killed}) holding watcher trigger {trigger_id}; {taker} took it over;"
          f" {len(ids)}/52 responses in {len(parts)} parts over {len(runs)} runs ({tries} task runs); {tokens} tokens")
