"""A local stand-in for the SurveySphere REST API, for offline DAG runs, demos and tests.

Only the token endpoint follows a published contract (SurveySphere's authentication page: OAuth 2.0
client credentials at ``POST /connect/token``). The data endpoints under ``/api/v1`` are the
sandbox's own illustrative API: SurveySphere does not publish its data API.

Endpoints:

* ``POST /connect/token`` -- client credentials grant (form body or HTTP Basic client auth).
* ``GET /api/v1/surveys`` -- paginated surveys (sandbox-only).
* ``GET /api/v1/surveys/{survey_id}`` -- one survey (sandbox-only).
* ``GET /api/v1/surveys/{survey_id}/responses`` -- paginated responses, ``since``/``until``
  filters on ``submitted_at`` (sandbox-only).
* ``GET /__sandbox/stats``, ``POST /__sandbox/reset``, ``GET|POST /__sandbox/config``,
  ``GET /__sandbox/health`` -- control endpoints, no authentication, excluded from the statistics.
* ``POST /__sandbox/arrive`` -- ``{"count": n}``: n more responses of the ``live_survey`` arrive.
"""

from __future__ import annotations

import base64
import binascii
import collections
import hashlib
import hmac
import ipaddress
import json
import random
import secrets
import shutil
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, unquote_plus

from airflow_provider_surveysphere.sandbox.data import Dataset, Page, format_timestamp, parse_timestamp

__all__ = ["RequestRecord", "SandboxConfig", "SandboxServer", "token_fingerprint"]

REALM = "surveysphere-sandbox"
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
MAX_BODY_BYTES = 1 << 20
DEFAULT_START = datetime(2026, 11, 1, tzinfo=timezone.utc)  # what tests pin; the default start is recent_start()
DEFAULT_DAYS_BACK = 7


