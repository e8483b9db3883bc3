"""The sandbox server: :class:`SandboxServer` serves HTTP(S) (``_HTTPServer``) in a background thread.

A local stand-in for the SurveySphere REST API, for offline DAG runs, demos and tests; the endpoints
are described in :mod:`~airflow_provider_surveysphere.sandbox.handlers`. ``DEFAULT_START``,
``SandboxConfig``, ``RequestRecord`` and ``token_fingerprint`` are re-exported from their modules.
"""

from __future__ import annotations

import collections
import shutil
import ssl
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from airflow_provider_surveysphere.sandbox.certificates import _write_certificates
from airflow_provider_surveysphere.sandbox.config import DEFAULT_START, SandboxConfig
from airflow_provider_surveysphere.sandbox.handlers import _Handler
from airflow_provider_surveysphere.sandbox.listener import _HTTPServer
from airflow_provider_surveysphere.sandbox.state import RequestRecord, _State, token_fingerprint

__all__ = ["DEFAULT_START", "RequestRecord", "SandboxConfig", "SandboxServer", "token_fingerprint"]


class SandboxServer:
    """A local SurveySphere API sandbox running in a background thread.

    Example::

        with SandboxServer(config=SandboxConfig(responses_per_survey=10)) as sandbox:
            requests.post(sandbox.base_url + "/connect/token", data={...})

    :param host: address to listen on (keep it a loopback address).
    :param port: port to listen on; 0 picks a free one.
    :param config: settings and failure knobs; defaults to ``SandboxConfig()``. Mutable at runtime.
    :param https: serve HTTPS with a certificate generated at start (see :attr:`ca_cert_path`).
    :param request_log_size: how many entries :attr:`request_log` keeps.
    :param verbose: log each request to stderr.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        config: SandboxConfig | None = None,
        https: bool = False,
        request_log_size: int = 10_000,
        verbose: bool = False,
    ) -> None:
        self.host = host
        self._port = port
        self.https = https
        self.verbose = verbose
        self._state = _State(config or SandboxConfig(), request_log_size)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._cert_dir: Path | None = None
        self.ca_cert_path: str | None = None

    # Settings and observations

    @property
    def config(self) -> SandboxConfig:
        """The live settings; change fields (or assign a new config) at any time."""
        return self._state.config

    @config.setter
    def config(self, value: SandboxConfig) -> None:
        self._state.config = value

    @property
    def port(self) -> int:
        """The listening port (the chosen one once started with port 0)."""
        return self._httpd.server_address[1] if self._httpd else self._port

    @property
    def base_url(self) -> str:
        """``http(s)://host:port`` of the running server."""
        if self._httpd is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.https else 'http'}://{host}:{self.port}"

    @property
    def stats(self) -> dict[str, Any]:
        """A snapshot of the counters (tokens appear only as fingerprints)."""
        return self._state.snapshot()

    @property
    def issued_tokens(self) -> list[str]:
        """Every token issued so far, in order (in-process only, e.g. to scan logs for leaks)."""
        with self._state.lock:
            return list(self._state.issued_tokens)

    @property
    def request_log(self) -> collections.deque[RequestRecord]:
        """A snapshot of recent requests as ``(monotonic arrival time, method, path, status)`` records."""
        with self._state.lock:
            log = self._state.request_log
            return collections.deque(log, maxlen=log.maxlen)

    def reset(self) -> None:
        """Zero the statistics and failure counters, clear the log, re-seed ``error_rate`` draws."""
        self._state.reset()

    def revoke_all_tokens(self) -> None:
        """Revoke every token issued so far."""
        self._state.revoke_all()

    # Lifecycle

    def start(self) -> SandboxServer:
        """Bind, then serve in a daemon thread; returns self."""
        if self._httpd is not None:
            raise RuntimeError("the sandbox is already running")
        ssl_context = self._make_ssl_context() if self.https else None
        try:
            self._httpd = _HTTPServer((self.host, self._port), self._state, _Handler,
                                      ssl_context=ssl_context, verbose=self.verbose)
        except BaseException:
            self._remove_certificates()
            raise
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"surveysphere-sandbox-{self.port}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and open connections; safe to call twice."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.close_open_connections()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._remove_certificates()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # HTTPS

    def _make_ssl_context(self) -> ssl.SSLContext:
        self._cert_dir = Path(tempfile.mkdtemp(prefix="surveysphere-sandbox-"))
        try:
            ca_path, cert_path, key_path = _write_certificates(self._cert_dir, self.host)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert_path, key_path)
        except BaseException:
            self._remove_certificates()
            raise
        self.ca_cert_path = str(ca_path)
        return context

    def _remove_certificates(self) -> None:
        if self._cert_dir is not None:
            shutil.rmtree(self._cert_dir, ignore_errors=True)
            self._cert_dir = None
            self.ca_cert_path = None
