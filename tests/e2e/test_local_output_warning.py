"""``airflow dags test`` runs its tasks in its own process on Airflow 3, whatever executor the configuration names:
a local output path there is no other worker's disk, so the export does not warn (tests/unit/test_executor_warning.py
covers the executors). Airflow 2.11 gives a task no sign of ``dags test``; there the configuration decides."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from tests.e2e.conftest import read_ids

pytestmark = pytest.mark.skipif(
    version("apache-airflow").startswith("2."), reason="Airflow 2.11 gives the task no sign of dags test"
)


def test_dags_test_with_a_celery_configuration_does_not_warn_about_a_local_path(run_dag):
    run = run_dag("surveysphere_daily_export", AIRFLOW__CORE__EXECUTOR="CeleryExecutor")
    assert run.result.returncode == 0, run.output[-5000:]
    (path,) = run.files()
    assert len(read_ids(path)) == 2880
    assert "Exporting" in run.output  # the task's log is in the output searched
    assert "is a local path" not in run.output
