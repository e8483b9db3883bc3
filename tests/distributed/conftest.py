"""One distributed Airflow deployment for the whole session (see cluster.py), the scenarios' shared checks, and
the suite's report: each scenario's wall time at the end, the tail of every component's log on a failure.

Run by ``make test-distributed`` from a venv of its own (the Celery and Amazon providers, moto, psycopg2);
elsewhere these tests are not collected.
"""

from __future__ import annotations

import importlib.util
import logging
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

if not all(importlib.util.find_spec(name) for name in ("moto", "s3fs", "airflow.providers.celery", "psycopg2")):
    collect_ignore_glob = ["test_*.py"]  # `make test-distributed` installs them
else:
    import psutil

    from airflow_provider_surveysphere.sandbox import SandboxConfig, SandboxServer

    from tests.deploy.fixtures import connection_json
    from tests.deploy.harness import DAGS_FOLDER, Deployment
    from tests.distributed import cluster
    from tests.s3.conftest import MotoS3
    from tests.support.postgres import postgres_cluster
    from tests.support.redis import redis_server

TODAY = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
YESTERDAY = TODAY - timedelta(days=1)
RESPONSES = 28 * 24 * 60  # four weeks of one response a minute: 40,320 per survey, about 7 MiB of JSON Lines
EXAMPLES = ("surveysphere_fanout_export.py", "surveysphere_export_when_closed.py")
TIMES: list[tuple[str, float, str]] = []


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server: a line per S3 request otherwise
    config.addinivalue_line("markers", "distributed: runs in the distributed Airflow deployment (tests/distributed)")


@dataclass
class Distributed:
    """Everything a scenario needs: the deployment, the sandbox, S3, the kill points and the metadata database."""

    airflow: Deployment
    sandbox: SandboxServer
    s3: MotoS3
    seam: cluster.Seam
    database: Any
    dags_folder: Path

    @property
    def client(self) -> Any:
        return self.s3.client

    def tokens(self) -> int:
        return int(self.sandbox.stats["tokens_issued"])

    def add_dag(self, path: Path) -> None:
        """Put one more DAG file in the served folder (the DAG processor parses it within seconds)."""
        (self.dags_folder / path.name).symlink_to(path)

    def assert_no_secret_anywhere(self, runs: list[tuple[str, str]]) -> None:
        """No client secret or issued token in any log: each run's task logs as the API serves them, and every
        file under the deployment (every component's output, every task and trigger log of AIRFLOW_HOME)."""
        secret = self.sandbox.config.client_secret
        tokens = list(self.sandbox.issued_tokens)
        for dag_id, run_id in runs:
            logs = self.airflow.run_logs(dag_id, run_id)
            assert logs, f"the API served no task log for {run_id}"
            for key, text in logs.items():
                assert secret not in text, f"client secret in the log of {dag_id} {key}"
                assert not [t for t in tokens if t in text], f"an access token in the log of {dag_id} {key}"
        files = [*self.airflow.process_logs.glob("*.log"), *(self.airflow.home / "logs").rglob("*")]
        for path in files:
            if path.is_file():
                text = path.read_text(errors="replace")
                assert secret not in text, f"client secret in {path}"
                assert not [t for t in tokens if t in text], f"an access token in {path}"


def _interrupt_on_sigterm(signum: int, frame: Any) -> None:
    # As Ctrl-C: pytest stops the session and runs the finalizers, which stop every started process (a SystemExit
    # would only fail the running test, and the session would go on).
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def distributed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Distributed]:
    previous = signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    started = time.monotonic()
    config = SandboxConfig(surveys=8, responses_per_survey=RESPONSES)
    with postgres_cluster() as postgres, redis_server() as redis, SandboxServer(config=config) as sandbox:
        s3 = MotoS3()
        airflow = None
        try:
            s3.client.create_bucket(Bucket=cluster.BUCKET)
            dags_folder = tmp_path_factory.mktemp("dags")
            for name in EXAMPLES:
                (dags_folder / name).symlink_to(DAGS_FOLDER / name)
            for path in sorted((Path(__file__).parent / "dags").glob("*.py")):
                (dags_folder / path.name).symlink_to(path)
            env = {
                "AIRFLOW_CONN_SURVEYSPHERE_DEFAULT": connection_json(sandbox),
                "AIRFLOW_CONN_AWS_DEFAULT": s3.connection(),
                "AIRFLOW_VAR_SURVEYSPHERE_EXPORT_BASE": f"s3://aws_default@{cluster.BUCKET}/base",
                "AWS_EC2_METADATA_DISABLED": "true",
                "SURVEYSPHERE_EXAMPLE_POKE_INTERVAL": "2",
                "SURVEYSPHERE_EXAMPLE_LIVE_SURVEY": "srv-0007",
                "SURVEYSPHERE_EXAMPLE_POLL_INTERVAL": "1",
            }
            airflow = cluster.deployment(
                tmp_path_factory.mktemp("distributed"),
                dags_folder,
                database_url=f"postgresql+psycopg2://airflow@127.0.0.1:{postgres.port}/postgres",
                redis_url=redis.url(0),
                result_backend=f"redis://127.0.0.1:{redis.port}/1",
                env=env,
            )
            airflow.start()
            cluster.wait_for_workers(airflow)
            database = postgres.connect()
            database.autocommit = True
            TIMES.append(("deployment start (PostgreSQL, Redis, moto, sandbox, 7 Airflow processes)",
                          time.monotonic() - started, "passed"))
            yield Distributed(airflow, sandbox, s3, cluster.Seam(airflow.root / "seam"), database, dags_folder)
            database.close()
        finally:
            if airflow is not None:
                pids = [p.popen.pid for p in airflow.processes]
                airflow.stop()
                alive = [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
                assert not alive, f"processes of the deployment still running: {alive}"
            s3.stop()
            signal.signal(signal.SIGTERM, previous)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        TIMES.append((item.nodeid.split("::", 1)[-1], report.duration, report.outcome))
    if report.failed:
        distributed = getattr(item, "funcargs", {}).get("distributed")
        if distributed is not None:
            report.sections.append(("every component's log (last lines)", distributed.airflow.diagnostics()))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Scenario 4 adds the event-driven DAG, whose watcher then polls the API from a triggerer for the rest of
    # the session: it runs after the scenarios that count tokens; the final leftover check runs last of all.
    def order(item: pytest.Item) -> int:
        return {"test_4_event_driven.py": 1, "test_9_nothing_left.py": 2}.get(Path(str(item.fspath)).name, 0)

    items.sort(key=order)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMES:
        terminalreporter.section("distributed scenarios: wall time")
        for name, seconds, outcome in TIMES:
            terminalreporter.write_line(f"{seconds:7.1f} s  {outcome:7}  {name}")
