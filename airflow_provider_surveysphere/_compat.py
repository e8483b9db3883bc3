"""Registering a secret with Airflow's masker, on every supported Airflow line and Python.

``mask_secret`` joined ``airflow.providers.common.compat.sdk`` in compat 1.21, which needs Python 3.11;
on Python 3.10 the newest compat is 1.20, so there the masker is taken from where each Airflow line keeps it.

Airflow 3.0 leaks what it is told to mask when a task runs under its in-process supervisor (``airflow dags
test``, ``dag.test()``): its ``mask_secret`` sends a ``MaskSecret(value=...)`` message before it registers the
value, the in-process channel logs every message it sends at debug level, and in that process structlog is left
unconfigured (every level printed, nothing masked). Airflow 3.1 registers the value first and configures
structlog; the channel still logs, masked. There the supervisor is this process and uses the same masker, so
the provider registers its values with that masker directly and sends nothing.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # type-checked against the compat of the pinned locks, which has it
    from airflow.providers.common.compat.sdk import mask_secret as _airflow_mask_secret
else:
    try:
        from airflow.providers.common.compat.sdk import mask_secret as _airflow_mask_secret
    except ImportError:  # compat < 1.21 (Python 3.10)
        try:
            from airflow.sdk.log import mask_secret as _airflow_mask_secret
        except ImportError:
            from airflow.utils.log.secrets_masker import mask_secret as _airflow_mask_secret

__all__ = ["mask_secret"]


def mask_secret(secret: str, name: str | None = None) -> None:
    """Have Airflow mask ``secret`` wherever it would appear in logs, never writing it anywhere itself."""
    if _airflow_3_0_in_process_supervisor():
        # The one masker of this process: the in-process supervisor would add the value to it on MaskSecret.
        masker = importlib.import_module("airflow.sdk.execution_time.secrets_masker")
        masker._secrets_masker().add_mask(secret, name)
    else:
        _airflow_mask_secret(secret, name)


def _airflow_3_0_in_process_supervisor() -> bool:
    """Tell whether this task runs on Airflow 3.0 under the in-process supervisor of ``dags test``."""
    supervisor = sys.modules.get("airflow.sdk.execution_time.supervisor")
    task_runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    if supervisor is None or task_runner is None:  # not a task of Airflow 3 (or no task at all)
        return False
    in_process = getattr(supervisor, "InProcessSupervisorComms", None)
    if in_process is None or not isinstance(getattr(task_runner, "SUPERVISOR_COMMS", None), in_process):
        return False
    from airflow import __version__ as airflow_version

    return airflow_version.split(".")[:2] == ["3", "0"]
