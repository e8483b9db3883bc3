"""Each example DAG, run by Airflow itself (``airflow dags test``) against the sandbox."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import DAY, client_secret_scan, expected_ids, read_ids

pytestmark = pytest.mark.e2e


def assert_no_secrets(run, sandbox) -> None:
    assert sandbox.config.client_secret not in client_secret_scan(run.output)
    for token in sandbox.issued_tokens:
        assert token not in run.output


def test_daily_export_writes_every_record_of_the_interval_exactly_once(run_dag, sandbox):
    run = run_dag("surveysphere_daily_export")
    assert run.result.returncode == 0, run.output[-5000:]
    (path,) = run.files()
    assert path.name == "2026-11-01.jsonl" and path.parent.name == "survey=srv-0001"
    ids = read_ids(path)
    assert ids == expected_ids(sandbox, 1, *DAY)  # complete, in order, each once
    assert len(ids) == 2880
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary file left
    assert sandbox.stats["tokens_issued"] == 1  # one task run, one token, 6 pages
    assert sandbox.stats["data_requests"] == 6
    assert_no_secrets(run, sandbox)


def test_daily_export_rerun_overwrites_its_own_file(run_dag, sandbox):
    first = run_dag("surveysphere_daily_export")
    assert first.result.returncode == 0, first.output[-5000:]
    second = run_dag("surveysphere_daily_export")
    assert second.result.returncode == 0, second.output[-5000:]
    (path,) = second.files()
    assert read_ids(path) == expected_ids(sandbox, 1, *DAY)


def test_consecutive_days_neither_overlap_nor_leave_gaps(run_dag, sandbox):
    for date in ("2026-11-02", "2026-11-03"):
        run = run_dag("surveysphere_daily_export", date)
        assert run.result.returncode == 0, run.output[-5000:]
    day1, day2 = run.files()
    ids1, ids2 = read_ids(day1), read_ids(day2)
    assert not set(ids1) & set(ids2)
    assert ids1 + ids2 == expected_ids(sandbox, 1, DAY[0], DAY[1].replace(day=3))


def test_fan_out_maps_one_task_and_one_token_per_survey(run_dag, sandbox):
    run = run_dag("surveysphere_fanout_export")
    assert run.result.returncode == 0, run.output[-5000:]
    files = run.files()
    surveys = [f"srv-{n:04d}" for n in range(1, 5)]
    assert [p.parent.name for p in files] == [f"survey={s}" for s in surveys]
    for number, path in enumerate(files, start=1):
        assert read_ids(path) == expected_ids(sandbox, number, *DAY)
    # list_exports + 4 mapped export tasks: one token for each task run, however many pages each reads
    assert sandbox.stats["tokens_issued"] == 1 + len(surveys)
    assert_no_secrets(run, sandbox)


def test_adhoc_call_passes_the_survey_state_downstream(run_dag, sandbox):
    run = run_dag("surveysphere_adhoc_call", conf={"survey_id": "srv-0002"})
    assert run.result.returncode == 0, run.output[-5000:]
    survey = sandbox.config.dataset().survey(2)
    assert f"Survey srv-0002 (Survey 2) is {survey['status']}" in run.output
    assert sandbox.stats["tokens_issued"] == 1
    assert_no_secrets(run, sandbox)
