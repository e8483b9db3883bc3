"""The deferrable sensor in a real DAG run (``airflow dags test`` runs the trigger in-process).

The survey closes only after the trigger has seen it open twice (a control call from a watcher thread),
so the run proves the task deferred, the trigger polled and the task resumed; a sensor that silently
poked instead would leave none of the trigger's or the deferral's traces these tests look for.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from importlib.metadata import version

import pytest

from tests.e2e.conftest import client_secret_scan, read_ids

pytestmark = pytest.mark.e2e

SURVEY_PATH = "/api/v1/surveys/srv-0001"
AIRFLOW_3 = int(version("apache-airflow").split(".")[0]) >= 3


def close_after_polls(sandbox, polls: int) -> threading.Event:
    """Close srv-0001 once the sandbox has answered ``polls`` GETs of it; returns the 'stop' event."""
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen = sum(1 for r in sandbox.request_log if r.method == "GET" and r.path == SURVEY_PATH and r.status == 200)
            if seen >= polls:
                sandbox.config.update({"close_at": datetime.now(timezone.utc).isoformat()})
                return
            stop.wait(0.05)

    threading.Thread(target=watch, daemon=True).start()
    return stop


def test_sensor_defers_polls_in_the_trigger_resumes_then_exports(run_dag, sandbox):
    sandbox.config.update({"close_survey": "srv-0001", "close_at": ""})
    stop = close_after_polls(sandbox, 2)
    try:
        run = run_dag("surveysphere_export_when_closed", SURVEYSPHERE_EXAMPLE_POKE_INTERVAL="0.5")
    finally:
        stop.set()
    assert run.result.returncode == 0, run.output[-5000:]
    out = run.output
    # deferred, the trigger ran (polled while open), the task resumed through execute_complete
    assert "[DAG TEST] running trigger in line" in out
    assert "Poll 1: the condition does not hold yet on api/v1/surveys/srv-0001" in out
    assert "Poll 2: the condition does not hold yet" in out
    assert "the condition holds on api/v1/surveys/srv-0001" in out
    assert "Resumed from the trigger: the condition holds" in out
    if AIRFLOW_3:  # Airflow 3 logs the state transition through its execution API
        assert "Pausing task as DEFERRED" in out and "new_state=deferred" in out
    survey_gets = [r for r in sandbox.request_log if r.path == SURVEY_PATH]
    assert len(survey_gets) >= 3
    # one token for the whole wait, one for the export task
    assert sandbox.stats["tokens_issued"] == 2
    (path,) = run.files()
    assert path.parent.name == "survey=srv-0001" and path.parent.parent.name == "closed-surveys"
    ids = read_ids(path)
    assert len(ids) == len(set(ids)) == sandbox.config.responses_per_survey
    assert sandbox.config.client_secret not in client_secret_scan(out)
    assert not [t for t in sandbox.issued_tokens if t in out]


def test_an_unknown_survey_fails_at_once_with_the_status(run_dag, sandbox):
    run = run_dag("surveysphere_export_when_closed", conf={"survey_id": "srv-9999"}, SURVEYSPHERE_EXAMPLE_POKE_INTERVAL="0.5")
    assert "[DAG TEST] running trigger in line" in run.output
    assert "the trigger failed after 1 poll(s): SurveySphere API GET /api/v1/surveys/srv-9999 answered 404" in run.output
    assert run.files() == []
    # a permanent error: no retry was spent (the example has retries=2), a single poll was made
    assert sum(1 for r in sandbox.request_log if r.path.startswith("/api/v1/surveys/srv-9999")) == 1


def test_new_responses_dag_exports_on_airflow_3_and_skips_clearly_on_2(run_dag, sandbox):
    sandbox.config.update({"live_survey": "srv-0001", "live_visible": 25})
    first = run_dag("surveysphere_new_responses")
    if not AIRFLOW_3:
        assert first.result.returncode == 0, first.output[-5000:]
        assert "surveysphere_new_responses needs Airflow 3.0+ (AssetWatcher event-driven scheduling)" in first.output
        assert first.files() == []
        return
    assert first.result.returncode == 0, first.output[-5000:]
    sandbox.config.update({"live_visible": 40})
    second = run_dag("surveysphere_new_responses", "2026-11-03")
    assert second.result.returncode == 0, second.output[-5000:]
    parts = second.files()
    assert [p.name for p in parts] == ["part-00000001.jsonl", "part-00000002.jsonl"]
    assert [len(read_ids(p)) for p in parts] == [25, 15]
    assert [i for p in parts for i in read_ids(p)] == [f"srv-0001-r{i:07d}" for i in range(1, 41)]
