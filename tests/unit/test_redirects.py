"""The token never leaves its host: redirects, next links and absolute URLs, against real loopback servers.

Two small HTTP servers run on loopback: the connection's own API (127.0.0.1) and a "foreign" one, on
another loopback address (127.0.0.2) or another port of 127.0.0.1 (another origin all the same). The
foreign server records every request it receives, so the tests can show that the bearer token, and
the client secret, never reach it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from airflow_provider_surveysphere.exceptions import (
    SurveySphereAuthError,
    SurveySphereClientError,
    SurveySphereForeignHostError,
)
from airflow_provider_surveysphere.pagination import NextLinkPagination

from tests.unit.conftest import CLIENT_ID, CLIENT_SECRET

TOKEN = "tok-loopback-5f1c2e9a7b"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Recorder:
    """A loopback HTTP server that records what it receives and answers from a table.

    :param routes: ``"METHOD /path"`` -> (status, headers, JSON body); anything else answers 404
    """

    host: str
    routes: dict[str, tuple[int, dict[str, str], Any]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                recorder.received.append(Received(self.command, self.path, dict(self.headers.items()), body))
                status, headers, payload = recorder.routes.get(
                    f"{self.command} {self.path.split('?')[0]}", (404, {}, {"error": "not_found"})
                )
                data = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_PUT = do_DELETE = do_GET

        self.server = ThreadingHTTPServer((self.host, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def leaked(self) -> list[str]:
        """Everything received that holds a credential: the token, the secret or any Authorization."""
        return [
            f"{r.method} {r.path}"
            for r in self.received
            if "Authorization" in r.headers
            or any(secret in text for secret in (TOKEN, CLIENT_SECRET) for text in (r.path, r.body, *r.headers.values()))
        ]


@pytest.fixture
def api() -> Iterator[Recorder]:
    """The connection's own API on 127.0.0.1 (plain http is allowed on loopback)."""
    server = Recorder("127.0.0.1")
    server.routes["POST /connect/token"] = (200, {}, {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600})
    yield server
    server.stop()


@pytest.fixture(params=["127.0.0.2", "127.0.0.1"], ids=["other-address", "other-port"])
def foreign(request) -> Iterator[Recorder]:
    """Another origin on loopback: another address, or another port of the same address."""
    server = Recorder(request.param)
    yield server
    server.stop()


@pytest.fixture
def loopback_hook(api: Recorder, set_connection, hook):
    set_connection(host=api.url, extra={"max_retries": 0})
    return hook


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_to_another_host_does_not_carry_the_authorization_header(loopback_hook, api, foreign, status):
    api.routes["GET /api/v1/surveys"] = (status, {"Location": f"{foreign.url}/collect?from=api"}, None)
    foreign.routes["GET /collect"] = (200, {}, [])
    loopback_hook.request("GET", "api/v1/surveys")
    assert [r.path for r in foreign.received] == ["/collect?from=api"]  # the redirect was followed ...
    assert foreign.leaked() == []  # ... without the token
    assert api.received[-1].headers["Authorization"] == f"Bearer {TOKEN}"  # the API itself did get it


def test_401_from_the_other_host_after_a_redirect_is_not_answered_with_a_token(loopback_hook, api, foreign):
    api.routes["GET /api/v1/surveys"] = (302, {"Location": f"{foreign.url}/login"}, None)
    foreign.routes["GET /login"] = (401, {"WWW-Authenticate": "Bearer"}, {"error": "invalid_token"})
    with pytest.raises(SurveySphereClientError, match="answered 401"):
        loopback_hook.request("GET", "api/v1/surveys")
    assert len(foreign.received) == 1 and foreign.leaked() == []  # no re-send with a new token
    assert [r.path for r in api.received].count("/connect/token") == 1  # and the cached token was kept


def test_redirect_on_the_same_host_keeps_the_token(loopback_hook, api):
    """The control case: the recorder does see an Authorization header when one is sent."""
    api.routes["GET /api/v1/surveys"] = (302, {"Location": "/api/v2/surveys"}, None)
    api.routes["GET /api/v2/surveys"] = (200, {}, [])
    loopback_hook.request("GET", "api/v1/surveys")
    assert api.received[-1].path == "/api/v2/surveys" and api.received[-1].headers["Authorization"] == f"Bearer {TOKEN}"


def test_next_link_to_another_host_is_refused_and_the_host_receives_nothing(loopback_hook, api, foreign):
    api.routes["GET /api/v1/surveys"] = (200, {}, {"data": [{"id": "s1"}], "next": f"{foreign.url}/api/v1/surveys?page=2"})
    pages = loopback_hook.paginate("api/v1/surveys", pagination=NextLinkPagination(), records_key="data")
    with pytest.raises(SurveySphereForeignHostError, match=f"{foreign.host}.*only {api.url} may receive the token"):
        list(pages)
    assert foreign.received == []


def test_absolute_endpoint_to_another_host_is_refused_before_any_request(loopback_hook, api, foreign):
    with pytest.raises(SurveySphereForeignHostError, match="only .* may receive the token"):
        loopback_hook.request("GET", f"{foreign.url}/api/v1/surveys")
    with pytest.raises(SurveySphereForeignHostError):
        loopback_hook.get_conn().get(f"{foreign.url}/api/v1/surveys")  # the raw session refuses too
    assert foreign.received == [] and api.received == []  # not even a token was fetched


def test_token_endpoint_redirect_is_not_followed_so_the_secret_stays(loopback_hook, api, foreign):
    api.routes["POST /connect/token"] = (307, {"Location": f"{foreign.url}/steal"}, None)
    with pytest.raises(SurveySphereAuthError, match="/connect/token .* answered 307"):
        loopback_hook.request("GET", "api/v1/surveys")
    assert foreign.received == []
    assert f"client_id={CLIENT_ID}" in api.received[0].body  # the secret went to the token endpoint only
