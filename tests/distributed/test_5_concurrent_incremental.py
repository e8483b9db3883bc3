"""Scenario 5: a scheduled and a manual run of one incremental target at once (on two workers, held at the publish
until both have read the same mark and written the same records): one publishes, the other refuses with
SurveySphereConcurrentExportError and its retry exports nothing more. Nothing lost, nothing twice."""

from __future__ import annotations

import json

import pytest

from tests.distributed import cluster
from tests.distributed.conftest import Distributed

pytestmark = pytest.mark.distributed

DAG_ID = "surveysphere_dist_incremental"
TASK_ID = "export_new_responses"
VISIBLE = 3000
FOLDER = "base/incremental/survey=srv-0005/"


def test_two_runs_of_one_incremental_target_at_once_export_every_record_once(distributed: Distributed) -> None:
    airflow, sandbox, client = distributed.airflow, distributed.sandbox, distributed.client
    sandbox.config.update({"live_survey": "srv-0005", "live_visible": VISIBLE})
    # Both exports stop before publishing until the other is there too: both read the same (empty) mark.
    distributed.seam.arm("commit", DAG_ID, mode="barrier", parties=2, timeout=180)
    try:
        airflow.wait_for_dag(DAG_ID)
        before = distributed.tokens()
        manual = airflow.trigger(DAG_ID)
        airflow.unpause(DAG_ID)  # the scheduler adds yesterday's scheduled run beside the manual one
        runs = airflow.wait_for_all_runs(DAG_ID, min_runs=2, timeout=420)
        airflow.pause(DAG_ID)
    finally:
        distributed.seam.reset("commit")
        sandbox.config.update({"live_survey": "", "live_visible": 0})  # srv-0005 whole again for the next scenarios

    assert sorted(run["run_type"] for run in runs) == ["manual", "scheduled"]
    assert {run["state"] for run in runs} == {"success"}, runs
    instances = {run["dag_run_id"]: airflow.task_instances(DAG_ID, run["dag_run_id"])[0] for run in runs}
    tries = sorted(ti["try_number"] for ti in instances.values())
    assert tries == [1, 2], instances  # one published at once; the other was refused, then retried
    (loser,) = [run_id for run_id, ti in instances.items() if ti["try_number"] == 2]
    refused = airflow.task_log(DAG_ID, loser, TASK_ID, 1)
    assert "SurveySphereConcurrentExportError" in refused, refused[-3000:]
    assert "part-00000001.jsonl" in refused  # the message names the part it lost
    retried = airflow.task_log(DAG_ID, loser, TASK_ID, 2)
    assert "Exported 0 new responses" in retried  # the retry read the winner's mark: nothing left to export

    parts = cluster.keys(client, FOLDER)
    assert parts == [FOLDER + "part-00000001.jsonl"], parts
    ids = cluster.object_ids(client, parts[0])
    assert ids == [f"srv-0005-r{index:07d}" for index in range(1, VISIBLE + 1)]
    assert cluster.incomplete_uploads(client, FOLDER) == []
    results = [
        airflow.call("GET", f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{TASK_ID}/xcomEntries/return_value")["value"]
        for run_id in instances
    ]
    records = sorted(json.loads(r)["records"] if isinstance(r, str) else r["records"] for r in results)
    assert records == [0, VISIBLE]  # the retry found nothing new
    tokens = distributed.tokens() - before
    assert tokens == 3  # one per task run: two first tries, one retry
    distributed.assert_no_secret_anywhere([(DAG_ID, run["dag_run_id"]) for run in runs])
    refusal = refused[refused.index("SurveySphereConcurrentExportError"):][:240]
    print(f"scenario 5: manual run {manual} beside the scheduled one; the loser's first try: {refusal!r}; "
          f"its retry exported {records[0]}; {len(ids)}/{VISIBLE} records in 1 part; {tokens} tokens")
