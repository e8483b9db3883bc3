"""Every night, export the survey responses of the day before to a dated JSON Lines file.

The run for the interval [data_interval_start, data_interval_end) asks for exactly the responses
submitted in that half-open window, so consecutive runs never overlap nor leave a gap, and a rerun
of an interval overwrites its own file.

Change for your account: the ``endpoint`` (the paths here are the local sandbox's own illustrative
paths: SurveySphere's data API is not published with this provider), ``survey_id``, and the export
location: the ``export_base`` param, else the Airflow Variable ``surveysphere_export_base``, else a
folder under AIRFLOW_HOME. Any object storage URL Airflow knows (``s3://bucket/prefix``, ...) works.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

from airflow.providers.common.compat.sdk import DAG, Param
from airflow.timetables.interval import CronDataIntervalTimetable
from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator
from airflow_provider_surveysphere.pagination import PageNumberPagination

DEFAULT_EXPORT_BASE = os.path.join(os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow")), "surveysphere-exports")

with DAG(
    dag_id="surveysphere_daily_export",
    description="Export yesterday's SurveySphere responses to JSON Lines",
    # Interval semantics on both Airflow lines: the run after midnight covers the whole day before
    # (Airflow 3's "@daily" alone would give a zero-length data interval).
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    params={
        "survey_id": Param("srv-0001", type="string", description="The survey to export"),
        "export_base": Param(None, type=["null", "string"], description="Folder or object storage URL"),
    },
    default_args={"retries": 2},
    tags=["surveysphere", "example"],
) as dag:
    export_responses = SurveySphereOperator(
        task_id="export_responses",
        surveysphere_conn_id="surveysphere_default",
        # CHANGE ME: the sandbox's illustrative endpoint; use your account's responses endpoint.
        endpoint="api/v1/surveys/{{ params.survey_id }}/responses",
        query_params={
            "since": "{{ data_interval_start.isoformat() }}",  # inclusive
            "until": "{{ data_interval_end.isoformat() }}",  # exclusive
        },
        # totalPages tells how many pages there are, so max_concurrency fetches exactly those, 4 at a time.
        pagination=PageNumberPagination(
            page_param="page", size_param="pageSize", page_size=500, total_pages_key="totalPages"
        ),
        records_key="data",
        max_concurrency=4,
        output_path=(
            "{{ params.export_base or var.value.get('surveysphere_export_base', '"
            + DEFAULT_EXPORT_BASE
            + "') }}/survey={{ params.survey_id }}/{{ data_interval_start.strftime('%Y-%m-%d') }}.jsonl"
        ),
    )
