"""A local SurveySphere API sandbox: the published token endpoint plus sandbox-only data endpoints.

Start one in a test with::

    from airflow_provider_surveysphere.sandbox import SandboxServer

    with SandboxServer() as sandbox:
        ...  # sandbox.base_url, sandbox.config.client_id / client_secret, sandbox.stats

or from a shell with ``surveysphere-sandbox --port 8080`` (``python -m
airflow_provider_surveysphere.sandbox``).

Modules, one job each:

* ``config`` -- :class:`SandboxConfig`, ``DEFAULT_START``, ``recent_start`` and validation helpers.
* ``data`` -- the generated surveys and responses (:class:`Dataset`), pages, timestamps.
* ``state`` -- tokens, counters, the request log and fault injection (:class:`RequestRecord`,
  :func:`token_fingerprint`).
* ``replies`` -- the reply and drop markers and the error replies.
* ``handlers`` -- the HTTP request handler: routing, endpoints, parameter parsing.
* ``certificates`` -- the throwaway CA and server certificate for HTTPS.
* ``server`` -- :class:`SandboxServer` and the HTTP server it runs.
* ``__main__`` -- the ``surveysphere-sandbox`` command line.
"""

from __future__ import annotations

from airflow_provider_surveysphere.sandbox.config import SandboxConfig
from airflow_provider_surveysphere.sandbox.data import Dataset
from airflow_provider_surveysphere.sandbox.server import SandboxServer
from airflow_provider_surveysphere.sandbox.state import RequestRecord, token_fingerprint

__all__ = ["Dataset", "RequestRecord", "SandboxConfig", "SandboxServer", "token_fingerprint"]
