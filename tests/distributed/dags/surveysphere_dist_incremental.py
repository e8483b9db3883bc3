"""Scenario 5 of tests/distributed: an incremental export whose scheduled and manual runs may overlap.

Unlike the event-driven example (``max_active_runs=1``, which makes a second run wait), two runs are allowed at
once here, so that two exports of the same folder really race: the provider must keep every record exactly once
(the loser of the create-only publish fails with SurveySphereConcurrentExportError and its retry exports
what is left, nothing here).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.providers.common.compat.sdk import DAG, Variable, task
from airflow.timetables.interval import CronDataIntervalTimetable

SURVEY_ID = "srv-0005"

with DAG(
    dag_id="surveysphere_dist_incremental",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=2,
    tags=["surveysphere", "test"],
) as dag:

    @task(retries=2, retry_delay=timedelta(seconds=1))
    def export_new_responses() -> dict:
        from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
        from airflow_provider_surveysphere.incremental import export_new_records
        from airflow_provider_surveysphere.pagination import PageNumberPagination

        result = export_new_records(
            SurveySphereHook(),
            f"api/v1/surveys/{SURVEY_ID}/responses",
            f"{Variable.get('surveysphere_export_base')}/incremental/survey={SURVEY_ID}",
            pagination=PageNumberPagination(page_param="page", size_param="pageSize", page_size=500),
            records_key="data",
            time_key="submitted_at",
            id_key="id",
        )
        print(f"Exported {result['records']} new responses since {result['since']} to {result['path']}")
        return result

    export_new_responses()
