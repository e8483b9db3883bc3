"""The asynchronous SurveySphere client of the triggers: never blocks the triggerer's event loop.

Built on httpx, which both supported Airflow lines already install (``apache-airflow`` 2.11 and
``apache-airflow-core``/``task-sdk`` 3.x depend on it; aiohttp is only pulled in by the HTTP provider on
2.11 and is absent from a plain 3.x install). The rules are the hook's, and so is the code where it can
be: the connection is validated by :class:`SurveySphereConnectionSettings`, the token form and the parsing
of the token answer are :class:`TokenClient`'s, token freshness is :class:`AccessToken`'s. One client
holds one token for its whole life (a trigger run), renews it before it expires and once after a 401,
honours ``Retry-After`` up to a cap, and sends the token to the connection's origin only.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import requests

from airflow.providers.common.compat.sdk import AirflowNotFoundException
from airflow_provider_surveysphere.connection import SurveySphereConnectionSettings, origin_of
from airflow_provider_surveysphere.exceptions import (
    SurveySphereAPIError,
    SurveySphereClientError,
    SurveySphereConfigError,
    SurveySphereConnectionError,
    SurveySphereRetryAfterTooLongError,
    SurveySphereTLSError,
    address_of,
    connection_failure_cause,
    proxy_for,
)
from airflow_provider_surveysphere.http_rules import check_origin, endpoint_url, ssl_context, tls_verification
from airflow_provider_surveysphere.redaction import excerpt_of
from airflow_provider_surveysphere.session import RETRY_STATUSES
from airflow_provider_surveysphere.token import AccessToken, TokenClient

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[Any]]


async def load_settings(conn_id: str) -> SurveySphereConnectionSettings:
    """Read and validate a connection without blocking the event loop.

    :raises SurveySphereConfigError: the connection is missing or invalid
    """
    from airflow.providers.common.compat.connection import get_async_connection

    try:
        conn = await get_async_connection(conn_id)
    except AirflowNotFoundException:
        raise SurveySphereConfigError(
            conn_id, "connection", f"is not defined; create it in the UI or set AIRFLOW_CONN_{conn_id.upper()}"
        ) from None
    return SurveySphereConnectionSettings.from_connection(conn)


class AsyncBearerAuth(httpx.Auth):
    """httpx auth of :class:`SurveySphereAsyncClient`: the client's token, to its connection's origin only;
    after a 401 the refused token is dropped and the request re-sent once with a new one.

    The asynchronous twin of :class:`~airflow_provider_surveysphere.auth.SurveySphereBearerAuth`, written as
    httpx's ``auth_flow`` generator (httpx's own way to answer a 401).

    :param client: the client whose token is sent
    """

    def __init__(self, client: SurveySphereAsyncClient) -> None:
        self.client = client

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("AsyncBearerAuth serves the asynchronous client only")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        check_origin(str(request.url), self.client.settings.origin)
        request.headers["Authorization"] = f"Bearer {await self.client.get_token()}"
        response = yield request
        if response.status_code == 401:
            log.info("SurveySphere answered 401 to %s %s; renewing the token and re-sending once",
                     request.method, request.url.path)
            self.client.invalidate_token(request.headers["Authorization"].removeprefix("Bearer "))
            # A copy, as requests' auth re-sends one: the refused request stays as it was sent.
            retry = httpx.Request(request.method, request.url, headers=request.headers, content=request.content,
                                  extensions=request.extensions)
            retry.headers["Authorization"] = f"Bearer {await self.client.get_token()}"
            yield retry


def as_requests_response(response: httpx.Response) -> requests.Response:
    """The same answer as a ``requests.Response``, so that the hook's parsing and excerpts apply unchanged."""
    converted = requests.Response()
    converted.status_code = response.status_code
    converted._content = response.content
    converted.headers = requests.structures.CaseInsensitiveDict(response.headers)
    converted.encoding = response.encoding
    converted.url = str(response.url)
    return converted


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class SurveySphereAsyncClient:
    """One connection's asynchronous client; use it as ``async with`` so that its connections close.

    :param settings: the validated connection
    :param max_retry_wait: the longest single wait between retries; a longer ``Retry-After`` fails at once
    :param sleep: awaited for every wait (replaceable in tests: no real sleeping)
    :param clock: monotonic clock dating the token's expiry
    :param transport: an httpx transport (tests pass ``httpx.MockTransport``)
    """

    backoff_factor: float = 0.5
    backoff_max: float = 30.0
    backoff_jitter: float = 0.5

    def __init__(
        self,
        settings: SurveySphereConnectionSettings,
        *,
        max_retry_wait: float = 120.0,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.max_retry_wait = max_retry_wait
        self.sleep = sleep
        self.clock = clock
        self.token_client = TokenClient(settings, clock=clock, session=requests.Session())
        self.tokens_fetched = 0
        self._token: AccessToken | None = None
        self._token_lock = asyncio.Lock()
        #: Puts the token on each data request: in a header of the request, never in a local variable of the
        #: client's frames (a traceback that shows locals, as Airflow 3.0's does, would print it).
        self.auth = AsyncBearerAuth(self)
        self._http = httpx.AsyncClient(
            timeout=settings.timeout,
            # The hook's TLS rule (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, the connection's verify winning).
            verify=ssl_context(tls_verification(settings), settings.conn_id),
            follow_redirects=False,
            headers={
                "Accept": "application/json",
                "User-Agent": f"airflow-provider-surveysphere httpx/{httpx.__version__}",
            },
            transport=transport,
        )

    async def __aenter__(self) -> SurveySphereAsyncClient:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close pooled connections and forget the token."""
        self._token = None
        await self._http.aclose()

    # -- token --------------------------------------------------------------------------------------------

    async def get_token(self) -> str:
        """The client's token, fetched on first use and renewed shortly before it expires."""
        token = self._token
        if token is not None and token.is_fresh(self.clock(), self.settings.token_refresh_leeway):
            return token.value
        async with self._token_lock:
            token = self._token
            if token is None or not token.is_fresh(self.clock(), self.settings.token_refresh_leeway):
                token = self._token = await self._fetch_token()
            return token.value

    def invalidate_token(self, value: str) -> None:
        """Drop ``value`` if it is still the current token (the server refused it)."""
        if self._token is not None and self._token.value == value:
            self._token = None

    async def _fetch_token(self) -> AccessToken:
        settings = self.settings
        started = self.clock()
        response = await self._send_with_retries(
            "POST",
            settings.token_url,
            data=self.token_client.form(),  # httpx form-encodes a dict: application/x-www-form-urlencoded
            headers={"Accept": "application/json"},
        )
        token = self.token_client.parse(as_requests_response(response), started)
        self.tokens_fetched += 1
        log.info(
            "Fetched a SurveySphere access token for client id %s (valid %.0f s)", settings.client_id, token.lifetime
        )
        return token

    # -- requests -----------------------------------------------------------------------------------------

    def url_for(self, endpoint: str) -> str:
        """Resolve ``endpoint`` against the base URL; refuse a URL on another origin (the hook's rules)."""
        return endpoint_url(self.settings, endpoint)

    async def get_json(
        self, endpoint: str, *, params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None
    ) -> Any:
        """GET ``endpoint`` with the bearer token and return its JSON; a non-2xx answer raises.

        :raises SurveySphereClientError: a 4xx other than 408/429 (``http_status`` tells which)
        :raises SurveySphereAPIError: a transient failure that outlasted the retries
        """
        url = self.url_for(endpoint)
        response = await self._send_with_retries("GET", url, params=params, headers=dict(headers or {}), auth=self.auth)
        self.check_response(response)
        try:
            return response.json()
        except ValueError:
            raise SurveySphereAPIError(
                "GET", urlsplit(url).path, response.status_code,
                f"not JSON ({response.headers.get('Content-Type', 'no content type')})",
            ) from None

    def check_response(self, response: httpx.Response) -> None:
        """Raise the hook's errors for a non-2xx answer; a redirect is refused (the token stays home)."""
        status = response.status_code
        if 200 <= status < 300:
            return
        path = response.request.url.path
        excerpt = excerpt_of(as_requests_response(response), self.settings.client_secret)
        if 300 <= status < 400:
            target = origin_of(urljoin(str(response.request.url), response.headers.get("Location", "")))
            raise SurveySphereClientError(
                response.request.method, path, status, f"a redirect to {target}; use the final URL as the endpoint"
            )
        transient = status >= 500 or status in (408, 429)
        error_class = SurveySphereAPIError if transient else SurveySphereClientError
        raise error_class(response.request.method, path, status, excerpt)

    async def _send_with_retries(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send, retrying dropped connections and 429/5xx answers with backoff; ``Retry-After`` wins, capped."""
        path = urlsplit(url).path or "/"
        attempt = 0
        while True:
            try:
                response = await self._http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                if _is_tls_failure(exc):
                    raise SurveySphereTLSError(method, path, self.settings.conn_id, address_of(url)) from None
                # The same words as the hook's (exceptions.connection_failure_cause), for the same causes.
                proxy = proxy_for(url)  # httpx trusts the environment's proxies, as requests does
                cause, error_type = connection_failure_cause(exc, via_proxy=proxy is not None)
                if attempt >= self.settings.max_retries:
                    raise SurveySphereConnectionError(method, path, address_of(url), cause, error_type, proxy) from None
                wait = self._backoff(attempt)
                log.warning(
                    "SurveySphere %s %s: cannot connect to %s%s: %s (%s); retry %d of %d",
                    method, path, address_of(url), f" through the proxy {proxy}" if proxy else "", cause, error_type,
                    attempt + 1, self.settings.max_retries,
                )
            else:
                if response.status_code not in RETRY_STATUSES or attempt >= self.settings.max_retries:
                    return response
                asked = retry_after_seconds(response.headers.get("Retry-After"))
                if asked is not None and asked > self.max_retry_wait:
                    raise SurveySphereRetryAfterTooLongError(asked, self.max_retry_wait)
                wait = self._backoff(attempt) if asked is None else asked
                log.info(
                    "SurveySphere answered %s to %s %s; retrying in %.1f s", response.status_code, method, path, wait
                )
            attempt += 1
            await self.sleep(wait)

    def _backoff(self, attempt: int) -> float:
        wait = min(self.backoff_factor * (2**attempt), self.backoff_max, self.max_retry_wait)
        return float(wait + random.uniform(0, self.backoff_jitter) if self.backoff_jitter else wait)


def _is_tls_failure(exc: BaseException) -> bool:
    import ssl

    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return True
        cause = cause.__cause__ or cause.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)
