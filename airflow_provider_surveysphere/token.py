"""OAuth 2.0 client-credentials tokens: fetching one as SurveySphere documents it, and caching it.

SurveySphere's published flow: a form-encoded ``POST /connect/token`` with ``grant_type``,
``client_id`` and ``client_secret`` answers ``{"access_token", "token_type": "Bearer", "expires_in": 3600}``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from airflow_provider_surveysphere._compat import mask_secret
from airflow_provider_surveysphere.exceptions import SurveySphereAPIError, SurveySphereAuthError, transport_error
from airflow_provider_surveysphere.redaction import excerpt_of, forget_locals, scrub
from airflow_provider_surveysphere.session import RETRY_STATUSES, build_retry, build_session

if TYPE_CHECKING:
    from airflow_provider_surveysphere.connection import SurveySphereConnectionSettings

log = logging.getLogger(__name__)

#: The lifetime SurveySphere documents, used when an answer leaves ``expires_in`` out.
DOCUMENTED_LIFETIME = 3600.0


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and when it stops being valid.

    :param value: the access token itself (never in a repr)
    :param lifetime: seconds it was valid for when issued
    :param expires_at: ``time.monotonic()`` reading at which it expires
    """

    value: str = field(repr=False)
    lifetime: float
    expires_at: float

    def is_fresh(self, now: float, leeway: float) -> bool:
        """Tell whether the token may still be used, renewing ``leeway`` seconds early.

        The leeway is capped at half the token's lifetime, so that a short-lived token is not
        treated as expired the moment it arrives (the trap authlib fell in, authlib/authlib#716).
        """
        return self.expires_at - now > min(leeway, self.lifetime / 2)


def cache_key(settings: SurveySphereConnectionSettings, scope: Hashable = None) -> tuple[Hashable, ...]:
    """The cache key of a set of credentials: token URL, client id and a digest of the secret."""
    secret_digest = hashlib.sha256(settings.client_secret.encode()).hexdigest()
    return (scope, settings.token_url, settings.client_id, secret_digest, settings.scope)


