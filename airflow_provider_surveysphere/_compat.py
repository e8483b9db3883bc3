"""The one Airflow symbol ``common.compat.sdk`` cannot give on every supported Python.

``mask_secret`` joined ``airflow.providers.common.compat.sdk`` in compat 1.21, which needs Python 3.11;
on Python 3.10 the newest compat is 1.20, so there the masker is taken from where each Airflow line keeps it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # type-checked against the compat of the pinned locks, which has it
    from airflow.providers.common.compat.sdk import mask_secret
else:
    try:
        from airflow.providers.common.compat.sdk import mask_secret
    except ImportError:  # compat < 1.21 (Python 3.10)
        try:
            from airflow.sdk.log import mask_secret
        except ImportError:
            from airflow.utils.log.secrets_masker import mask_secret

__all__ = ["mask_secret"]
