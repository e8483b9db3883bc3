"""Test-only DAG: an export whose template cannot render, with retries that must not be spent.

The deployment test triggers it and expects one failed try at once (the operator turns Jinja errors
into a permanent error), not a task waiting five minutes for each of its two retries.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.providers.common.compat.sdk import DAG
from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator

with DAG(
    dag_id="surveysphere_bad_template",
    schedule=None,
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["surveysphere", "test"],
) as dag:
    SurveySphereOperator(
        task_id="export_responses",
        endpoint="api/v1/surveys/srv-0001/responses",
        query_params={"since": "{{ no_such_name.isoformat() }}"},
    )
