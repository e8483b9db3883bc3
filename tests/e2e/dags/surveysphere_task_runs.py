"""Test-only DAG: real task instances with ``retries=2``; each try appends its task's name to a file.

``permanent`` meets a 404 (a permanent error: tried once), ``transient`` a connection that refuses
(a transient error: tried three times), and the mapped ``survey`` runs two task instances.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG, task
from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook


def record_try(name: str) -> None:
    with Path(os.environ["SURVEYSPHERE_TEST_TRIES"]).open("a") as tries:
        tries.write(name + "\n")


with DAG(
    dag_id="surveysphere_task_runs",
    schedule=None,
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    default_args={"retries": 2, "retry_delay": timedelta(seconds=0)},
    tags=["surveysphere", "test"],
) as dag:

    @task
    def permanent() -> None:
        record_try("permanent")
        SurveySphereHook().request("GET", "api/v1/surveys/srv-9999")

    @task
    def transient() -> None:
        record_try("transient")
        SurveySphereHook("surveysphere_down").request("GET", "api/v1/surveys")

    @task
    def survey(number: int) -> None:
        record_try(f"survey-{number}")
        SurveySphereHook().request("GET", f"api/v1/surveys/srv-000{number}")

    permanent()
    transient()
    survey.expand(number=[1, 2])
