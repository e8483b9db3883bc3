"""Runs whenever the daily export has written a file: scheduled on the export's Asset, not on a clock.

The export task emits an Asset event for each file it writes (its URI changes with the day, so the event
goes through the task's asset alias, see docs/lineage.md). This DAG is scheduled on that alias and reads
what it needs from the triggering event: the file and its record count, with no call to SurveySphere.
Works on Airflow 3 (Assets) and on Airflow 2.11 (Datasets).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from airflow.providers.common.compat.sdk import DAG, task
from airflow_provider_surveysphere.lineage import export_alias, file_path, triggering_exports

with DAG(
    dag_id="surveysphere_export_downstream",
    description="Load each SurveySphere export once it is written",
    schedule=[export_alias("surveysphere_daily_export", "export_responses")],
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["surveysphere", "example"],
) as dag:

    @task
    def load_export(**context: Any) -> list[dict[str, Any]]:
        """Stand-in for a warehouse load: check each new file against its event's record count."""
        loaded = []
        for uri, extra in triggering_exports(context):
            # The URI is percent-encoded (a "#" in a path is "%23"): file_path gives the path to open.
            lines = sum(1 for _ in open(file_path(uri), "rb")) if uri.startswith("file://") else None
            print(f"New export {uri}: {extra['records']} records in {extra['pages']} pages from {extra['source']}")
            if lines is not None and lines != extra["records"]:
                raise ValueError(f"{uri} has {lines} lines but its asset event says {extra['records']} records")
            loaded.append({"uri": uri, "path": file_path(uri), "records": extra["records"], "window_start": extra.get("window_start")})
        print(json.dumps(loaded))
        return loaded

    load_export()
