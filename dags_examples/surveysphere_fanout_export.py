"""List every survey, then export each survey's responses of the day in a task of its own.

Dynamic task mapping (``expand_kwargs``) makes one task instance per survey, so the exports spread
over the workers of any executor (Celery, Kubernetes, ...); each task run fetches its own single token.

Change for your account: the endpoints (the local sandbox's illustrative paths here) and the export
location (the ``export_base`` param or the ``surveysphere_export_base`` Variable).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param, task
from airflow.timetables.interval import CronDataIntervalTimetable
from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
from airflow_provider_surveysphere.lineage import export_alias
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
    params={
        "export_base": Param(None, type=["null", "string"], description="Folder or object storage URL"),
        "day": Param(None, type=["null", "string"], format="date", description="UTC day to export (YYYY-MM-DD)"),
    },
    default_args={"retries": 2},
    tags=["surveysphere", "example"],
) as dag:

    @task
    def list_exports(**context: Any) -> list[dict[str, Any]]:
        """One export per survey: its endpoint, its window and its dated output path."""
        from airflow.providers.common.compat.sdk import Variable

        params, dag_run = context["params"], context["dag_run"]
        base = params["export_base"] or Variable.get("surveysphere_export_base", DEFAULT_EXPORT_BASE)
        if params["day"]:  # a past day, asked for by hand
            since = datetime.strptime(params["day"], "%Y-%m-%d").replace(tzinfo=timezone.utc)
            until = since + timedelta(days=1)
        elif dag_run.data_interval_start is not None and dag_run.data_interval_end > dag_run.data_interval_start:
            since, until = dag_run.data_interval_start, dag_run.data_interval_end
        else:  # Airflow 3, manual run without a logical date: the whole UTC day before the trigger
            until = dag_run.run_after.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
            since = until - timedelta(days=1)
        day = since.strftime("%Y-%m-%d")
        hook = SurveySphereHook("surveysphere_default")
        # CHANGE ME: the sandbox's illustrative endpoint that lists surveys.
        surveys = hook.paginate("api/v1/surveys", pagination=PageNumberPagination(page_size=100), records_key="data")
        return [
            {
                "endpoint": f"api/v1/surveys/{survey['id']}/responses",
                "query_params": {"since": since.isoformat(), "until": until.isoformat()},
                "output_path": f"{base}/fanout/survey={survey['id']}/{day}.jsonl",
            }
            for survey in surveys
        ]

    SurveySphereOperator.partial(
        task_id="export_survey",
        surveysphere_conn_id="surveysphere_default",
        pagination=PageNumberPagination(page_size=500),
        records_key="data",
        # A mapped export names its asset alias here, so that the DAG processor registers it: otherwise the
        # first mapped task runs finishing at once on a PostgreSQL deployment race to create it, and Airflow 3.3's
        # execution API fails the loser (a UniqueViolation on the alias name; seen by tests/distributed).
        outlets=[export_alias("surveysphere_fanout_export", "export_survey")],
    ).expand_kwargs(list_exports())
