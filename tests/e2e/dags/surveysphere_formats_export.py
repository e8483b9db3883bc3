"""Test-only DAG: the same window of one survey exported as JSON Lines, CSV and Parquet (one task each).

The CSV and Parquet tasks take the format from the file's extension; Parquet's small row groups make the
export span several of them. Four pages in flight at once: the formats must keep the records in order.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.providers.common.compat.sdk import DAG
from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator
from airflow_provider_surveysphere.pagination import PageNumberPagination

with DAG(
    dag_id="surveysphere_formats_export",
    schedule=None,
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    default_args={"retries": 0},
    tags=["surveysphere", "test"],
) as dag:
    for extension in ("jsonl", "csv", "parquet"):
        SurveySphereOperator(
            task_id=f"export_{extension}",
            endpoint="api/v1/surveys/srv-0002/responses",
            query_params={"since": "2026-11-01T00:00:00+00:00", "until": "2026-11-01T12:00:00+00:00"},
            pagination=PageNumberPagination(page_size=200, total_pages_key="totalPages"),
            max_concurrency=4,
            records_key="data",
            row_group_size=500,
            output_path=f"{{{{ var.value.surveysphere_export_base }}}}/window.{extension}",
        )
