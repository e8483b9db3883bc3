"""Scenario 1: the fan-out example across two Celery workers; every survey's object exact, one token per task run."""

from __future__ import annotations

import pytest

from tests.distributed import cluster
from tests.distributed.conftest import TODAY, YESTERDAY, Distributed
from tests.e2e.conftest import expected_ids

pytestmark = pytest.mark.distributed

DAG_ID = "surveysphere_fanout_export"


def test_fan_out_spreads_over_both_workers_and_every_object_is_exact(distributed: Distributed) -> None:
    airflow, sandbox = distributed.airflow, distributed.sandbox
    airflow.wait_for_dag(DAG_ID)
    before = distributed.tokens()
    airflow.trigger(DAG_ID, conf={"export_base": f"s3://aws_default@{cluster.BUCKET}/s1-manual"})
    airflow.unpause(DAG_ID)  # the scheduler adds yesterday's scheduled run beside the manual one
    runs = airflow.wait_for_all_runs(DAG_ID, min_runs=2, timeout=600)
    airflow.pause(DAG_ID)

    assert sorted(run["run_type"] for run in runs) == ["manual", "scheduled"]
    assert {run["state"] for run in runs} == {"success"}, runs
    instances = [ti for run in runs for ti in airflow.task_instances(DAG_ID, run["dag_run_id"])]
    assert {(ti["state"], ti["try_number"]) for ti in instances} == {("success", 1)}
    exports = [ti for ti in instances if ti["task_id"] == "export_survey"]
    assert len(exports) == 2 * 8
    hosts = sorted({ti["hostname"] for ti in instances})
    assert hosts == list(cluster.WORKERS), hosts  # task runs landed on both workers

    day = YESTERDAY.strftime("%Y-%m-%d")
    found = 0
    for base in ("s1-manual", "base"):
        for number in range(1, 9):
            ids = cluster.object_ids(distributed.client, f"{base}/fanout/survey=srv-{number:04d}/{day}.jsonl")
            assert ids == expected_ids(sandbox, number, YESTERDAY, TODAY)
            found += len(ids)
    assert found == 2 * 8 * 24 * 60
    assert distributed.tokens() - before == len(instances)  # one token per task run (list + 8 exports, twice)
    assert cluster.incomplete_uploads(distributed.client) == []
    distributed.assert_no_secret_anywhere([(DAG_ID, run["dag_run_id"]) for run in runs])
    per_host = {host: sum(ti["hostname"] == host for ti in instances) for host in hosts}
    print(f"scenario 1: {found} records in 16 objects, {len(instances)} task runs, "
          f"{distributed.tokens() - before} tokens; task runs per worker {per_host}")
