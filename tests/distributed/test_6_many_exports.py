"""Scenario 6: 20 mapped exports (max_concurrency=4 each) against a sandbox that refuses a 9th request in flight,
on 4 worker slots, limited by an Airflow pool of 2 slots: 2 x 4 = 8 requests in flight at most.

The bound on 429s is 0, and it is exact rather than statistical: the pool lets 2 exports run at once, each keeps
at most 4 page requests in flight, and a task's token request comes before its own pages, so the most in flight
is 4 + 4 (or 4 + 1 while the second export asks for its token); the sandbox counts a request as in flight until it
has built the answer, before sending it, so a client never has a request answered that the sandbox still counts.
With a pool of 3 slots (up to 12 in flight) the same run saw 2 429s and 9 in flight at once (retried by the
provider's throttling, every export still exact), so this check can fail.
"""

from __future__ import annotations

import pytest

from tests.distributed import cluster
from tests.distributed.conftest import TODAY, YESTERDAY, Distributed
from tests.e2e.conftest import expected_ids

pytestmark = pytest.mark.distributed

DAG_ID = "surveysphere_dist_many"
POOL = "surveysphere_api"
LIMIT = 8
MAX_CONCURRENCY = 4
EXPORTS = 20


def test_twenty_exports_in_a_pool_stay_under_the_api_limit_and_are_exact(distributed: Distributed) -> None:
    airflow, sandbox = distributed.airflow, distributed.sandbox
    slots = LIMIT // MAX_CONCURRENCY
    airflow.call("POST", "pools", json={"name": POOL, "slots": slots, "description": "SurveySphere API: 8 in flight"})
    sandbox.config.update({"concurrency_limit": LIMIT, "latency": 0.2})
    try:
        airflow.wait_for_dag(DAG_ID)
        airflow.unpause(DAG_ID)
        sandbox.reset()  # counters (429s, max in flight) from here on
        before = distributed.tokens()
        run_id = airflow.trigger(DAG_ID, conf={"day": YESTERDAY.strftime("%Y-%m-%d")})
        run = airflow.wait_for_run(DAG_ID, run_id, timeout=900)
        stats = sandbox.stats
    finally:
        sandbox.config.update({"concurrency_limit": 0, "latency": 0.0})

    rate_limited = stats["statuses"].get("429", 0)
    print(f"scenario 6: {run['state']}; max in flight {stats['max_concurrent']} (pool {slots} slots x "
          f"{MAX_CONCURRENCY}); 429s {rate_limited}; {stats['data_requests']} data requests")
    assert run["state"] == "success", run
    instances = airflow.task_instances(DAG_ID, run_id)
    exports = [ti for ti in instances if ti["task_id"] == "export"]
    assert sorted(ti["map_index"] for ti in exports) == list(range(EXPORTS))
    assert {(ti["state"], ti["try_number"]) for ti in instances} == {("success", 1)}
    assert {ti["pool"] for ti in exports} == {POOL}
    found = 0
    for index in range(EXPORTS):
        ids = cluster.object_ids(distributed.client, f"base/many/export={index:02d}.jsonl")
        assert ids == expected_ids(sandbox, index % 8 + 1, YESTERDAY, TODAY)
        found += len(ids)
    assert rate_limited == 0, stats
    assert stats["max_concurrent"] <= slots * MAX_CONCURRENCY, stats
    tokens = distributed.tokens() - before
    assert tokens == len(exports)  # one per export task run (the list task builds the list without the API)
    distributed.assert_no_secret_anywhere([(DAG_ID, run_id)])
    hosts = sorted({ti["hostname"] for ti in exports})
    print(f"scenario 6: {found}/{EXPORTS * 1440} records in {EXPORTS} objects; pool {slots} slots x {MAX_CONCURRENCY}"
          f" = {slots * MAX_CONCURRENCY}; max in flight {stats['max_concurrent']}; 429s {rate_limited}; "
          f"{stats['data_requests']} data requests; {tokens} tokens for {len(exports)} export task runs; workers {hosts}")
