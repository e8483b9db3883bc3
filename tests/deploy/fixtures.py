"""Fixtures of the deployment and browser tests: one real Airflow deployment and one sandbox per session.

Registered for the whole test tree by ``pytest_plugins`` in tests/conftest.py, so that the deployment and
browser suites share one deployment when they run in one session (session fixtures start only when a
test asks for them).

The sandbox runs in this process (its statistics are read directly); Airflow's scheduler, DAG processor,
triggerer and API server run as separate processes (see :mod:`tests.deploy.harness`). Tests that count
tokens take the sandbox's statistics before and after what they trigger, and run one after the other.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_surveysphere.sandbox import SandboxConfig, SandboxServer

from tests.deploy.harness import DAGS_FOLDER, Deployment

TEST_DAGS = Path(__file__).parent / "dags"



def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "deploy: runs a real Airflow deployment (scheduler, API server, ...)")
    config.addinivalue_line("markers", "browser: drives Airflow's UI in headless Chromium")


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    # Turn SIGTERM into a normal exit, so fixture finalizers and atexit stop every started process.
    sys.exit(128 + signum)


@pytest.fixture(scope="session")
def deploy_sandbox() -> Iterator[SandboxServer]:
    """The sandbox with its default data (which covers the last days, so scheduled runs find responses)."""
    with SandboxServer(config=SandboxConfig(surveys=3)) as server:
        yield server


def connection_json(sandbox: SandboxServer) -> str:
    """The ``surveysphere_default`` connection as JSON, pointing at the sandbox."""
    return json.dumps(
        {
            "conn_type": "surveysphere",
            "host": sandbox.base_url,
            "login": sandbox.config.client_id,
            "password": sandbox.config.client_secret,
        }
    )


@pytest.fixture(scope="session")
def exports_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("exports")


@pytest.fixture(scope="session")
def dags_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example DAGs and the test-only DAGs of tests/deploy/dags, linked into one folder."""
    folder = tmp_path_factory.mktemp("dags")
    for path in [*sorted(DAGS_FOLDER.glob("surveysphere_*.py")), *sorted(TEST_DAGS.glob("*.py"))]:
        (folder / path.name).symlink_to(path)
    return folder


@pytest.fixture(scope="session")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, deploy_sandbox: SandboxServer, exports_base: Path, dags_folder: Path
) -> Iterator[Deployment]:
    """A running Airflow deployment whose ``surveysphere_default`` connection is the sandbox."""
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    env = {
        "AIRFLOW_CONN_SURVEYSPHERE_DEFAULT": connection_json(deploy_sandbox),
        "AIRFLOW_VAR_SURVEYSPHERE_EXPORT_BASE": str(exports_base),
    }
    airflow = Deployment(tmp_path_factory.mktemp("deployment"), env=env, dags_folder=dags_folder)
    try:
        airflow.start()
        yield airflow
    finally:
        airflow.stop()
        signal.signal(signal.SIGTERM, previous)
