"""`make demo`: run the daily export example DAG on a local Airflow against the local sandbox.

Sets up a private AIRFLOW_HOME on Airflow's embedded SQLite default, starts the sandbox, points the
``surveysphere_default`` connection at it, runs ``airflow dags test`` and tells in a few lines what
happened. The end-to-end tests use the same :class:`LocalAirflow`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

from airflow_provider_surveysphere.sandbox import SandboxConfig, SandboxServer

REPO = Path(__file__).resolve().parent.parent
DAGS_FOLDER = REPO / "dags_examples"


class LocalAirflow:
    """A throwaway Airflow installation: its home folder, its SQLite database and its CLI.

    :param home: the AIRFLOW_HOME folder (created when missing)
    :param dags_folder: where the DAG files are
    """

    def __init__(self, home: Path, dags_folder: Path = DAGS_FOLDER) -> None:
        self.home = home
        self.dags_folder = dags_folder
        self.home.mkdir(parents=True, exist_ok=True)

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of every Airflow command: private home, example DAGs, no example DAGs of Airflow's."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRFLOW__"))
        }
        env.update(
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folder),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
            # Airflow 3.0's dags test renders a task's error with rich, wrapped at the terminal's width (80
            # columns when piped): a wide one keeps each error message on one line.
            COLUMNS="400",
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])),
        )
        env.update(extra or {})
        return env

    def airflow(self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run ``airflow <args>`` with this home; output is captured, never raised on."""
        return subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def migrate(self) -> None:
        """Create or upgrade the SQLite metadata database (once per home)."""
        marker = self.home / ".migrated"
        if marker.exists():
            return
        result = self.airflow("db", "migrate")
        if result.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        marker.touch()

    def dags_test(
        self, dag_id: str, logical_date: str, *, env: Mapping[str, str] | None = None, conf: dict[str, Any] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``airflow dags test``: one real DAG run, every task in this process tree, no scheduler needed."""
        args = ["dags", "test", dag_id, logical_date]
        if conf:
            args += ["--conf", json.dumps(conf)]
        return self.airflow(*args, env=env)

    def task_logs(self) -> str:
        """Every task log file written under this home."""
        logs = self.home / "logs"
        if not logs.exists():
            return ""
        return "\n".join(p.read_text(errors="replace") for p in sorted(logs.rglob("*")) if p.is_file())


def sandbox_connection(sandbox: SandboxServer) -> str:
    """The ``surveysphere_default`` connection, as JSON for AIRFLOW_CONN_SURVEYSPHERE_DEFAULT."""
    extra = {"verify": sandbox.ca_cert_path} if sandbox.ca_cert_path else {}
    return json.dumps(
        {
            "conn_type": "surveysphere",
            "host": sandbox.base_url,
            "login": sandbox.config.client_id,
            "password": sandbox.config.client_secret,
            "extra": extra,
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--home", type=Path, default=REPO / ".airflow-demo" / f"airflow-{version('apache-airflow')}", help="AIRFLOW_HOME"
    )
    parser.add_argument("--date", default="2026-11-02", help="logical date of the run (the day after the exported day)")
    parser.add_argument("--responses-per-survey", type=int, default=20_000)
    args = parser.parse_args(argv)

    airflow = LocalAirflow(args.home)
    exports = args.home / "exports"
    print(f"Airflow home: {args.home} (SQLite)")
    print("Preparing the metadata database ...", flush=True)
    airflow.migrate()
    # One response every 30 s from 2026-11-01: the exported day holds 2,880 of them.
    config = SandboxConfig(
        surveys=3, responses_per_survey=args.responses_per_survey, response_interval=30, start=datetime(2026, 11, 1, tzinfo=timezone.utc)
    )
    with SandboxServer(config=config) as sandbox:
        print(f"SurveySphere sandbox listening at {sandbox.base_url}", flush=True)
        env = {
            "AIRFLOW_CONN_SURVEYSPHERE_DEFAULT": sandbox_connection(sandbox),
            "AIRFLOW_VAR_SURVEYSPHERE_EXPORT_BASE": str(exports),
        }
        started = time.monotonic()
        result = airflow.dags_test("surveysphere_daily_export", args.date, env=env)
        elapsed = time.monotonic() - started
        stats = sandbox.stats
    log_file = args.home / "demo-run.log"
    log_file.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        print(result.stdout[-4000:], result.stderr[-4000:], sep="\n")
        print(f"\nThe DAG run FAILED (exit {result.returncode}); full output in {log_file}")
        return 1
    files = sorted(exports.rglob("*.jsonl"))
    if not files:
        print(f"The DAG run finished but wrote no file under {exports}; full output in {log_file}")
        return 1
    for path in files:
        ids = [json.loads(line)["id"] for line in path.read_text().splitlines()]
        print(f"Exported {len(ids):,} responses ({len(set(ids)):,} distinct ids) to {path}")
    print(
        f"DAG surveysphere_daily_export ran in {elapsed:.1f} s: {stats['data_requests']} API calls, "
        f"{stats['tokens_issued']} token request(s). Full output: {log_file}"
    )
    print("The sandbox has stopped. Run `make demo` again to repeat; `make clean` removes everything.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
