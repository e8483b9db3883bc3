"""Scenario 2: a long export to S3 killed with SIGKILL at three points, two ways; the retry's object is exact and
no incomplete multipart upload of the key remains.

The kill points are the workers' test-only seam (seam/sitecustomize.py): the task process stops there and the test
kills, either the task's own process (its supervisor on the worker lives on and reports the task failed) or the
whole worker, main process and children (nothing reports: Airflow notices through the task heartbeat timeout,
10 s here). The killed worker is started again afterwards, as a supervisor (systemd, Kubernetes) would.
"""

from __future__ import annotations

import time

import pytest

from tests.distributed import cluster
from tests.distributed.conftest import Distributed

pytestmark = pytest.mark.distributed

DAG_ID = "surveysphere_dist_crash"
SURVEY = 2
CASES = [
    ("execute", "task"),         # before the first page: no token asked for, nothing uploaded
    ("execute", "worker"),
    ("part_uploaded", "task"),   # mid-export: one 5 MiB part of the multipart upload is in S3
    ("part_uploaded", "worker"),
    ("commit", "task"),          # during the final commit: every part uploaded, not completed
    ("commit", "worker"),
]


@pytest.mark.parametrize(("point", "how"), CASES, ids=[f"{p}-{h}" for p, h in CASES])
def test_a_killed_export_is_retried_to_an_exact_object_and_leaves_no_upload(
    distributed: Distributed, point: str, how: str
) -> None:
    airflow, sandbox, client = distributed.airflow, distributed.sandbox, distributed.client
    airflow.wait_for_dag(DAG_ID)
    airflow.unpause(DAG_ID)
    case = f"{point}-{how}"
    key = f"base/crash/{case}/responses.jsonl"
    run_id = f"kill-{case}"
    distributed.seam.arm(point, DAG_ID, run_id=run_id)  # only this run stops there (not a retry of another case)
    before = distributed.tokens()

    airflow.trigger(DAG_ID, conf={"case": case, "survey_id": f"srv-{SURVEY:04d}"}, run_id=run_id)
    try:
        hit = distributed.seam.wait_hit(point)
        in_progress = cluster.incomplete_uploads(client, key)
        if point == "execute":
            assert in_progress == []
        else:  # the killed attempt leaves an upload with at least one part behind (what the retry must clear)
            assert len(in_progress) == 1 and len(in_progress[0]["Parts"]) >= 1, in_progress
        worker = cluster.component_of(airflow, hit["pid"])
        killed_at = time.monotonic()
        if how == "task":
            cluster.kill_pid(hit["pid"])
        else:
            cluster.kill_tree(airflow, worker)
            airflow.restart(worker)
    finally:
        distributed.seam.release(point)
    run = airflow.wait_for_run(DAG_ID, run_id, timeout=420)
    recovered = time.monotonic() - killed_at
    if how == "worker":
        cluster.wait_for_workers(airflow)

    assert run["state"] == "success", run
    (ti,) = airflow.task_instances(DAG_ID, run_id)
    assert (ti["state"], ti["try_number"]) == ("success", 2)
    ids = cluster.object_ids(client, key)
    expected = [f"srv-{SURVEY:04d}-r{index:07d}" for index in range(1, sandbox.config.responses_per_survey + 1)]
    assert ids == expected  # every record once, in order
    assert cluster.incomplete_uploads(client, key) == []  # the retry aborted the killed attempt's upload
    assert cluster.keys(client, f"base/crash/{case}/") == [key]  # no temporary or partial object beside it
    tokens = distributed.tokens() - before
    # One token per task run that reached the API: the attempt killed before its first page asked for none.
    assert tokens == (1 if point == "execute" else 2)
    distributed.assert_no_secret_anywhere([(DAG_ID, run_id)])
    tries = airflow.call("GET", f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/export_all_responses/tries")
    hosts = [entry["hostname"] for entry in tries["task_instances"]]
    print(f"scenario 2 {case}: killed pid {hit['pid']} ({how} on {worker}); upload parts left by the kill: "
          f"{[len(u['Parts']) for u in in_progress]}; recovered in {recovered:.1f} s; tries on {hosts}; "
          f"{len(ids)}/{len(expected)} records; {tokens} tokens; incomplete uploads after: 0")
