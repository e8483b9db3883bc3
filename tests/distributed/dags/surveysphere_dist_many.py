"""Scenario 6 of tests/distributed: 20 mapped exports at once against one API, limited by an Airflow pool.

Each export asks for up to ``max_concurrency=4`` pages at once; the ``surveysphere_api`` pool (created by the test
with 2 slots) lets 2 exports run at a time: 2 x 4 = 8 requests in flight, the sandbox's limit.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param, Variable, task
from airflow_provider_surveysphere.lineage import export_alias
from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator
from airflow_provider_surveysphere.pagination import PageNumberPagination

EXPORTS = 20
SURVEYS = 8

with DAG(
    dag_id="surveysphere_dist_many",
    schedule=None,
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    catchup=False,
    params={"day": Param("2026-11-30", type="string", format="date")},
    tags=["surveysphere", "test"],
) as dag:

    @task
    def list_exports(**context: Any) -> list[dict[str, Any]]:
        since = datetime.strptime(context["params"]["day"], "%Y-%m-%d").replace(tzinfo=timezone.utc)
        until = since + timedelta(days=1)
        base = Variable.get("surveysphere_export_base")
        return [
            {
                "endpoint": f"api/v1/surveys/srv-{index % SURVEYS + 1:04d}/responses",
                "query_params": {"since": since.isoformat(), "until": until.isoformat()},
                "output_path": f"{base}/many/export={index:02d}.jsonl",
            }
            for index in range(EXPORTS)
        ]

    SurveySphereOperator.partial(
        task_id="export",
        pagination=PageNumberPagination(page_size=50),
        records_key="data",
        max_concurrency=4,
        pool="surveysphere_api",
        retries=1,
        retry_delay=timedelta(seconds=1),
        outlets=[export_alias("surveysphere_dist_many", "export")],  # as the fan-out example does, and why
    ).expand_kwargs(list_exports())
