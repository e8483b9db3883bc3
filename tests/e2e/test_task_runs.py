"""Real task instances with retries=2: a permanent error is tried once, a transient one three times.

The DAG is tests/e2e/dags/surveysphere_task_runs.py; each try of each task appends a line to a file.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

TEST_DAGS = Path(__file__).parent / "dags"


def test_permanent_errors_use_no_retries_and_transient_ones_use_them_all(run_dag, sandbox, tmp_path):
    tries = tmp_path / "tries.txt"
    down = json.dumps({"conn_type": "surveysphere", "host": "http://127.0.0.1:1", "login": "id",
                       "password": "secret-value", "extra": {"max_retries": 0, "timeout": 5}})
    run = run_dag("surveysphere_task_runs", AIRFLOW__CORE__DAGS_FOLDER=str(TEST_DAGS),
                  AIRFLOW_CONN_SURVEYSPHERE_DOWN=down, SURVEYSPHERE_TEST_TRIES=str(tries))
    counts = Counter(tries.read_text().split())
    assert counts == {"permanent": 1, "transient": 3, "survey-1": 1, "survey-2": 1}, run.output[-5000:]
    assert "GET /api/v1/surveys/srv-9999 answered 404" in run.output
    assert len([r for r in sandbox.request_log if r.path.startswith("/api/v1/surveys/srv-9999")]) == 1
    # Every task instance that reached the sandbox had a token of its own: the two mapped ones and permanent.
    assert sandbox.stats["tokens_issued"] == 3
