"""Test-only DAG: the README's operator example, run as written, and a templated storage connection.

``export_responses`` is the code block of README.md's "The operator" section, executed verbatim
inside this DAG (so the README cannot drift from what runs); ``export_gzip`` picks its storage
connection from a template and compresses by suffix.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG, Param
from airflow.timetables.interval import CronDataIntervalTimetable
from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator
from airflow_provider_surveysphere.pagination import PageNumberPagination

README = Path(__file__).resolve().parents[3] / "README.md"
SECTION = README.read_text().split("## The operator", 1)[1]
README_EXAMPLE = re.search(r"```python\n(.*?)```", SECTION, re.S).group(1)

with DAG(
    dag_id="surveysphere_s3_export",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"retries": 0},
    params={"storage_conn": Param("moto_s3", type="string")},
    tags=["surveysphere", "test"],
) as dag:
    exec(README_EXAMPLE)  # the README's example, exactly as a reader would paste it
    SurveySphereOperator(
        task_id="export_gzip",
        endpoint="api/v1/surveys/srv-0002/responses",
        query_params={"since": "{{ data_interval_start.isoformat() }}", "until": "{{ data_interval_end.isoformat() }}"},
        pagination=PageNumberPagination(page_size=500),
        records_key="data",
        output_path="s3://exports-dag/surveysphere/{{ ds }}/srv-0002.jsonl.gz",
        output_conn_id="{{ params.storage_conn }}",
    )
