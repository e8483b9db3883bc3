"""The warehouse-load example end to end: the daily export writes a CSV, its asset event schedules
surveysphere_warehouse_load, whose task loads the file into a real PostgreSQL (tests/support/postgres.py).

The export runs with ``airflow dags test``; the asset-triggered run is created by the scheduler's own step
(tests/e2e/scheduler_step.py) and its task runs with ``airflow tasks test``, as in tests/e2e/test_lineage.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from dags_examples.run_demo import LocalAirflow, sandbox_connection
from tests.e2e.conftest import expected_ids

pytestmark = pytest.mark.e2e

EXPORT_DAG = "surveysphere_daily_export"
LOAD_DAG = "surveysphere_warehouse_load"
SCHEDULER_STEP = Path(__file__).parents[1] / "e2e" / "scheduler_step.py"
DAY = (datetime(2026, 11, 1, tzinfo=timezone.utc), datetime(2026, 11, 2, tzinfo=timezone.utc))


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> LocalAirflow:
    """A home of its own with the load DAG parsed and unpaused, as in a deployment."""
    airflow = LocalAirflow(tmp_path_factory.mktemp("warehouse-home"))
    airflow.migrate()
    for args in (("dags", "reserialize"), ("dags", "unpause", LOAD_DAG)):
        result = airflow.airflow(*args)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return airflow


def table(postgres) -> list[tuple]:
    with postgres.connect() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('surveysphere_responses') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return []
        cursor.execute(
            'SELECT id, submitted_at, "answers.q1", "answers.q3", window_start, window_end FROM surveysphere_responses '
            "ORDER BY id"
        )
        return cursor.fetchall()


def export_then_load(airflow: LocalAirflow, sandbox, postgres, tmp_path: Path, before_load=None):
    """Export the day as CSV, let the scheduler create the load run from the asset event, run its task."""
    env = {
        "AIRFLOW_CONN_SURVEYSPHERE_DEFAULT": sandbox_connection(sandbox),
        "AIRFLOW_CONN_SURVEYSPHERE_WAREHOUSE": postgres.uri,
        "AIRFLOW_VAR_SURVEYSPHERE_EXPORT_BASE": str(tmp_path / "exports"),
    }
    export = airflow.dags_test(EXPORT_DAG, "2026-11-02", env=env, conf={"format": "csv"})
    assert export.returncode == 0, (export.stdout + export.stderr + airflow.task_logs())[-5000:]
    (path,) = sorted((tmp_path / "exports").rglob("*.csv"))
    step = subprocess.run(
        [sys.executable, str(SCHEDULER_STEP), LOAD_DAG],
        env=airflow.env(env), capture_output=True, text=True, timeout=600, check=False,
    )
    assert step.returncode == 0, step.stdout[-3000:] + step.stderr[-3000:]
    run = json.loads(step.stdout.strip().splitlines()[-1])
    assert run["run_type"] == "asset_triggered" and run["consumed_events"] >= 1
    if before_load is not None:
        before_load(path)
    return airflow.airflow("tasks", "test", LOAD_DAG, "load_into_postgres", run["run_id"], env=env)


def test_the_load_is_idempotent_per_interval_and_a_failed_load_changes_nothing(airflow, sandbox, postgres, tmp_path):
    expected = expected_ids(sandbox, 1, *DAY)

    first = export_then_load(airflow, sandbox, postgres, tmp_path)
    assert first.returncode == 0, (first.stdout + first.stderr)[-5000:]
    assert f"Loaded {len(expected)} rows of file://" in first.stdout + first.stderr, (first.stdout + first.stderr)[-5000:]
    loaded = table(postgres)
    assert [row[0] for row in loaded] == expected  # every record of the day, once
    assert {(row[4], row[5]) for row in loaded} == {DAY}
    assert all(row[1] is not None and DAY[0] <= row[1] < DAY[1] for row in loaded)
    assert {type(row[2]) for row in loaded} == {int} and {type(row[3]) for row in loaded} == {bool}

    rerun = export_then_load(airflow, sandbox, postgres, tmp_path)
    assert f"Loaded {len(expected)} rows of file://" in rerun.stdout + rerun.stderr, (rerun.stdout + rerun.stderr)[-5000:]
    assert table(postgres) == loaded  # the interval's rows replaced, no duplicate

    def break_last_row(path: Path) -> None:  # a row the table refuses, after the delete and most of the copy
        with open(path, "a", encoding="utf-8", newline="") as file:
            file.write("srv-0001-broken,srv-0001,not a time,x,not a number,,maybe,\r\n")

    failed = export_then_load(airflow, sandbox, postgres, tmp_path, before_load=break_last_row)
    output = failed.stdout + failed.stderr  # `tasks test` exits 0 after a failed task: read what it says
    assert "Task failed with exception" in output and "invalid input syntax" in output, output[-5000:]
    assert "Loaded " not in output
    assert table(postgres) == loaded  # rolled back: the delete too
