"""Sandbox state shared by the handler threads: tokens, counters, the request log and fault injection."""

from __future__ import annotations

import collections
import hashlib
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from airflow_provider_surveysphere.sandbox.config import SandboxConfig
from airflow_provider_surveysphere.sandbox.replies import _DROP, _Drop, _error, _invalid_token, _Reply

__all__ = ["RequestRecord", "token_fingerprint"]


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
class _Token:
    expires_at: float
    uses: int = 0
    revoked: bool = False


class _State:
    """Tokens, counters and the request log, shared by all handler threads."""

    def __init__(self, config: SandboxConfig, request_log_size: int) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.tokens: dict[str, _Token] = {}
        self.issued_tokens: list[str] = []
        self.in_flight = 0
        self.request_log: collections.deque[RequestRecord] = collections.deque(maxlen=request_log_size)
        self.pages: collections.OrderedDict[tuple[Any, ...], bytes] = collections.OrderedDict()
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

    def cached_page(self, key: tuple[Any, ...], build: Callable[[], bytes]) -> bytes:
        """The encoded page ``key`` from the page cache, built (outside the lock) when it is not there."""
        size = self.config.page_cache
        if not size:
            return build()
        with self.lock:
            page = self.pages.get(key)
            if page is not None:
                self.pages.move_to_end(key)
                return page
        page = build()
        with self.lock:
            self.pages[key] = page
            while len(self.pages) > size:
                self.pages.popitem(last=False)
        return page

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
