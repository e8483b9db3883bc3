"""The re-send after a 401 carries exactly the original body, or does not happen and says why.

A small real HTTP server on an ephemeral port (not ``responses``): it reads each body as a server
does, by Content-Length or chunked encoding, so that a re-send with a consumed file body shows up as
a request that never completes, and a consumed generator as an empty body.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from airflow_provider_surveysphere.exceptions import SurveySphereAPIError
from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
from airflow_provider_surveysphere.token import TokenCache


class EchoState:
    """What the server saw: tokens issued, and every data request with its token and body."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens_issued = 0
        self.refused: set[str] = {"tok-1"}  # the first token is refused once it is used
        self.seen: list[tuple[str, str, bytes]] = []
        self.barrier: threading.Barrier | None = None  # holds refused requests until all have arrived


class EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: EchoState

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                chunk = self.rfile.read(size)
                self.rfile.readline()
                if size == 0:
                    return b"".join(chunks)
                chunks.append(chunk)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: int, body: dict[str, Any], **headers: str) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = self._body()
        state = self.state
        if self.path == "/connect/token":
            assert parse_qs(body.decode())["grant_type"] == ["client_credentials"]
            with state.lock:
                state.tokens_issued += 1
                token = f"tok-{state.tokens_issued}"
            self._reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})
            return
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        with state.lock:
            state.seen.append((self.path, token, body))
        if token in state.refused:
            if state.barrier is not None:
                state.barrier.wait()
            self._reply(401, {"error": "invalid_token"})
        elif self.path == "/moved":
            self._reply(307, {}, Location="/echo")
        else:
            self._reply(200, {"path": self.path, "body": body.decode()})

    do_PUT = do_POST


@pytest.fixture
def echo_server() -> Iterator[tuple[str, EchoState]]:
    state = EchoState()
    handler = type("Handler", (EchoHandler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def echo_hook(echo_server, set_connection) -> Iterator[SurveySphereHook]:
    base_url, _ = echo_server
    # A short timeout: a re-send whose body was consumed would wait this long for the missing bytes.
    set_connection(host=base_url, extra={"max_retries": 0, "timeout": 3})
    hook = SurveySphereHook(token_cache=TokenCache())
    yield hook
    hook.close()


PAYLOAD = b'{"title": "a survey", "pad": "' + b"x" * 1000 + b'"}'


@pytest.mark.parametrize(
    ("kind", "kwargs", "expected"),
    [
        ("bytes", {"data": PAYLOAD}, PAYLOAD),
        ("bytearray", {"data": bytearray(PAYLOAD)}, PAYLOAD),
        ("str", {"data": PAYLOAD.decode()}, PAYLOAD),
        ("form dict", {"data": {"title": "a survey", "lang": "en"}}, b"title=a+survey&lang=en"),
        ("json", {"json": {"title": "a survey"}}, b'{"title": "a survey"}'),
        ("seekable file", {"data": io.BytesIO(PAYLOAD)}, PAYLOAD),
    ],
)
def test_resend_after_401_carries_the_original_body(echo_hook, echo_server, kind, kwargs, expected):
    _, state = echo_server
    response = echo_hook.request("POST", "echo", **kwargs)
    assert response.json()["body"] == expected.decode(), kind
    assert [(token, body) for _, token, body in state.seen] == [("tok-1", expected), ("tok-2", expected)]
    assert state.tokens_issued == 2


def test_a_file_is_rewound_to_where_it_started_not_to_zero(echo_hook):
    body = io.BytesIO(b"HEADER-NOT-SENT|" + PAYLOAD)
    body.seek(len(b"HEADER-NOT-SENT|"))
    assert echo_hook.request("PUT", "echo", data=body).json()["body"] == PAYLOAD.decode()


def _generator() -> Iterator[bytes]:
    yield b'{"title": '
    yield b'"a survey"}'


class _Pipe(io.RawIOBase):
    """A readable stream that cannot seek, like a pipe or a socket."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize("body", [_generator, lambda: _Pipe(PAYLOAD)], ids=["generator", "non-seekable stream"])
def test_a_body_that_cannot_be_replayed_is_not_resent_blind(echo_hook, echo_server, body):
    _, state = echo_server
    with pytest.raises(SurveySphereAPIError) as caught:
        echo_hook.request("POST", "echo", data=body())
    message = str(caught.value)
    assert "POST /echo answered 401" in message and "not re-sent" in message and "cannot be rewound" in message
    assert caught.value.http_status == 401
    assert len(state.seen) == 1  # sent once, never again with an empty or partial body
    # The refused token was dropped: the task's next try (with a fresh body) gets a new token.
    assert echo_hook.get_token() == "tok-2"


def test_a_redirect_after_the_resend_carries_the_new_token_and_the_body(echo_hook, echo_server):
    _, state = echo_server
    response = echo_hook.request("POST", "moved", data=io.BytesIO(PAYLOAD))
    assert response.json() == {"path": "/echo", "body": PAYLOAD.decode()}
    assert [(path, token, body == PAYLOAD) for path, token, body in state.seen] == [
        ("/moved", "tok-1", True),  # refused
        ("/moved", "tok-2", True),  # re-sent with the new token: 307
        ("/echo", "tok-2", True),  # the redirect: the new token, the whole body again
    ]
    assert state.tokens_issued == 2


def test_many_threads_refused_at_once_fetch_exactly_one_new_token(echo_server, set_connection):
    base_url, state = echo_server
    set_connection(host=base_url, extra={"max_retries": 0, "timeout": 10})
    threads = 8
    state.barrier = threading.Barrier(threads, timeout=10)  # every thread's first request is refused together
    cache = TokenCache()
    hooks = [SurveySphereHook(token_cache=cache) for _ in range(threads)]
    for hook in hooks:
        hook.get_token()  # all hold tok-1 before any request
    results: list[Any] = []

    def call(hook: SurveySphereHook) -> None:
        try:
            results.append(hook.request("POST", "echo", json={"n": 1}).json()["body"])
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results.append(exc)

    workers = [threading.Thread(target=call, args=(hook,)) for hook in hooks]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    for hook in hooks:
        hook.close()
    assert results == ['{"n": 1}'] * threads
    assert [token for _, token, _ in state.seen].count("tok-1") == threads
    assert state.tokens_issued == 2  # tok-1, then exactly one new token for all eight re-sends


def test_a_late_401_with_the_old_token_keeps_the_new_one(clock):
    from airflow_provider_surveysphere.token import AccessToken

    cache = TokenCache(clock=clock)
    issued = iter(["tok-1", "tok-2", "tok-3"])

    def fetch() -> AccessToken:
        return AccessToken(next(issued), 3600, clock.now + 3600)

    assert cache.get("key", fetch, leeway=60).value == "tok-1"
    cache.invalidate("key", "tok-1")  # the first 401
    assert cache.get("key", fetch, leeway=60).value == "tok-2"
    cache.invalidate("key", "tok-1")  # a request still in flight with tok-1 is refused later
    assert cache.get("key", fetch, leeway=60).value == "tok-2"
