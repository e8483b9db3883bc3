"""End-to-end fixtures: a real local Airflow (SQLite) and the real sandbox server on loopback."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_surveysphere.sandbox import SandboxConfig, SandboxServer

from dags_examples.run_demo import LocalAirflow, sandbox_connection

pytestmark = pytest.mark.e2e

AIRFLOW_3_0 = version("apache-airflow").startswith("3.0.")


@pytest.fixture(scope="session")
def local_airflow(tmp_path_factory: pytest.TempPathFactory) -> LocalAirflow:
    airflow = LocalAirflow(tmp_path_factory.mktemp("airflow-home"))
    airflow.migrate()
    return airflow


DAY = (datetime(2026, 11, 1, tzinfo=timezone.utc), datetime(2026, 11, 2, tzinfo=timezone.utc))


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    config = SandboxConfig(surveys=4, responses_per_survey=6_000, response_interval=30, start=DAY[0])
    with SandboxServer(config=config) as server:
        yield server


@dataclass
class DagRun:
    """What one ``airflow dags test`` left behind."""

    result: subprocess.CompletedProcess[str]
    exports: Path
    output: str  # stdout, stderr and every task log file

    def files(self) -> list[Path]:
        return sorted(self.exports.rglob("*.jsonl"))


@pytest.fixture
def run_dag(local_airflow: LocalAirflow, sandbox: SandboxServer, tmp_path: Path):
    """Run an example DAG against the sandbox; return the run's output and export folder."""

    def run(dag_id: str, logical_date: str = "2026-11-02", conf: dict[str, Any] | None = None, **env: str) -> DagRun:
        exports = tmp_path / "exports"
        full_env = {
            "AIRFLOW_CONN_SURVEYSPHERE_DEFAULT": sandbox_connection(sandbox),
            "AIRFLOW_VAR_SURVEYSPHERE_EXPORT_BASE": str(exports),
            **env,
        }
        result = local_airflow.dags_test(dag_id, logical_date, env=full_env, conf=conf)
        output = "\n".join([result.stdout, result.stderr, local_airflow.task_logs()])
        return DagRun(result, exports, output)

    return run


def read_ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def expected_ids(sandbox: SandboxServer, survey_number: int, since: datetime, until: datetime) -> list[str]:
    dataset = sandbox.config.dataset()
    lo, hi = dataset.index_window(since, until)
    return [f"{dataset.survey_id(survey_number)}-r{index + 1:07d}" for index in range(lo, hi)]



def airflow_3_0_mask_secret_lines(output: str) -> list[str]:
    """Airflow 3.0's own leak: the lines of ``dags test`` that print a value Airflow was told to mask.

    Its in-process supervisor channel logs each ``MaskSecret(value=...)`` it sends, unmasked, and Airflow
    sends one with the password whenever a task reads a connection (any connection; fixed in Airflow 3.1).
    tests/e2e/test_secrets.py reports them as an expected failure. None on other lines.
    """
    if not AIRFLOW_3_0:
        return []
    return [line for line in output.splitlines() if "Sending request" in line and "msg=MaskSecret(value=" in line]


def client_secret_scan(output: str) -> str:
    """Where the client secret must never appear: ``output`` less :func:`airflow_3_0_mask_secret_lines`."""
    leak = set(airflow_3_0_mask_secret_lines(output))
    return "\n".join(line for line in output.splitlines() if line not in leak)
