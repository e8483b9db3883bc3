"""Template errors fail a SurveySphere task at once; the daily example's window for every kind of run."""

from __future__ import annotations

import importlib.util
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow.providers.common.compat.sdk import DAG, AirflowFailException
from airflow_provider_surveysphere.exceptions import SurveySphereTemplateError
from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator

DAILY = Path(__file__).resolve().parents[2] / "dags_examples" / "surveysphere_daily_export.py"
UTC = timezone.utc


def operator(**fields: object) -> SurveySphereOperator:
    with DAG("templating_test", schedule=None, start_date=datetime(2026, 11, 1, tzinfo=UTC)):
        return SurveySphereOperator(task_id="export", retries=2, **{"endpoint": "api/v1/x", **fields})  # type: ignore[arg-type]


def test_an_undefined_name_is_a_permanent_error_naming_the_task_and_the_name():
    op = operator(query_params={"since": "{{ data_interval_start.isoformat() }}"})

    with pytest.raises(SurveySphereTemplateError) as caught:
        op.render_template_fields({"params": {}})  # Airflow's own rendering, with its StrictUndefined

    assert isinstance(caught.value, AirflowFailException)  # the task runner does not retry it
    message = str(caught.value)
    assert "task 'export'" in message and "'data_interval_start' is undefined" in message
    assert "pass a logical date" in message


def test_a_syntax_error_in_a_nested_field_is_permanent_too():
    op = operator(headers={"X-Day": "{{ ds "})

    with pytest.raises(SurveySphereTemplateError, match="task 'export': a templated field failed to render"):
        op.render_template_fields({"params": {}, "ds": "2026-11-02"})


def test_fields_that_render_are_untouched():
    op = operator(endpoint="api/v1/surveys/{{ params.survey_id }}")
    op.render_template_fields({"params": {"survey_id": "srv-0002"}})

    assert op.endpoint == "api/v1/surveys/srv-0002"


@pytest.fixture(scope="module")
def export_window():
    spec = importlib.util.spec_from_file_location("daily_example_for_test", DAILY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.export_window


def run(start=None, end=None, run_after=None) -> SimpleNamespace:
    return SimpleNamespace(data_interval_start=start, data_interval_end=end, run_after=run_after)


def test_the_day_param_picks_the_day(export_window):
    since, until = export_window("2026-11-25", run(datetime(2026, 11, 28, tzinfo=UTC), datetime(2026, 11, 29, tzinfo=UTC)))
    assert (since, until) == (datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 11, 26, tzinfo=UTC))


def test_a_scheduled_run_exports_its_data_interval(export_window):
    interval = (datetime(2026, 11, 28, tzinfo=UTC), datetime(2026, 11, 29, tzinfo=UTC))
    assert export_window(None, run(*interval)) == interval


def test_a_manual_airflow_3_run_without_a_data_interval_exports_the_day_before_its_trigger(export_window):
    since, until = export_window(None, run(run_after=datetime(2026, 11, 29, 19, 30, tzinfo=UTC)))
    assert (since, until) == (datetime(2026, 11, 28, tzinfo=UTC), datetime(2026, 11, 29, tzinfo=UTC))
