"""The one Airflow symbol ``common.compat.sdk`` cannot give on every supported Python.

``mask_secret`` joined ``airflow.providers.common.compat.sdk`` in compat 1.21, which needs Python 3.11;
on Python 3.10 the newest compat is 1.20, so there the masker is taken from where each Airflow line keeps it.
"""

from __future__ import annotations

try:
    from airflow.providers.common.compat.sdk import mask_secret
except ImportError:  # compat < 1.21 (Python 3.10)
    try:
        from airflow.sdk.log import mask_secret  # type: ignore[no-redef]
    except ImportError:
        from airflow.utils.log.secrets_masker import mask_secret  # type: ignore[no-redef]

__all__ = ["mask_secret"]
