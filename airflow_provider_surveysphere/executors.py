"""Which executor runs a task, and the warning for a local output path under one that is not local.

A local path on a Celery worker (or in a Kubernetes pod, on an Edge worker, ...) is that worker's disk: other
workers, a retry that lands elsewhere and the tasks downstream do not see it. So an export to a local path logs one
warning when the task's executor is not a local one (docs/deployment.md, "Distributed deployments").

The task's executor is its own ``executor`` argument, else the first (default) entry of ``[core] executor``, a
comma-separated list whose entries are a class name, a class path, or ``alias:class path``. Local executors:
``LocalExecutor``, ``SequentialExecutor`` and ``DebugExecutor``. A task run in the test's own process by
``airflow dags test`` / ``dag.test()`` on Airflow 3 runs no executor, so it gets no warning; Airflow 2.11 gives a
task no sign of that, so there the configuration decides. Hybrid executors (``LocalKubernetesExecutor``,
``CeleryKubernetesExecutor``) count as not local: some of their tasks run elsewhere.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import conf, get_current_context

if TYPE_CHECKING:
    from airflow_provider_surveysphere.output.destination import OutputLocation

LOCAL_EXECUTORS = frozenset({"LocalExecutor", "SequentialExecutor", "DebugExecutor"})


def configured_executors() -> list[tuple[str | None, str]]:
    """``[core] executor`` as ``(alias or None, class path or name)`` entries, the default first."""
    text = str(conf.get("core", "executor", fallback="") or "")
    # Airflow 3's per-team lists are ";"-separated "team=..." entries; the global one has no team (or an empty
    # one, "=..."), and need not come first (as Airflow's ExecutorLoader reads it).
    global_part = next((part.lstrip("=") for part in text.split(";") if "=" not in part.lstrip("=")), "")
    entries = []
    for item in (part.strip() for part in global_part.split(",")):
        if item:
            alias, _, path = item.rpartition(":")
            entries.append((alias or None, path))
    return entries


def executor_of(task: Any) -> str | None:
    """The class name of the executor that runs ``task`` (its own ``executor``, else the default)."""
    entries = configured_executors()
    chosen = getattr(task, "executor", None)
    if chosen:
        for alias, path in entries:
            if chosen in (alias, path, _class_name(path)):
                return _class_name(path)
        return _class_name(chosen)
    return _class_name(entries[0][1]) if entries else None


def _class_name(path: str) -> str:
    return path.rpartition(":")[2].rpartition(".")[2]


def _in_test_process() -> bool:
    """Airflow 3's ``dag.test()`` runs tasks in its own process, with in-process supervisor comms."""
    try:
        from airflow.sdk.execution_time import task_runner  # type: ignore[import-not-found, unused-ignore]
    except ImportError:  # Airflow 2
        return False
    return type(getattr(task_runner, "SUPERVISOR_COMMS", None)).__name__ == "InProcessSupervisorComms"


def runs_on_a_remote_executor(task: Any) -> str | None:
    """The executor's class name when ``task`` runs on one that is not local; None otherwise."""
    if _in_test_process():
        return None
    name = executor_of(task)
    return None if name is None or name in LOCAL_EXECUTORS else name


def warn_if_local_output(location: OutputLocation, log: logging.Logger | Any, task: Any = None) -> bool:
    """Log one warning when ``location`` is a local path and the task runs on an executor that is not local.

    :param location: the export's destination
    :param log: where to warn (the task's logger)
    :param task: the running task; None to take the current task's (no task running: no warning)
    :return: whether it warned
    """
    if not location.is_local:
        return False
    if task is None:
        try:
            task = get_current_context()["task"]
        except Exception:  # noqa: BLE001 - no task is running: Airflow raises a different error on each line
            return False
    executor = runs_on_a_remote_executor(task)
    if executor is None:
        return False
    log.warning(
        "output_path %s is a local path, and this task runs on the %s: a local path on a Celery worker (a "
        "Kubernetes pod, an Edge worker) is that worker's disk, which other workers, a retry that runs elsewhere "
        "and downstream tasks do not see. Export to object storage (s3://, gs://, ...) instead; see "
        "docs/deployment.md, Distributed deployments",
        location.url, executor,
    )
    return True
