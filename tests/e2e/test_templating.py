"""A real DAG run renders ``query_params="{{ params.window }}"`` to a string: it must still filter, or fail clearly."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.e2e.conftest import expected_ids, read_ids

pytestmark = pytest.mark.e2e

TEST_DAGS = Path(__file__).parent / "dags"
DAG_ID = "surveysphere_templated_params"


def test_a_dict_rendered_to_a_string_filters_the_export(run_dag, sandbox):
    run = run_dag(DAG_ID, AIRFLOW__CORE__DAGS_FOLDER=str(TEST_DAGS))
    assert run.result.returncode == 0, run.output[-5000:]
    (path,) = run.files()
    since, until = datetime(2026, 11, 1, tzinfo=timezone.utc), datetime(2026, 11, 1, 6, tzinfo=timezone.utc)
    assert read_ids(path) == expected_ids(sandbox, 1, since, until)  # 6 hours, not the whole survey
    data = [r.path for r in sandbox.request_log if "/responses" in r.path]
    assert data and all("since=2026-11-01T00" in p and "until=2026-11-01T06" in p for p in data)


def test_a_string_that_is_not_a_mapping_fails_naming_the_field(run_dag, sandbox):
    run = run_dag(DAG_ID, conf={"window": "open surveys"}, AIRFLOW__CORE__DAGS_FOLDER=str(TEST_DAGS))
    assert "query_params: rendered to 'open surveys', not a JSON object or Python dict literal" in run.output
    assert run.files() == []
    assert not [r for r in sandbox.request_log if "/responses" in r.path]  # failed before any data request
