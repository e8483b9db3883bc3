"""Sandbox request handling: the HTTP request handler, routing, replies sent and parameter parsing.

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
import hmac
import json
import ssl
import sys
import time
import traceback
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, unquote_plus

from airflow_provider_surveysphere import codec
from airflow_provider_surveysphere.sandbox.config import _survey_status
from airflow_provider_surveysphere.sandbox.data import parse_timestamp
from airflow_provider_surveysphere.sandbox.replies import (
    _Drop,
    _error,
    _invalid_client,
    _Reply,
    _seconds_json,
    _token_error,
)
from airflow_provider_surveysphere.sandbox.state import RequestRecord

if TYPE_CHECKING:
    from airflow_provider_surveysphere.sandbox.listener import _HTTPServer

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
MAX_BODY_BYTES = 1 << 20

_FORM_TYPE = "application/x-www-form-urlencoded"


class _BadParameter(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


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


def _data_json(value: Any, indent: int) -> bytes:
    """A data answer: compact, or pretty-printed with ``indent`` spaces (and a line break inside every record)."""
    return json.dumps(value, indent=indent, ensure_ascii=False).encode() if indent else codec.dumps(value)


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
        payload = reply.body if isinstance(reply.body, bytes) else codec.dumps(reply.body)
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
            indent = state.config.indent
            if not rest:
                listing = dataset.survey_page(*_paging(params))
                listing.data[:] = [_survey_status(state.config, survey) for survey in listing.data]
                return _Reply(200, _data_json(listing.to_json(), indent))
            number = dataset.survey_number(rest[0])
            if number is None:
                return _error(404, "not_found", f"survey {rest[0]!r} not found")
            if len(rest) == 1:
                return _Reply(200, _data_json(_survey_status(state.config, dataset.survey(number)), indent))
            page, page_size = _paging(params)
            since, until = _time_param(params, "since"), _time_param(params, "until")
            visible = state.config.live_visible if state.config.live_survey == rest[0] else None
            key = (dataset.identity, number, page, page_size, since, until, visible, indent)  # all a page depends on
            return _Reply(200, state.cached_page(key, lambda: _data_json(
                dataset.response_page(number, page, page_size, since, until, visible).to_json(), indent)))
        except _BadParameter as exc:
            return _Reply(400, {"error": "invalid_request", "error_description": str(exc),
                                "parameter": exc.name})
