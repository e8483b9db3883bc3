"""A local SurveySphere API sandbox: the published token endpoint plus sandbox-only data endpoints.

Start one in a test with::

    from airflow_provider_surveysphere.sandbox import SandboxServer

    with SandboxServer() as sandbox:
        ...  # sandbox.base_url, sandbox.config.client_id / client_secret, sandbox.stats

or from a shell with ``surveysphere-sandbox --port 8080`` (``python -m
airflow_provider_surveysphere.sandbox``).
"""

from __future__ import annotations

from airflow_provider_surveysphere.sandbox.data import Dataset
from airflow_provider_surveysphere.sandbox.server import (
    RequestRecord,
    SandboxConfig,
    SandboxServer,
    token_fingerprint,
)

__all__ = ["Dataset", "RequestRecord", "SandboxConfig", "SandboxServer", "token_fingerprint"]
