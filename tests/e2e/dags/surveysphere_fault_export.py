"""Test-only DAG: the daily export of one survey, with the page size from the environment and no task retries.

The fault and secret tests run it through ``airflow dags test`` (AIRFLOW__CORE__DAGS_FOLDER points
here). Small pages make many requests, so that the sandbox's every-Nth-request faults hit an export
of thousands of records many times; ``retries=0`` makes any failure the hook does not absorb fail
the run, so a passing run proves the hook's own retries and token renewal were enough.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

from airflow.providers.common.compat.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable
from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator
from airflow_provider_surveysphere.pagination import PageNumberPagination

PAGE_SIZE = int(os.environ.get("SURVEYSPHERE_TEST_PAGE_SIZE", "100"))

with DAG(
    dag_id="surveysphere_fault_export",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"retries": 0},
    tags=["surveysphere", "test"],
) as dag:
    SurveySphereOperator(
        task_id="export_responses",
        endpoint="api/v1/surveys/srv-0001/responses",
        query_params={"since": "{{ data_interval_start.isoformat() }}", "until": "{{ data_interval_end.isoformat() }}"},
        pagination=PageNumberPagination(page_size=PAGE_SIZE),
        records_key="data",
        output_path="{{ var.value.surveysphere_export_base }}/survey=srv-0001/{{ data_interval_start.strftime('%Y-%m-%d') }}.jsonl",
    )