def recent_start(days_back: int = DEFAULT_DAYS_BACK) -> datetime:
    """Midnight UTC ``days_back`` days before now: default data covers the last days, so "yesterday" has responses."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_back)

_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass
class SandboxConfig:
    """Credentials, data shape and failure knobs of a sandbox; mutable while the server runs.

    Failure knobs are off by default. The ``*_every`` knobs count data requests that carried a
    valid token (since start or the last reset), so their effect is reproducible; when several
    fire on the same request, a drop wins over a 429, which wins over a 500.

    :param client_id: the client id the token endpoint accepts.
    :param client_secret: the client secret the token endpoint accepts.
    :param token_lifetime: seconds an issued token stays valid (fractions allowed).
    :param surveys: number of surveys.
    :param responses_per_survey: responses in each survey (generated lazily, millions are fine); the
        default, one a minute for 14 days from ``start``, covers the last 7 days and the next 7.
    :param start: submission time of each survey's first response; default midnight UTC 7 days ago.
    :param response_interval: seconds between consecutive responses of a survey.
    :param seed: makes the generated data and ``error_rate`` draws reproducible.
    :param token_endpoint_failures: the next this many token requests answer 503 (counts down).
    :param error_rate: fraction of data requests answered 500, drawn from ``random.Random(seed)``.
    :param error_every: every Nth data request answers 500 (0 = off).
    :param rate_limit_every: every Nth data request answers 429 with ``Retry-After`` (0 = off).
    :param retry_after: whole seconds sent in ``Retry-After`` with a 429.
    :param latency: seconds of delay added to every token and data request.
    :param drop_every: every Nth data request closes the connection without answering (0 = off).
    :param revoke_after: revoke a token once this many data requests were made with it (0 = off).
    :param revoke_times: how many tokens ``revoke_after`` revokes in all (0 = no limit).
    :param latency_jitter: up to this many more seconds of delay, drawn per request (uniform, seeded).
    :param concurrency_limit: a request arriving while this many are in flight answers 429 with
        ``Retry-After`` at once, without the latency (0 = no limit).
    :param close_survey: a survey whose status turns ``closed`` at ``close_at`` (empty = none).
    :param close_at: ISO 8601 time at which ``close_survey`` closes (empty = stays open until set).
    :param live_survey: a survey whose responses keep arriving: only its first ``live_visible`` exist.
    :param live_visible: how many of ``live_survey``'s responses have arrived (grows with ``/__sandbox/arrive``).
    """

    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"
    token_lifetime: float = 3600.0
    surveys: int = 3
    responses_per_survey: int = 14 * 24 * 60
    start: datetime = field(default_factory=recent_start)
    response_interval: float = 60.0
    seed: int = 0
    token_endpoint_failures: int = 0
    error_rate: float = 0.0
    error_every: int = 0
    rate_limit_every: int = 0
    retry_after: int = 1
    latency: float = 0.0
    drop_every: int = 0
    revoke_after: int = 0
    revoke_times: int = 1
    latency_jitter: float = 0.0
    concurrency_limit: int = 0
    close_survey: str = ""
    close_at: str = ""
    live_survey: str = ""
    live_visible: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError if a field holds an impossible value."""
        if self.response_interval <= 0:
            raise ValueError("response_interval must be positive")
        if not 0 <= self.error_rate <= 1:
            raise ValueError("error_rate must be between 0 and 1")
        for name in ("surveys", "responses_per_survey", "token_endpoint_failures", "error_every",
                     "rate_limit_every", "retry_after", "drop_every", "revoke_after", "revoke_times",
                     "concurrency_limit"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.token_lifetime < 0 or self.latency < 0 or self.latency_jitter < 0:
            raise ValueError("token_lifetime, latency and latency_jitter must not be negative")
        _validate_waiting_fields(self)

    def update(self, values: Mapping[str, Any]) -> None:
        """Set fields from JSON-style values (``start`` may be an ISO 8601 string), all or none.

        :param values: field names mapped to new values.
        :raises ValueError: for an unknown field, a value of the wrong type or an impossible value.
        """
        types = {f.name: str(f.type) for f in fields(self)}  # annotations are strings here
        converted = {}
        for name, value in values.items():
            if name not in types:
                raise ValueError(f"unknown config field {name!r}")
            converted[name] = _convert_field(name, types[name], value)
        replace(self, **converted)  # validates the combination before anything changes
        for name, value in converted.items():
            setattr(self, name, value)

    def to_json(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict, without ``client_secret``."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "client_secret"}
        values["start"] = format_timestamp(self.start)
        return values

    def dataset(self) -> Dataset:
        """The data set these settings describe."""
        return Dataset(
            seed=self.seed,
            surveys=self.surveys,
            responses_per_survey=self.responses_per_survey,
            start=self.start,
            response_interval=self.response_interval,
        )


def _validate_waiting_fields(config: SandboxConfig) -> None:
    """The fields of the waiting examples: a survey that closes, a survey whose responses keep arriving."""
    if config.close_at:
        parse_timestamp(config.close_at)  # ValueError names the text
    if config.live_visible < 0:
        raise ValueError("live_visible must not be negative")


def _survey_status(config: SandboxConfig, survey: dict[str, Any]) -> dict[str, Any]:
    """``survey`` with the status ``close_survey``/``close_at`` give it now."""
    if config.close_survey and survey["id"] == config.close_survey:
        closed = bool(config.close_at) and datetime.now(timezone.utc) >= parse_timestamp(config.close_at)
        survey = {**survey, "status": "closed" if closed else "open"}
    return survey


def _convert_field(name: str, type_name: str, value: Any) -> Any:
    if type_name == "datetime":
        if not isinstance(value, str):
            raise ValueError(f"{name} must be an ISO 8601 string")
        return parse_timestamp(value)
    if type_name == "str":
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number")
    if type_name == "int" and not isinstance(value, int):
        raise ValueError(f"{name} must be an integer")
    return value


class RequestRecord(NamedTuple):
    """One entry of :attr:`SandboxServer.request_log`.

    :param time: ``time.monotonic()`` when the request arrived.
    :param method: the HTTP method.
    :param path: the request target, query string included.
    :param status: the status answered, or 0 when the connection was dropped on purpose.
    """

    time: float
    method: str
    path: str
    status: int


def token_fingerprint(token: str) -> str:
    """A short, non-reversible name for a token, as used in the statistics.

    :param token: an access token.
    """
    return hashlib.sha256(token.encode()).hexdigest()[:12]


@dataclass
class _Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class _Drop:
    """Marker: close the connection without answering."""


_DROP = _Drop()


class _BadParameter(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


@dataclass
class _Token:
    expires_at: float
    uses: int = 0
    revoked: bool = False


def _error(status: int, error: str, description: str, **headers: str) -> _Reply:
    return _Reply(status, {"error": error, "error_description": description}, headers)


def _token_error(status: int, error: str, description: str, **headers: str) -> _Reply:
    reply = _error(status, error, description, **headers)
    reply.headers.update({"Cache-Control": "no-store", "Pragma": "no-cache"})
    return reply


def _invalid_client(description: str) -> _Reply:
    return _token_error(401, "invalid_client", description,
                        **{"WWW-Authenticate": f'Basic realm="{REALM}"'})


def _invalid_token(description: str, *, missing: bool = False) -> _Reply:
    challenge = f'Bearer realm="{REALM}"' if missing else 'Bearer error="invalid_token"'
    return _error(401, "invalid_token", description, **{"WWW-Authenticate": challenge})


def _seconds_json(seconds: float) -> int | float:
    return int(seconds) if float(seconds).is_integer() else round(seconds, 3)


class _State:
    """Tokens, counters and the request log, shared by all handler threads."""

    def __init__(self, config: SandboxConfig, request_log_size: int) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.tokens: dict[str, _Token] = {}
        self.issued_tokens: list[str] = []
        self.in_flight = 0
        self.request_log: collections.deque[RequestRecord] = collections.deque(maxlen=request_log_size)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.rng = random.Random(self.config.seed)
            self.jitter_rng = random.Random(self.config.seed)
            self.counts: collections.Counter[str] = collections.Counter()
            self.statuses: collections.Counter[str] = collections.Counter()
            self.by_token: collections.Counter[str] = collections.Counter()
            self.max_concurrent = self.in_flight
            self.request_log.clear()

    def count(self, name: str, amount: int = 1) -> int:
        with self.lock:
            self.counts[name] += amount
            return self.counts[name]

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "tokens_issued": self.counts["tokens_issued"],
                "token_requests": self.counts["token_requests"],
                "requests": self.counts["requests"],
                "data_requests": self.counts["data_requests"],
                "statuses": dict(self.statuses),
                "requests_by_token": dict(self.by_token),
                "max_concurrent": self.max_concurrent,
                "connections": self.counts["connections"],
                "dropped": self.counts["dropped"],
                "tokens_revoked": self.counts["tokens_revoked"],
            }

    def begin(self) -> int:
        with self.lock:
            self.in_flight += 1
            self.max_concurrent = max(self.max_concurrent, self.in_flight)
            return self.in_flight

    def delay(self) -> float:
        """Seconds to wait before answering: the latency plus its jitter."""
        config = self.config
        if not config.latency_jitter:
            return config.latency
        with self.lock:
            return config.latency + self.jitter_rng.uniform(0, config.latency_jitter)

    def end(self, record: RequestRecord) -> None:
        with self.lock:
            self.in_flight -= 1
            self.counts["requests"] += 1
            if record.status:
                self.statuses[str(record.status)] += 1
            else:
                self.counts["dropped"] += 1
            self.request_log.append(record)

    # Tokens

    def take_token_failure(self) -> bool:
        with self.lock:
            self.counts["token_requests"] += 1
            if self.config.token_endpoint_failures > 0:
                self.config.token_endpoint_failures -= 1
                return True
            return False

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = _Token(time.monotonic() + self.config.token_lifetime)
            self.issued_tokens.append(token)
            self.counts["tokens_issued"] += 1
        return token

    def revoke_all(self) -> None:
        with self.lock:
            for token in self.tokens.values():
                token.revoked = True

    def authenticate(self, authorization: str | None) -> _Reply | None:
        """Check a bearer token and count its use; None if it is valid, else the 401 to send."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return _invalid_token("a bearer access token is required", missing=True)
        with self.lock:
            info = self.tokens.get(token)
            self.by_token[token_fingerprint(token) if info else "unknown"] += 1
            if info is None:
                return _invalid_token("the access token is unknown")
            if info.revoked:
                return _invalid_token("the access token was revoked")
            if time.monotonic() >= info.expires_at:
                return _invalid_token("the access token expired")
            info.uses += 1
            self._maybe_revoke(info)
        return None

    def _maybe_revoke(self, info: _Token) -> None:
        config = self.config
        if not config.revoke_after or info.uses < config.revoke_after:
            return
        if config.revoke_times and self.counts["tokens_revoked"] >= config.revoke_times:
            return
        info.revoked = True  # this request still succeeds; the next one with the token fails
        self.counts["tokens_revoked"] += 1

    def fault(self) -> _Reply | _Drop | None:
        """The failure injected into this data request, if any."""
        with self.lock:
            self.counts["data_requests"] += 1
            number = self.counts["data_requests"]
            config = self.config
            if config.drop_every and number % config.drop_every == 0:
                return _DROP
            if config.rate_limit_every and number % config.rate_limit_every == 0:
                return _error(429, "rate_limited", "too many requests",
                              **{"Retry-After": str(config.retry_after)})
            if config.error_every and number % config.error_every == 0:
                return _error(500, "server_error", "injected failure (error_every)")
            if config.error_rate and self.rng.random() < config.error_rate:
                return _error(500, "server_error", "injected failure (error_rate)")
        return None


def _one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise _BadParameter(name, f"parameter {name!r} must be given once")
    return values[0]


def _int_param(params: dict[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    text = _one(params, name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise _BadParameter(name, f"parameter {name!r} must be an integer") from None
    if not low <= value <= high:
        raise _BadParameter(name, f"parameter {name!r} must be between {low} and {high}")
    return value


def _time_param(params: dict[str, list[str]], name: str) -> datetime | None:
    text = _one(params, name)
    if text is None:
        return None
    try:
        return parse_timestamp(text)
    except ValueError:
        raise _BadParameter(name, f"parameter {name!r} must be an ISO 8601 date or timestamp") from None


def _paging(params: dict[str, list[str]]) -> tuple[int, int]:
    page = _int_param(params, "page", 1, 1, sys.maxsize)
    page_size = _int_param(params, "pageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    return page, page_size


def _page_reply(page: Page) -> _Reply:
    return _Reply(200, page.to_json())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SurveySphereSandbox/1.0"
    disable_nagle_algorithm = True
    # Buffer the response so headers and body leave in one send (flushed after each request).
    wbufsize = 1 << 16
    timeout = 600
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()  # here, in the connection's thread, not the accept loop

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    # Plumbing

    def _dispatch(self) -> None:
        arrived = time.monotonic()
        body = self._read_body()
        if body is None:
            return
        path, _, query = self.path.partition("?")
        if path.startswith("/__sandbox/"):
            self._send(self._control(path, body))
            return
        state = self.server.state
        in_flight = state.begin()
        reply: _Reply | _Drop = _error(500, "server_error", "unexpected sandbox error")
        try:
            limit = state.config.concurrency_limit
            if limit and in_flight > limit:
                reply = _error(429, "rate_limited", f"more than {limit} requests in flight",
                               **{"Retry-After": str(state.config.retry_after)})
            else:
                delay = state.delay()
                if delay:
                    time.sleep(delay)
                reply = self._route(path, query, body)
        except Exception:  # noqa: BLE001 - a server bug answers 500 and is printed; the server keeps serving
            traceback.print_exc()
        finally:
            state.end(RequestRecord(arrived, self.command, self.path,
                                    0 if isinstance(reply, _Drop) else reply.status))
        if isinstance(reply, _Drop):
            self.close_connection = True
        else:
            self._send(reply)

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._send(_error(411, "invalid_request", "send a Content-Length, not a chunked body"))
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True
            self._send(_error(400, "invalid_request", "bad or oversized Content-Length"))
            return None
        return self.rfile.read(length) if length else b""

    def _send(self, reply: _Reply) -> None:
        payload = _JSON.encode(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    # Routing

    def _route(self, path: str, query: str, body: bytes) -> _Reply | _Drop:
        if path == "/connect/token":
            if self.command != "POST":
                return _error(405, "invalid_request", "use POST", Allow="POST")
            return self._token(body)
        parts = path.strip("/").split("/")
        if parts[:3] != ["api", "v1", "surveys"] or len(parts) > 5:
            return _error(404, "not_found", "no such endpoint")
        rest = [unquote(part) for part in parts[3:]]
        if len(rest) == 2 and rest[1] != "responses":
            return _error(404, "not_found", "no such endpoint")
        if self.command not in ("GET", "HEAD"):
            return _error(405, "invalid_request", "use GET", Allow="GET")
        return self._data(rest, parse_qs(query, keep_blank_values=True))

    def _control(self, path: str, body: bytes) -> _Reply:
        state = self.server.state
        if path == "/__sandbox/health":
            return _Reply(200, {"status": "ok"})
        if path == "/__sandbox/stats":
            return _Reply(200, state.snapshot())
        if path == "/__sandbox/reset" and self.command == "POST":
            state.reset()
            return _Reply(200, {"status": "reset"})
        if path == "/__sandbox/config" and self.command == "POST":
            try:
                values = json.loads(body or b"{}")
                if not isinstance(values, dict):
                    raise ValueError("the body must be a JSON object")
                state.config.update(values)
            except ValueError as exc:  # JSONDecodeError is a ValueError
                return _error(400, "invalid_request", str(exc))
        if path == "/__sandbox/config":
            return _Reply(200, state.config.to_json())
        if path == "/__sandbox/arrive" and self.command == "POST":
            return self._arrive(body)
        return _error(404, "not_found", "no such sandbox endpoint")

    def _arrive(self, body: bytes) -> _Reply:
        """``{"count": n}``: n more responses of the live survey arrive (at most all of them)."""
        state = self.server.state
        try:
            count = json.loads(body or b"{}").get("count", 1)
        except (ValueError, AttributeError):
            return _error(400, "invalid_request", "the body must be a JSON object such as {\"count\": 5}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            return _error(400, "invalid_request", "count must be a whole number >= 0")
        with state.lock:
            config = state.config
            if not config.live_survey:
                return _error(409, "invalid_request", "set live_survey in /__sandbox/config first")
            config.live_visible = min(config.live_visible + count, config.responses_per_survey)
            return _Reply(200, {"live_survey": config.live_survey, "live_visible": config.live_visible})

    # Token endpoint

    def _token(self, body: bytes) -> _Reply:
        state = self.server.state
        if state.take_token_failure():
            return _token_error(503, "temporarily_unavailable", "injected failure (token_endpoint_failures)")
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != _FORM_TYPE:
            return _token_error(400, "invalid_request", f"the body must be {_FORM_TYPE}")
        try:
            form = parse_qs(body.decode(), keep_blank_values=True)
            grant_type = _one(form, "grant_type")
            client = self._client_credentials(form)
        except (ValueError, UnicodeDecodeError) as exc:
            message = str(exc) if isinstance(exc, _BadParameter) else "malformed request"
            return _token_error(400, "invalid_request", message)
        if isinstance(client, _Reply):
            return client
        if not grant_type:
            return _token_error(400, "invalid_request", "missing parameter 'grant_type'")
        if grant_type != "client_credentials":
            return _token_error(400, "unsupported_grant_type", "only client_credentials is supported")
        if not self._client_is_valid(*client):
            return _invalid_client("client authentication failed")
        token = state.issue_token()
        return _Reply(200, {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": _seconds_json(state.config.token_lifetime),
        }, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _client_credentials(self, form: dict[str, list[str]]) -> tuple[str, str] | _Reply:
        """The client id and secret, from the form body or an HTTP Basic header (RFC 6749 2.3.1)."""
        body_id, body_secret = _one(form, "client_id"), _one(form, "client_secret")
        scheme, _, encoded = self.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() != "basic":
            if not body_id:
                return _token_error(400, "invalid_request", "missing parameter 'client_id'")
            if body_secret is None:
                return _token_error(400, "invalid_request", "missing parameter 'client_secret'")
            return body_id, body_secret
        if body_secret is not None:
            return _token_error(400, "invalid_request", "use one client authentication method, not two")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return _invalid_client("malformed Basic authorization header")
        user, colon, password = decoded.partition(":")
        client_id, client_secret = unquote_plus(user), unquote_plus(password)
        if not colon or (body_id is not None and body_id != client_id):
            return _invalid_client("malformed Basic authorization header")
        return client_id, client_secret

    def _client_is_valid(self, client_id: str, client_secret: str) -> bool:
        config = self.server.state.config
        id_ok = hmac.compare_digest(client_id.encode(), config.client_id.encode())
        secret_ok = hmac.compare_digest(client_secret.encode(), config.client_secret.encode())
        return id_ok and secret_ok

    # Data endpoints (sandbox-only shapes)

    def _data(self, rest: list[str], params: dict[str, list[str]]) -> _Reply | _Drop:
        state = self.server.state
        denied = state.authenticate(self.headers.get("Authorization"))
        if denied is not None:
            return denied
        fault = state.fault()
        if fault is not None:
            return fault
        dataset = state.config.dataset()
        try:
            if not rest:
                listing = dataset.survey_page(*_paging(params))
                listing.data[:] = [_survey_status(state.config, survey) for survey in listing.data]
                return _page_reply(listing)
            number = dataset.survey_number(rest[0])
            if number is None:
                return _error(404, "not_found", f"survey {rest[0]!r} not found")
            if len(rest) == 1:
                return _Reply(200, _survey_status(state.config, dataset.survey(number)))
            page, page_size = _paging(params)
            since, until = _time_param(params, "since"), _time_param(params, "until")
            if state.config.live_survey == rest[0]:
                return _page_reply(dataset.visible_response_page(
                    number, page, page_size, since, until, state.config.live_visible))
            return _page_reply(dataset.response_page(number, page, page_size, since, until))
        except _BadParameter as exc:
            return _Reply(400, {"error": "invalid_request", "error_description": str(exc),
                                "parameter": exc.name})


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: _State, *,
                 ssl_context: ssl.SSLContext | None, verbose: bool) -> None:
        self.state = state
        self.ssl_context = ssl_context
        self.verbose = verbose
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would resolve the host name (getfqdn); skip that lookup.
        socketserver.TCPServer.server_bind(self)
        host, self.server_port = self.server_address[:2]
        self.server_name = str(host)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self.sockets_lock:
            self.open_sockets.add(sock)
        self.state.count("connections")
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        """Wake handler threads blocked on idle keep-alive connections so they end."""
        with self.sockets_lock:
            open_sockets = list(self.open_sockets)
        for sock in open_sockets:
            try:
                # The plain-socket method: SSLSocket.shutdown would drop its TLS object mid-read.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (OSError, ssl.SSLError)):  # client went away, failed handshake...
            return
        super().handle_error(request, client_address)


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
            self._httpd = _HTTPServer((self.host, self._port), self._state,
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


def _write_certificates(directory: Path, host: str) -> tuple[Path, Path, Path]:
    """Write a throwaway CA and a server certificate it signed; return (CA, cert, key) paths.

    A separate CA (rather than one self-signed leaf) satisfies strict X.509 verification, which
    newer Pythons enable by default.
    """
    names = ["localhost", "127.0.0.1"] + ([host] if host not in ("localhost", "127.0.0.1") else [])
    try:
        import cryptography  # noqa: F401
    except ImportError:
        return _certificates_with_openssl(directory, names)
    return _certificates_with_cryptography(directory, names)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _certificates_with_cryptography(directory: Path, names: list[str]) -> tuple[Path, Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def usage(**enabled: bool) -> x509.KeyUsage:
        flags = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                 "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
        return x509.KeyUsage(**{flag: enabled.get(flag, False) for flag in flags})

    now = datetime.now(timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())

    def builder(subject: str, public_key: Any) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(name(subject))
                .issuer_name(name("SurveySphere sandbox CA")).public_key(public_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=7))
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))

    ca_cert = (builder("SurveySphere sandbox CA", ca_key.public_key())
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
               .sign(ca_key, hashes.SHA256()))
    alt_names = [x509.IPAddress(ipaddress.ip_address(n)) if _is_ip(n) else x509.DNSName(n) for n in names]
    cert = (builder("localhost", key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def _certificates_with_openssl(directory: Path, names: list[str]) -> tuple[Path, Path, Path]:
    ca, ca_key = directory / "ca.pem", directory / "ca-key.pem"
    cert, key, csr = directory / "cert.pem", directory / "key.pem", directory / "cert.csr"
    extensions = directory / "ext.cnf"
    alt_names = ",".join(f"IP:{n}" if _is_ip(n) else f"DNS:{n}" for n in names)
    extensions.write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        f"extendedKeyUsage=serverAuth\nsubjectAltName={alt_names}\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(["req", "-x509", *new_key, "-keyout", str(ca_key), "-out", str(ca), "-days", "7",
         "-subj", "/CN=SurveySphere sandbox CA",
         "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    _openssl(["req", "-new", *new_key, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost"])
    _openssl(["x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-set_serial",
         str(secrets.randbits(63)), "-days", "7", "-sha256", "-extfile", str(extensions), "-out", str(cert)])
    return ca, cert, key


def _openssl(args: list[str]) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)
