"""Scenario 2 of tests/distributed: one long export to S3, whose task process or worker the test kills.

The output key is chosen per kill case (``case`` param); a part of 5 MiB (S3's least) makes the export of one
survey's 40,320 responses (about 7 MiB) a multipart upload of two parts.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.providers.common.compat.sdk import DAG, Param
from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator
from airflow_provider_surveysphere.pagination import PageNumberPagination

with DAG(
    dag_id="surveysphere_dist_crash",
    schedule=None,
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    catchup=False,
    params={"case": Param("manual", type="string"), "survey_id": Param("srv-0002", type="string")},
    tags=["surveysphere", "test"],
) as dag:
    SurveySphereOperator(
        task_id="export_all_responses",
        endpoint="api/v1/surveys/{{ params.survey_id }}/responses",
        pagination=PageNumberPagination(page_param="page", size_param="pageSize", page_size=1000),
        records_key="data",
        output_path="{{ var.value.surveysphere_export_base }}/crash/{{ params.case }}/responses.jsonl",
        output_part_size=5 * 2**20,
        retries=3,
        retry_delay=timedelta(seconds=1),
    )
