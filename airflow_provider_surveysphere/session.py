"""The keep-alive HTTP session of a hook: retries, timeouts and TLS settings on every request."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.exceptions import ChunkedEncodingError, ContentDecodingError
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import SSLError as RequestsSSLError
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError, SSLError
from urllib3.util.retry import Retry

from airflow_provider_surveysphere import stopping
from airflow_provider_surveysphere.exceptions import (
    SurveySphereConfigError,
    SurveySphereRetryAfterTooLongError,
    connection_failure_cause,
)
from airflow_provider_surveysphere.http_rules import tls_verification

if TYPE_CHECKING:
    from types import TracebackType

    from urllib3 import BaseHTTPResponse
    from urllib3.connectionpool import ConnectionPool

    from airflow_provider_surveysphere.auth import SurveySphereBearerAuth
    from airflow_provider_surveysphere.connection import SurveySphereConnectionSettings
    from airflow_provider_surveysphere.throttle import Throttle

log = logging.getLogger(__name__)

#: Statuses worth asking again for: rate limiting and the server's or a gateway's passing trouble.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class CappedRetry(Retry):
    """urllib3's ``Retry`` with a cap on ``Retry-After``.

    A server may ask for hours; rather than sleep through a task's whole timeout, a wait longer than
    ``max_wait`` fails at once with :class:`SurveySphereRetryAfterTooLongError`.

    With a :class:`~airflow_provider_surveysphere.throttle.Throttle`, the wait before a retry is shared:
    a ``Retry-After`` holds back every thread of the hook, a 429 lowers their concurrency, and the
    waiting thread gives up its slot until it may send again; the paging's stop ends the wait at once.

    :param max_wait: the longest ``Retry-After`` honoured, in seconds
    :param throttle: the hook's throttle, None for a private wait
    """

    def __init__(self, *args: Any, max_wait: float = 120.0, throttle: Throttle | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_wait = max_wait
        self.throttle = throttle

    def new(self, **kw: Any) -> CappedRetry:
        new = super().new(**kw)
        new.max_wait = self.max_wait
        new.throttle = self.throttle
        return new

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> CappedRetry:
        """Count a failed attempt; a connection that failed is named in the log at once, before the retry.

        Without this, a host that does not resolve or a refused port shows nothing until every retry has
        been spent (some 16 s with the default five).
        """
        stopping.check_current()  # the paging stopped: no retry is wanted (the token request's included)
        new = super().increment(method, url, response, error, _pool, _stacktrace)  # raises when none is left
        if error is not None and response is None and _pool is not None:
            proxy = getattr(_pool, "proxy", None)  # urllib3's Url of the proxy the pool goes through
            cause, error_type = connection_failure_cause(error, via_proxy=proxy is not None)
            retries = len(new.history)
            left = new.total if isinstance(new.total, int) else 0
            host = f"[{_pool.host}]" if ":" in _pool.host else _pool.host  # an IPv6 address, as address_of names it
            log.warning(
                "SurveySphere %s %s: cannot connect to %s:%s%s: %s (%s); retry %d of %d",
                method, urlsplit(url or "").path or "/", host, _pool.port,
                f" through the proxy {proxy.host}:{proxy.port}" if proxy is not None else "", cause, error_type,
                retries, retries + left,
            )
        return new

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        if self.throttle is None:
            stop = stopping.current()
            if stop is None:
                return super().sleep(response)
            # The token request of a paging's thread: urllib3's own sleep would not end on the stop.
            retry_after = self.get_retry_after(response) if response is not None and (
                self.respect_retry_after_header) else None
            stop.sleep(retry_after or self.get_backoff_time())
            return None
        retry_after = None
        if response is not None:
            retry_after = self.get_retry_after(response) if self.respect_retry_after_header else None
            self.throttle.answered(response.status, retry_after)
        with self.throttle.released():  # taking the slot back waits for the gate Retry-After closed
            if not retry_after:
                self.throttle.sleep(self.get_backoff_time())  # ends at once when the paging stops
        return None

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        wait = super().get_retry_after(response)
        if wait is not None and wait > self.max_wait:
            raise SurveySphereRetryAfterTooLongError(wait, self.max_wait)
        return wait


class SurveySphereAdapter(HTTPAdapter):
    """An adapter that applies the connection's timeout and TLS choice to every request.

    requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` replace a session's ``verify``, and a
    session has no default timeout; the adapter sees every request after those merges, so the
    connection's settings hold even for code that uses ``hook.get_conn()`` directly. The choice it forces
    is :func:`~airflow_provider_surveysphere.http_rules.tls_verification`'s, the triggers' too.

    :param timeout: seconds used when a caller passes no timeout
    :param verify: forced TLS verification (True, False or a CA bundle), or None to keep requests' choice
    :param conn_id: the connection, named when its CA bundle cannot be read
    :param verify_field: the setting that chose ``verify``, named when its CA bundle cannot be read
        (see :func:`~airflow_provider_surveysphere.http_rules.tls_verification`)
    """

    def __init__(
        self, *, timeout: float, verify: bool | str | None, conn_id: str = "?", verify_field: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.default_timeout = timeout
        self.forced_verify = verify
        self.conn_id = conn_id
        self.verify_field = verify_field
        super().__init__(**kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        """requests raises a bare ``OSError`` for a CA bundle path that is gone: name the setting instead.

        The connection's ``verify`` is checked when it is read; this catches a bundle removed since, or
        one named by ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` when the connection leaves ``verify`` unset.
        """
        try:
            super().cert_verify(conn, url, verify, cert)
        except OSError as exc:
            field = self.verify_field or "verify (REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE)"
            raise SurveySphereConfigError(
                self.conn_id, field, f"the CA bundle {verify!r} cannot be read ({type(exc).__name__})"
            ) from None

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        if self.forced_verify is not None:
            kwargs["verify"] = self.forced_verify
        response = super().send(request, **kwargs)
        if not kwargs.get("stream"):
            read_whole_body(response)
        return response


def read_whole_body(response: requests.Response) -> None:
    """Read an answer's body in one call, decoded (gzip, deflate...) as ``response.content`` would be.

    ``response.content`` joins the body from 10 KiB chunks, each through urllib3's ``stream``/``read`` layers and
    a generator: some 10% of the client's CPU per 500-record page (BENCHMARKS.md). One ``raw.read`` reads the
    same bytes with one pass through those layers. Errors are requests' own, as ``iter_content`` raises them, so
    that callers (and :func:`~airflow_provider_surveysphere.exceptions.transport_error`) see no difference;
    the connection goes back to the pool once the body is read, as before.
    """
    if response._content_consumed or response.raw is None:  # read already (a test double, a hook)
        return
    try:
        content = response.raw.read(decode_content=True)
    except ProtocolError as exc:  # a body cut short (IncompleteRead), a broken chunk
        raise ChunkedEncodingError(exc) from exc
    except DecodeError as exc:
        raise ContentDecodingError(exc) from exc
    except ReadTimeoutError as exc:
        raise RequestsConnectionError(exc) from exc
    except SSLError as exc:
        raise RequestsSSLError(exc) from exc
    # requests offers no public setter: the body read is kept where ``Response.content`` keeps it.
    response._content = content or b""
    response._content_consumed = True


class SurveySphereSession(requests.Session):
    """A ``requests.Session`` that reads the environment's proxy and CA bundle settings once per origin.

    requests looks them up again on every request (``HTTP(S)_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``:
    two walks over ``os.environ``), which was a quarter of the client's CPU per page of an export, and more
    in a pod whose environment holds hundreds of variables. A task's environment does not change while it
    pages, so the merged settings are kept per origin and per session setting. Requests that pass their own
    ``proxies`` take requests' own path.
    """

    def __init__(self) -> None:
        super().__init__()
        self._environment_settings: dict[tuple[Any, ...], dict[str, Any]] = {}

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> dict[str, Any]:
        if proxies or not self.trust_env or not isinstance(url, str):
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, stream, verify, cert, self.stream, self.verify, self.cert,
               tuple(sorted(self.proxies.items())))
        settings = self._environment_settings.get(key)
        if settings is None:
            settings = super().merge_environment_settings(url, {}, stream, verify, cert)
            self._environment_settings[key] = settings
        return {**settings, "proxies": dict(settings["proxies"])}


def build_retry(
    settings: SurveySphereConnectionSettings,
    *,
    max_wait: float,
    backoff_factor: float = 0.5,
    backoff_max: float = 30.0,
    backoff_jitter: float = 0.5,
    allowed_methods: frozenset[str] = Retry.DEFAULT_ALLOWED_METHODS,
    throttle: Throttle | None = None,
) -> CappedRetry:
    """Retries for idempotent methods: exponential backoff with jitter, ``Retry-After`` honoured and capped.

    ``status_forcelist`` must be set, or urllib3 retries no status at all; POST and PATCH are left out
    (urllib3's default ``allowed_methods``) since the server may have acted on them.

    :param allowed_methods: the methods retried; the token request passes ``{"POST"}``, since asking
        again for a token is harmless
    :param throttle: shares ``Retry-After`` and 429 back-off across the threads of a hook
    """
    return CappedRetry(
        total=settings.max_retries,
        # "other" errors are TLS failures (a certificate that does not verify): permanent, not retried.
        other=0,
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_factor,
        backoff_max=min(backoff_max, max_wait),
        backoff_jitter=backoff_jitter,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
        allowed_methods=allowed_methods,
        max_wait=max_wait,
        throttle=throttle,
    )


def build_session(
    settings: SurveySphereConnectionSettings,
    retry: Retry,
    auth: SurveySphereBearerAuth | None = None,
    *,
    pool_maxsize: int = 10,
) -> requests.Session:
    """A keep-alive session bound to one connection: bearer auth, retries, timeout and TLS settings.

    :param pool_maxsize: connections kept alive per host: at least the threads that share the session
    """
    verification = tls_verification(settings)  # the rule the triggers' client follows too
    session = SurveySphereSession()
    session.auth = auth
    session.headers["Accept"] = "application/json"
    session.headers["User-Agent"] = f"airflow-provider-surveysphere {requests.utils.default_user_agent()}"
    adapter = SurveySphereAdapter(
        timeout=settings.timeout, verify=verification.verify, conn_id=settings.conn_id, max_retries=retry,
        pool_maxsize=pool_maxsize, verify_field=verification.field,
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
