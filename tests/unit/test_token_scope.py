"""One token per task run: task instances that differ in run id, map index or try number never share one.

Task instances run one after another in one process here (a worker running tasks in-process, or
``dag.test()``), with the shared process-wide cache. What Airflow's ``get_current_context()`` gives
the hook is replaced by each task instance's identity, the only thing the hook reads from it.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_surveysphere.hooks import surveysphere as hook_module
from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook

from tests.unit.conftest import TOKEN_URL, token_answer, token_calls


def task_instance(run_id: str = "scheduled__2026-11-02", map_index: int = -1, try_number: int = 1) -> Any:
    return SimpleNamespace(dag_id="export", task_id="responses", run_id=run_id, map_index=map_index,
                           try_number=try_number)


@pytest.fixture
def running(monkeypatch):
    """Make a task instance the running one, as Airflow's task runner does."""
    current: dict[str, Any] = {}

    def get_current_context() -> dict[str, Any]:
        if not current:
            raise RuntimeError("no task is running")  # what Airflow raises outside a task differs by line
        return current

    monkeypatch.setattr(hook_module, "get_current_context", get_current_context)

    def run(ti: Any) -> None:
        current.clear()
        current["ti"] = ti

    return run


def tokens_fetched_by(running, token_cache, mocked, task_instances: list[Any], calls_each: int = 3) -> int:
    mocked.post(TOKEN_URL, json=token_answer())
    for ti in task_instances:
        running(ti)
        hook = SurveySphereHook(token_cache=token_cache)
        for _ in range(calls_each):
            hook.get_token()
        hook.close()
    return len(token_calls(mocked))


@pytest.mark.parametrize(
    "task_instances",
    [
        [task_instance("scheduled__2026-11-02"), task_instance("scheduled__2026-11-03")],
        [task_instance(map_index=0), task_instance(map_index=1), task_instance(map_index=2)],
        [task_instance(try_number=1), task_instance(try_number=2)],
    ],
    ids=["run ids", "map indexes", "try numbers"],
)
def test_each_task_run_fetches_its_own_token(set_connection, token_cache, mocked, running, task_instances):
    assert tokens_fetched_by(running, token_cache, mocked, task_instances) == len(task_instances)


def test_hooks_within_one_task_run_share_its_token(set_connection, token_cache, mocked, running):
    same = [task_instance(map_index=4), task_instance(map_index=4)]  # two hooks in one task run
    assert tokens_fetched_by(running, token_cache, mocked, same) == 1


def test_a_token_of_one_run_is_not_reused_by_the_next_even_when_fresh(set_connection, token_cache, mocked, running):
    runs = [task_instance(run_id=f"manual__{n}") for n in range(5)]
    assert tokens_fetched_by(running, token_cache, mocked, runs, calls_each=1) == 5
