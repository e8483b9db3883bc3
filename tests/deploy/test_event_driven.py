"""Event-driven exports in a real Airflow 3 deployment: an AssetWatcher in the triggerer starts the DAG.

Responses arrive in the sandbox (control calls); the watcher's trigger wakes the DAG; each run exports
what is new since its own high-water mark. The triggerer is restarted while responses arrive: the new
watcher fires once more (at-least-once wake-ups) and the output still holds every response exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_surveysphere.sandbox import SandboxConfig, SandboxServer

from tests.deploy.fixtures import connection_json
from tests.deploy.harness import AIRFLOW_3, Deployment, DeploymentError

pytestmark = [
    pytest.mark.deploy,
    pytest.mark.skipif(not AIRFLOW_3, reason="event-driven scheduling (AssetWatcher) needs Airflow 3.0+"),
]

DAG_ID = "surveysphere_new_responses"


@pytest.fixture(scope="module")
def live_sandbox() -> Iterator[SandboxServer]:
    config = SandboxConfig(surveys=1, responses_per_survey=10_000, live_survey="srv-0001", live_visible=0)
    with SandboxServer(config=config) as server:
        yield server


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("event-exports")


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory, live_sandbox: SandboxServer, exports: Path) -> Iterator[Deployment]:
    env = {
        "AIRFLOW_CONN_SURVEYSPHERE_DEFAULT": connection_json(live_sandbox),
        "AIRFLOW_VAR_SURVEYSPHERE_EXPORT_BASE": str(exports),
        "SURVEYSPHERE_EXAMPLE_LIVE_SURVEY": "srv-0001",
        "SURVEYSPHERE_EXAMPLE_POLL_INTERVAL": "1",
    }
    deployment = Deployment(tmp_path_factory.mktemp("event-deployment"), env=env)
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()


def exported_ids(exports: Path) -> list[str]:
    return [json.loads(line)["id"] for part in sorted(exports.rglob("part-*.jsonl")) for line in part.read_text().splitlines()]


def expected(count: int) -> list[str]:
    return [f"srv-0001-r{i:07d}" for i in range(1, count + 1)]


def wait_for_export(airflow: Deployment, exports: Path, count: int, timeout: float = 300) -> list[dict]:
    """Wait until the output holds ``count`` responses and no run is queued or running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = airflow.runs(DAG_ID)
        if len(exported_ids(exports)) >= count and runs and all(r["state"] in ("success", "failed") for r in runs):
            return runs
        time.sleep(1)
    raise DeploymentError(
        f"the output holds {len(exported_ids(exports))} of {count} responses after {timeout:.0f} s; runs: "
        f"{[(r['dag_run_id'], r['state']) for r in airflow.runs(DAG_ID)]}\n{airflow.diagnostics()}"
    )


def restart_triggerer(airflow: Deployment) -> None:
    (old,) = [p for p in airflow.processes if p.name == "triggerer" and p.popen.poll() is None]
    os.killpg(old.popen.pid, signal.SIGTERM)
    old.popen.wait(timeout=60)
    airflow._spawn("triggerer", ["triggerer"])


def test_new_responses_are_exported_exactly_once_across_wakeups_and_a_triggerer_restart(airflow, live_sandbox, exports):
    airflow.wait_for_dag(DAG_ID)
    airflow.unpause(DAG_ID)

    live_sandbox.config.update({"live_visible": 30})
    runs = wait_for_export(airflow, exports, 30)
    assert all(r["state"] == "success" for r in runs), runs
    assert exported_ids(exports) == expected(30)
    assert all(r["run_type"] == "asset_triggered" for r in runs), runs  # no schedule, no manual trigger

    live_sandbox.config.update({"live_visible": 45})
    wait_for_export(airflow, exports, 45)
    assert exported_ids(exports) == expected(45)

    restart_triggerer(airflow)
    live_sandbox.config.update({"live_visible": 52})  # arrives while the new watcher starts
    runs = wait_for_export(airflow, exports, 52)
    assert all(r["state"] == "success" for r in runs), runs
    ids = exported_ids(exports)
    assert ids == expected(52)  # complete, in order, none twice, across every wake-up and the restart
    parts = sorted(exports.rglob("part-*.jsonl"))
    assert len(parts) <= len(runs)  # a wake-up with nothing new writes no part
    (triggerer,) = [p for p in airflow.processes if p.name == "triggerer" and p.popen.poll() is None]
    wakeups = triggerer.log.read_text(errors="replace")
    assert wakeups.count("(start); waking the export") >= 2  # the first watcher and the restarted one (at least once)

    logs = "\n".join(text for run in runs for text in airflow.run_logs(DAG_ID, run["dag_run_id"]).values())
    assert live_sandbox.config.client_secret not in logs
    assert not [t for t in live_sandbox.issued_tokens if t in logs]
