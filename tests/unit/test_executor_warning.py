"""A local output path under an executor that is not local (Celery, Kubernetes, Edge, ...) logs one warning: a local
path on a worker is that worker's disk. The executor is the task's own, else the first of ``[core] executor``
(set here as Airflow reads it, through the environment)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from airflow_provider_surveysphere.executors import warn_if_local_output
from airflow_provider_surveysphere.incremental import export_new_records
from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator
from airflow_provider_surveysphere.output import OutputLocation
from airflow_provider_surveysphere.pagination import PageNumberPagination

from tests.unit.conftest import BASE_URL

RESPONSES = f"{BASE_URL}/api/v1/surveys/s1/responses"
CELERY = "airflow.providers.celery.executors.celery_executor.CeleryExecutor"


@pytest.fixture(autouse=True)
def operator_log(monkeypatch):
    """The operator's logger, one caplog sees (the task's own goes through structlog on Airflow 3)."""
    monkeypatch.setattr(SurveySphereOperator, "log", property(lambda self: logging.getLogger("operator-test")))


def export(hook, mocked_api, output_path, caplog, **kwargs) -> list[str]:
    mocked_api.get(RESPONSES, json={"data": [{"id": "r1", "submitted_at": "2026-11-01T00:00:00Z"}]})
    op = SurveySphereOperator(task_id="t", endpoint="api/v1/surveys/s1/responses", records_key="data",
                              pagination=PageNumberPagination(page_size=100), output_path=output_path, **kwargs)
    op.hook = hook
    with caplog.at_level(logging.WARNING):
        op.execute({})
    return [r.getMessage() for r in caplog.records if "is a local path" in r.getMessage()]


@pytest.mark.parametrize(
    ("configured", "task_executor", "warned"),
    [
        ("CeleryExecutor", None, "CeleryExecutor"),
        (CELERY, None, "CeleryExecutor"),
        ("KubernetesExecutor", None, "KubernetesExecutor"),
        ("airflow.providers.edge3.executors.EdgeExecutor", None, "EdgeExecutor"),
        ("LocalExecutor", None, None),
        ("SequentialExecutor", None, None),
        ("LocalExecutor,CeleryExecutor", None, None),  # the first is the default
        ("CeleryExecutor, LocalExecutor", None, "CeleryExecutor"),
        ("LocalExecutor,CeleryExecutor", "CeleryExecutor", "CeleryExecutor"),  # the task's own
        (f"LocalExecutor,celery:{CELERY}", "celery", "CeleryExecutor"),  # by alias
        (f"celery:{CELERY},LocalExecutor", "LocalExecutor", None),
        # Per-team executors (Airflow 3): the global list is the entry without "team=", wherever it stands.
        ("=LocalExecutor;team1=CeleryExecutor", None, None),
        ("team1=CeleryExecutor;LocalExecutor", None, None),
        ("team1=LocalExecutor;CeleryExecutor", None, "CeleryExecutor"),
    ],
)
def test_a_local_path_warns_once_under_an_executor_that_is_not_local(
    hook, mocked_api, tmp_path, caplog, monkeypatch, configured, task_executor, warned
):
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", configured)
    path = tmp_path / "out.jsonl"
    warnings = export(hook, mocked_api, str(path), caplog, **({"executor": task_executor} if task_executor else {}))
    if warned is None:
        assert warnings == []
    else:
        (message,) = warnings
        assert str(path) in message and warned in message and "that worker's disk" in message
    assert path.exists()  # a warning, not a refusal


def test_object_storage_does_not_warn(caplog, monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    task = SurveySphereOperator(task_id="t", endpoint="e")
    s3 = OutputLocation(url="s3://exports/out.jsonl", protocol="s3", conn_id=None)
    local = OutputLocation(url="/exports/out.jsonl", protocol="file", conn_id=None, local_path=Path("/exports/out.jsonl"))
    logger = logging.getLogger("operator-test")
    assert warn_if_local_output(s3, logger, task) is False
    assert warn_if_local_output(local, logger, task) is True  # the same task and executor, a local path


class Records:
    """The hook's paginate as export_new_records uses it."""

    pages = 1

    def paginate(self, *args, **kwargs):
        return self

    def iter_pages(self):
        yield type("Page", (), {"records": [{"id": "r1", "submitted_at": "2026-11-01T00:00:00Z"}]})


@pytest.mark.parametrize(("configured", "warns"), [("CeleryExecutor", True), ("LocalExecutor", False)])
def test_the_incremental_export_warns_for_the_running_task(tmp_path, caplog, monkeypatch, configured, warns):
    from airflow_provider_surveysphere import executors

    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", configured)
    task = SurveySphereOperator(task_id="t", endpoint="e")
    monkeypatch.setattr(executors, "get_current_context", lambda: {"task": task})
    with caplog.at_level(logging.WARNING):
        export_new_records(Records(), "e", tmp_path / "responses", pagination=None, records_key=None)
    assert ("is a local path" in caplog.text) is warns


def test_outside_a_task_the_incremental_export_does_not_warn(tmp_path, caplog, monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    with caplog.at_level(logging.WARNING):
        export_new_records(Records(), "e", tmp_path / "responses", pagination=None, records_key=None)
    assert "is a local path" not in caplog.text
