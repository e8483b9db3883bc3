"""List every survey, then export each survey's responses of the day in a task of its own.

Dynamic task mapping (``expand_kwargs``) makes one task instance per survey, so the exports spread
over the workers of any executor (Celery, Kubernetes, ...); each task run fetches its own single token.

Change for your account: the endpoints (the local sandbox's illustrative paths here) and the export
location (the ``export_base`` param or the ``surveysphere_export_base`` Variable).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param, task
from airflow.timetables.interval import CronDataIntervalTimetable
from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator
from airflow_provider_surveysphere.pagination import PageNumberPagination

DEFAULT_EXPORT_BASE = os.path.join(os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow")), "surveysphere-exports")

with DAG(
    dag_id="surveysphere_fanout_export",
    description="Export every survey's responses of the day, one mapped task per survey",
    # Interval semantics on both Airflow lines: the run after midnight covers the whole day before
    # (Airflow 3's "@daily" alone would give a zero-length data interval).
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    params={"export_base": Param(None, type=["null", "string"], description="Folder or object storage URL")},
    default_args={"retries": 2},
    tags=["surveysphere", "example"],
) as dag:

    @task
    def list_exports(**context: Any) -> list[dict[str, Any]]:
        """One export per survey: its endpoint and its dated output path."""
        from airflow.providers.common.compat.sdk import Variable

        base = context["params"]["export_base"] or Variable.get("surveysphere_export_base", DEFAULT_EXPORT_BASE)
        day = context["data_interval_start"].strftime("%Y-%m-%d")
        hook = SurveySphereHook("surveysphere_default")
        # CHANGE ME: the sandbox's illustrative endpoint that lists surveys.
        surveys = hook.paginate("api/v1/surveys", pagination=PageNumberPagination(page_size=100), records_key="data")
        return [
            {
                "endpoint": f"api/v1/surveys/{survey['id']}/responses",
                "output_path": f"{base}/survey={survey['id']}/{day}.jsonl",
            }
            for survey in surveys
        ]

    SurveySphereOperator.partial(
        task_id="export_survey",
        surveysphere_conn_id="surveysphere_default",
        query_params={
            "since": "{{ data_interval_start.isoformat() }}",
            "until": "{{ data_interval_end.isoformat() }}",
        },
        pagination=PageNumberPagination(page_size=500),
        records_key="data",
    ).expand_kwargs(list_exports())
