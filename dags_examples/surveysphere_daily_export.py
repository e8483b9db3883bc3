"""Every night, export the survey responses of the day before to a dated JSON Lines (or CSV, Parquet) file.

The run for the interval [data_interval_start, data_interval_end) asks for exactly the responses
submitted in that half-open window, so consecutive runs never overlap nor leave a gap, and a rerun
of an interval overwrites its own file. A manual run exports the day given in the ``day`` param, else
its data interval, else (Airflow 3 without a logical date: no data interval) the day before it was
triggered. To re-export past days, backfill (see docs/deployment.md) or trigger with ``{"day": "YYYY-MM-DD"}``.

Change for your account: the ``endpoint`` (the paths here are the local sandbox's own illustrative
paths: SurveySphere's data API is not published with this provider), ``survey_id``, and the export
location: the ``export_base`` param, else the Airflow Variable ``surveysphere_export_base``, else a
folder under AIRFLOW_HOME. Any object storage URL Airflow knows (``s3://bucket/prefix``, ...) works.
The file's format (its extension picks it): the ``format`` param, else the Variable ``surveysphere_export_format``,
else ``jsonl``; ``csv`` feeds the warehouse load of surveysphere_warehouse_load.py.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param
from airflow.timetables.interval import CronDataIntervalTimetable
from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator
from airflow_provider_surveysphere.pagination import PageNumberPagination

DEFAULT_EXPORT_BASE = os.path.join(os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow")), "surveysphere-exports")


def export_window(day: str | None, dag_run: Any) -> tuple[datetime, datetime]:
    """The half-open UTC window [since, until) a run exports (a template macro).

    :param day: the ``day`` param (``YYYY-MM-DD``), or None
    :param dag_run: the run; its data interval, else its trigger time (``run_after``) decides
    """
    if day:
        since = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        return since, since + timedelta(days=1)
    if dag_run.data_interval_start is not None and dag_run.data_interval_end > dag_run.data_interval_start:
        return dag_run.data_interval_start, dag_run.data_interval_end
    # Airflow 3, manual run without a logical date: no data interval; the whole UTC day before the trigger.
    until = dag_run.run_after.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return until - timedelta(days=1), until


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
        "day": Param(None, type=["null", "string"], format="date", description="UTC day to export (YYYY-MM-DD)"),
        "format": Param(None, type=["null", "string"], enum=[None, "jsonl", "csv", "parquet"], description="File format"),
    },
    user_defined_macros={"export_window": export_window},
    default_args={"retries": 2},
    tags=["surveysphere", "example"],
) as dag:
    export_responses = SurveySphereOperator(
        task_id="export_responses",
        surveysphere_conn_id="surveysphere_default",
        # CHANGE ME: the sandbox's illustrative endpoint; use your account's responses endpoint.
        endpoint="api/v1/surveys/{{ params.survey_id }}/responses",
        query_params={
            "since": "{{ export_window(params.day, dag_run)[0].isoformat() }}",  # inclusive
            "until": "{{ export_window(params.day, dag_run)[1].isoformat() }}",  # exclusive
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
            + "') }}/daily/survey={{ params.survey_id }}/{{ export_window(params.day, dag_run)[0].strftime('%Y-%m-%d') }}"
            ".{{ params.format or var.value.get('surveysphere_export_format', 'jsonl') }}"
        ),
        # Its CSV is loaded into a warehouse, not opened in a spreadsheet: values are written as they are
        # (docs/formats.md, formula safety). Keep the default True for files people open in Excel.
        csv_formula_safe=False,
    )