class TokenCache:
    """Thread-safe cache of access tokens, shared by every hook of the process.

    Concurrent callers asking for the same key while no fresh token is cached wait for one fetch
    instead of each fetching their own.

    :param clock: monotonic clock, replaceable in tests
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tokens: dict[Hashable, AccessToken] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock_for(self, key: Hashable) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def get(self, key: Hashable, fetch: Callable[[], AccessToken], leeway: float) -> AccessToken:
        """Return the cached token for ``key``, fetching one when none is fresh.

        :param key: see :func:`cache_key`
        :param fetch: called (once, under the key's lock) when a new token is needed
        :param leeway: renew when fewer than this many seconds remain (capped at half the lifetime)
        """
        token = self._tokens.get(key)
        if token is not None and token.is_fresh(self.clock(), leeway):
            return token
        with self._lock_for(key):
            token = self._tokens.get(key)
            if token is None or not token.is_fresh(self.clock(), leeway):
                token = fetch()
                self._store(key, token)
            return token

    def _store(self, key: Hashable, token: AccessToken) -> None:
        """Keep ``token`` and drop every expired one, so that finished task runs leave no token behind.

        Their locks go with them (the cache would otherwise keep one lock per task run forever),
        unless a thread holds one.
        """
        with self._locks_guard:
            now = self.clock()
            for expired in [k for k, cached in self._tokens.items() if cached.expires_at <= now and k != key]:
                del self._tokens[expired]
                lock = self._locks.get(expired)
                if lock is not None and not lock.locked():
                    del self._locks[expired]
            self._tokens[key] = token

    def invalidate(self, key: Hashable, value: str) -> None:
        """Drop the cached token for ``key`` if it is still ``value`` (the one the server refused).

        A token another thread already replaced stays: many requests failing with the same old
        token cause one new fetch, not one each.
        """
        with self._lock_for(key), self._locks_guard:
            token = self._tokens.get(key)
            if token is not None and token.value == value:
                del self._tokens[key]

    def clear(self) -> None:
        """Forget every token."""
        with self._locks_guard:
            self._tokens.clear()


#: The process-wide cache every hook uses unless given another.
PROCESS_TOKEN_CACHE = TokenCache()


class TokenClient:
    """Fetches access tokens with the client-credentials grant.

    :param settings: the validated connection
    :param clock: monotonic clock used to date the token's expiry
    :param max_retry_wait: the longest single wait between retries, ``Retry-After`` included
    :param session: the HTTP session used for token requests (one with retries is built when omitted);
        it carries no bearer auth: the token request authenticates with the client credentials
    """

    def __init__(
        self,
        settings: SurveySphereConnectionSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_retry_wait: float = 120.0,
        session: requests.Session | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        if session is None:
            retry = build_retry(settings, max_wait=max_retry_wait, allowed_methods=frozenset({"POST"}))
            session = build_session(settings, retry)
        self.session = session

    def close(self) -> None:
        """Close the token session's pooled connections."""
        self.session.close()

    def form(self) -> dict[str, str]:
        """The form fields of the token request, as the published page lists them."""
        form = {
            "grant_type": "client_credentials",
            "client_id": self.settings.client_id,
            "client_secret": self.settings.client_secret,
        }
        if self.settings.scope:
            form["scope"] = self.settings.scope
        return form

    def fetch(self) -> AccessToken:
        """Ask the token endpoint for a new token.

        :raises SurveySphereAuthError: credentials refused or an answer that is not a usable token
        :raises SurveySphereAPIError: the endpoint kept failing with a transient status
        """
        settings = self.settings
        started = self.clock()
        try:
            response = self.session.post(
                settings.token_url,
                data=self.form(),  # requests form-encodes a dict as application/x-www-form-urlencoded
                headers={"Accept": "application/json"},
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise transport_error("POST", settings.token_url, settings.conn_id, exc) from None
        token = self.parse(response, started)
        log.info(
            "Fetched a SurveySphere access token for client id %s (valid %.0f s)", settings.client_id, token.lifetime
        )
        return token

    def parse(self, response: requests.Response, requested_at: float) -> AccessToken:
        """Turn the token endpoint's answer into an :class:`AccessToken` or a clear error.

        An error leaves without the local variables of the parsing, which hold the client secret and the
        answer (the token in it).
        """
        try:
            return self._parse(response, requested_at)
        except Exception as error:
            forget_locals(error)
            raise

    def _parse(self, response: requests.Response, requested_at: float) -> AccessToken:
        secret = self.settings.client_secret
        where = f"token endpoint {_path(self.settings.token_url)} of connection {self.settings.conn_id!r}"
        body = _json_or_none(response)
        if not response.ok:
            if response.status_code in RETRY_STATUSES:
                raise SurveySphereAPIError(
                    "POST", _path(self.settings.token_url), response.status_code, excerpt_of(response, secret)
                )
            if isinstance(body, dict) and isinstance(body.get("error"), str):
                error = scrub(body["error"], secret)[:80]
                description = body.get("error_description")
                message = f"SurveySphere {where} refused the credentials: {error}"
                if isinstance(description, str) and description.strip():
                    message += f" ({scrub(description, secret)[:200]})"
                raise SurveySphereAuthError(message, error=error, http_status=response.status_code)
            raise SurveySphereAuthError(
                f"SurveySphere {where} answered {response.status_code}: {excerpt_of(response, secret)}",
                http_status=response.status_code,
            )
        if not isinstance(body, dict):
            content_type = response.headers.get("Content-Type", "no content type")
            raise SurveySphereAuthError(
                f"SurveySphere {where} answered {response.status_code} with {content_type}, not a JSON object; "
                "is the host the SurveySphere API?",
                http_status=response.status_code,
            )
        value = body.get("access_token")
        if not isinstance(value, str) or not value.strip():
            raise SurveySphereAuthError(f"SurveySphere {where} answered without an access_token")
        mask_secret(value)
        token_type = body.get("token_type")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise SurveySphereAuthError(
                f"SurveySphere {where} issued a token of type {str(token_type)[:40]!r}; only Bearer is supported"
            )
        lifetime = _lifetime(body.get("expires_in"), where)
        return AccessToken(value=value, lifetime=lifetime, expires_at=requested_at + lifetime)


def _lifetime(value: Any, where: str) -> float:
    if value is None:
        return DOCUMENTED_LIFETIME
    if isinstance(value, bool):
        value = "bool"
    try:
        lifetime = float(value)
    except (TypeError, ValueError):
        raise SurveySphereAuthError(
            f"SurveySphere {where} answered expires_in={str(value)[:40]!r}, not a number"
        ) from None
    if not lifetime > 0 or lifetime == float("inf"):
        raise SurveySphereAuthError(f"SurveySphere {where} answered expires_in={value!r}; it must be positive")
    return lifetime


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _path(url: str) -> str:
    return urlsplit(url).path or "/"
