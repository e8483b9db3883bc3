"""Wait until a survey closes, without holding a worker slot, then export all of its responses.

The sensor defers: the triggerer polls the survey every ``poke_interval`` seconds (one token for the
whole wait), and the task comes back to a worker only when ``status`` is ``closed``. The export then
writes every response of the survey, once, to one JSON Lines file (a rerun overwrites it).

Change for your account: the endpoints (the paths here are the local sandbox's illustrative ones:
SurveySphere's data API is not published with this provider) and the export location (the
``export_base`` param, else the Variable ``surveysphere_export_base``, else a folder under AIRFLOW_HOME).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from airflow.providers.common.compat.sdk import DAG, Param
from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator
from airflow_provider_surveysphere.pagination import PageNumberPagination
from airflow_provider_surveysphere.sensors.surveysphere import SurveySphereSensor

DEFAULT_EXPORT_BASE = os.path.join(os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow")), "surveysphere-exports")
# Seconds between two looks at the survey; the end-to-end tests shorten it through the environment.
POKE_INTERVAL = float(os.environ.get("SURVEYSPHERE_EXAMPLE_POKE_INTERVAL", "300"))

with DAG(
    dag_id="surveysphere_export_when_closed",
    description="Wait (deferred) until a survey closes, then export all its responses",
    schedule=None,
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    catchup=False,
    params={
        "survey_id": Param("srv-0001", type="string", description="The survey to wait for and export"),
        "wait_for_status": Param("closed", type="string", description="The status that ends the wait"),
        "export_base": Param(None, type=["null", "string"], description="Folder or object storage URL"),
    },
    tags=["surveysphere", "example"],
) as dag:
    wait_until_closed = SurveySphereSensor(
        task_id="wait_until_closed",
        # CHANGE ME: the sandbox's illustrative endpoint.
        endpoint="api/v1/surveys/{{ params.survey_id }}",
        condition={"key": "status", "equals": "{{ params.wait_for_status }}"},  # rendered before deferring
        deferrable=True,
        poke_interval=POKE_INTERVAL,
        timeout=timedelta(days=14).total_seconds(),
        # retries only for transient failures; a wrong endpoint or credentials fail at once
        retries=2,
    )
    export_all_responses = SurveySphereOperator(
        task_id="export_all_responses",
        endpoint="api/v1/surveys/{{ params.survey_id }}/responses",
        pagination=PageNumberPagination(page_param="page", size_param="pageSize", page_size=1000),
        records_key="data",
        output_path=(
            "{{ params.export_base or var.value.get('surveysphere_export_base', '"
            + DEFAULT_EXPORT_BASE
            + "') }}/closed-surveys/survey={{ params.survey_id }}/responses.jsonl"
        ),
    )
    wait_until_closed >> export_all_responses
