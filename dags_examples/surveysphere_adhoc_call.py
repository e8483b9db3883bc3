"""A small ad-hoc call: read one survey, pass its state through XCom, act on it downstream.

The operator returns the JSON answer (here reduced by ``response_filter``) to XCom; a TaskFlow task
uses it. Change the endpoint for your account: this is the local sandbox's illustrative path.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param, task
from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator


def survey_state(response: Any) -> dict[str, Any]:
    """Keep only what downstream tasks need: XCom is for metadata, not data."""
    survey = response.json()
    return {"id": survey["id"], "status": survey["status"], "title": survey["title"]}


with DAG(
    dag_id="surveysphere_adhoc_call",
    description="Check a survey's state before a downstream job",
    schedule=None,
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    catchup=False,
    params={"survey_id": Param("srv-0001", type="string")},
    tags=["surveysphere", "example"],
) as dag:
    get_survey = SurveySphereOperator(
        task_id="get_survey",
        endpoint="api/v1/surveys/{{ params.survey_id }}",  # CHANGE ME: the sandbox's illustrative path
        response_filter=survey_state,
    )

    @task
    def report(survey: dict[str, Any]) -> str:
        """Downstream use of the XCom value."""
        message = f"Survey {survey['id']} ({survey['title']}) is {survey['status']}"
        print(message)
        return message

    report(get_survey.output)
