"""Export new survey responses as they arrive, without a schedule (Airflow 3.0+: event-driven scheduling).

An ``AssetWatcher`` runs :class:`SurveySphereNewRecordsTrigger` in the triggerer: it polls the survey's
response count and, when it grows, records an asset event, which starts this DAG. The export then writes
every response after its own high-water mark (the newest part in the export folder) to the next part:

* wake-ups are at least once (after a triggerer restart the watcher fires once more for what it sees);
* records are exactly once in the output: a wake-up with nothing new writes nothing, a failed export
  publishes nothing and the next one redoes it, an export racing another fails without publishing (the
  rules, ties and null timestamps included: ``airflow_provider_surveysphere.incremental``, docs/waiting.md).

On Airflow 2.11 there are no asset watchers: the DAG is still defined (so the file imports cleanly) and
its only task skips with a message saying so.

Change for your account: the endpoint (the sandbox's illustrative path), the survey, the poll interval
and the export location (the Variable ``surveysphere_export_base``, else a folder under AIRFLOW_HOME).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from importlib.metadata import version

from airflow.providers.common.compat.sdk import DAG, AirflowSkipException, Asset, task
from airflow_provider_surveysphere.triggers.surveysphere import SurveySphereNewRecordsTrigger

AIRFLOW_3 = int(version("apache-airflow").split(".")[0]) >= 3
DEFAULT_EXPORT_BASE = os.path.join(os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow")), "surveysphere-exports")
# A watcher's trigger is fixed when the DAG is parsed (no templates): these come from the environment.
SURVEY_ID = os.environ.get("SURVEYSPHERE_EXAMPLE_LIVE_SURVEY", "srv-0001")
POLL_INTERVAL = float(os.environ.get("SURVEYSPHERE_EXAMPLE_POLL_INTERVAL", "60"))
# CHANGE ME: the sandbox's illustrative endpoint.
RESPONSES = f"api/v1/surveys/{SURVEY_ID}/responses"

if AIRFLOW_3:
    from airflow.sdk import AssetWatcher

    new_responses = Asset(
        name=f"surveysphere_{SURVEY_ID}_responses",
        watchers=[
            AssetWatcher(
                name=f"surveysphere_{SURVEY_ID}_new_responses",
                trigger=SurveySphereNewRecordsTrigger(
                    endpoint=RESPONSES,
                    watermark_key="totalCount",
                    query_params={"pageSize": 1},  # only the count is read
                    poll_interval=POLL_INTERVAL,
                ),
            )
        ],
    )
    schedule: list[Asset] | None = [new_responses]
else:
    schedule = None

with DAG(
    dag_id="surveysphere_new_responses",
    description="Export new SurveySphere responses as they arrive (event-driven, Airflow 3)",
    schedule=schedule,
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,  # one export at a time: a racing one would fail (publishing nothing) and redo its work
    tags=["surveysphere", "example"],
) as dag:

    # One XCom (return_value), not one per key: "since" is None on the first export, and Airflow 3.0 refuses
    # an XCom whose value is None (apache/airflow#55062, fixed in 3.1).
    @task(retries=2, multiple_outputs=False)
    def export_new_responses() -> dict:
        if not AIRFLOW_3:
            raise AirflowSkipException(
                "surveysphere_new_responses needs Airflow 3.0+ (AssetWatcher event-driven scheduling); "
                "on Airflow 2 schedule surveysphere_daily_export instead"
            )
        from airflow.providers.common.compat.sdk import Variable
        from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
        from airflow_provider_surveysphere.incremental import export_new_records
        from airflow_provider_surveysphere.pagination import PageNumberPagination

        base = Variable.get("surveysphere_export_base", default=DEFAULT_EXPORT_BASE)
        result = export_new_records(
            SurveySphereHook(),
            RESPONSES,
            f"{base}/new-responses/survey={SURVEY_ID}",
            pagination=PageNumberPagination(page_param="page", size_param="pageSize", page_size=1000),
            records_key="data",
            time_key="submitted_at",
            id_key="id",
        )
        print(f"Exported {result['records']} new responses since {result['since']} to {result['path']}")
        return result

    export_new_responses()
