"""Test-only DAG: ``query_params`` given as one template, so that Airflow renders it to a string.

Without ``render_template_as_native_obj`` the ``{{ params.window }}`` dict renders to the text
``"{'since': ..., 'until': ...}"``; the operator must filter by it, or fail naming ``query_params``.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.providers.common.compat.sdk import DAG
from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator
from airflow_provider_surveysphere.pagination import PageNumberPagination

with DAG(
    dag_id="surveysphere_templated_params",
    schedule=None,
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    params={"window": {"since": "2026-11-01T00:00:00+00:00", "until": "2026-11-01T06:00:00+00:00"}},
    default_args={"retries": 0},
    tags=["surveysphere", "test"],
) as dag:
    SurveySphereOperator(
        task_id="export_window",
        endpoint="api/v1/surveys/srv-0001/responses",
        query_params="{{ params.window }}",
        pagination=PageNumberPagination(page_size=500),
        records_key="data",
        output_path="{{ var.value.surveysphere_export_base }}/window.jsonl",
    )
