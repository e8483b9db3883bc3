"""Errors raised by the SurveySphere provider.

Permanent errors (bad configuration, rejected credentials, a 4xx answer) derive from
``AirflowFailException`` so that Airflow fails the task at once instead of spending its retries on a
request that cannot succeed; transient ones (5xx or 429 after the hook's own retries) derive from
``AirflowException`` so that the task's ``retries`` still apply. No message ever contains a secret.
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException


class SurveySphereError(AirflowException):
    """Base class of every error this provider raises."""


class SurveySpherePermanentError(SurveySphereError, AirflowFailException):
    """An error that retrying cannot fix: the task fails without using its retries."""


class SurveySphereConfigError(SurveySpherePermanentError, ValueError):
    """A connection or argument value is missing or invalid.

    :param conn_id: the Airflow connection id the value comes from
    :param field: the connection field or extra key at fault
    :param problem: what is wrong, in words a user can act on
    """

    def __init__(self, conn_id: str, field: str, problem: str) -> None:
        self.conn_id = conn_id
        self.field = field
        super().__init__(f"SurveySphere connection {conn_id!r}: {field}: {problem}")


class SurveySphereArgumentError(SurveySpherePermanentError, ValueError):
    """An operator or hook argument is invalid (an empty endpoint, an unwritable output path, ...).

    :param argument: the argument at fault
    :param problem: what is wrong
    """

    def __init__(self, argument: str, problem: str) -> None:
        self.argument = argument
        super().__init__(f"{argument}: {problem}")


class SurveySphereAuthError(SurveySpherePermanentError):
    """The token endpoint refused the credentials (an RFC 6749 section 5.2 error) or answered nonsense.

    :param message: what happened, without secrets
    :param error: the OAuth ``error`` code, when the server sent one
    :param http_status: the HTTP status of the token answer, when there was one (named so because
        ``AirflowException.status_code`` is Airflow's own, an ``HTTPStatus`` for its API)
    """

    def __init__(self, message: str, *, error: str | None = None, http_status: int | None = None) -> None:
        self.error = error
        self.http_status = http_status
        super().__init__(message)


class SurveySphereAPIError(SurveySphereError):
    """The API answered with a non-2xx status after the hook's retries.

    :param method: HTTP method of the failed request
    :param path: the request's path (no query string: it may carry user data)
    :param http_status: the HTTP status code, 0 when no answer came (connection failed)
    :param excerpt: a short, secret-free excerpt of the answer's body
    """

    def __init__(self, method: str, path: str, http_status: int, excerpt: str = "") -> None:
        self.method = method
        self.path = path
        self.http_status = http_status
        self.excerpt = excerpt
        message = (
            f"SurveySphere API {method} {path} answered {http_status}"
            if http_status
            else f"SurveySphere API {method} {path} failed"
        )
        if excerpt:
            message += f": {excerpt}"
        super().__init__(message)


class SurveySphereClientError(SurveySphereAPIError, SurveySpherePermanentError):
    """A 4xx answer other than 408 and 429: the request itself is wrong and is not retried."""


class SurveySphereConnectionError(SurveySphereAPIError):
    """No answer came: the host's name does not resolve, the port refuses, or the server stays silent.

    Transient (the task's retries apply): a DNS or network outage heals, and a typo is named in words
    on the first attempt.

    :param method: HTTP method of the failed request
    :param path: the request's path (no query string)
    :param address: ``host:port`` the request was sent to
    :param cause: what went wrong, in words
    :param error_type: the name of the low-level error, for searches
    :param proxy: ``host:port`` of the proxy the request went through (see :func:`proxy_for`), if any: the
        cause is then the proxy's, and the message says so
    """

    def __init__(
        self, method: str, path: str, address: str, cause: str, error_type: str, proxy: str | None = None
    ) -> None:
        self.address = address
        self.cause = cause
        self.proxy = proxy
        via = f" through the proxy {proxy}" if proxy else ""
        super().__init__(method, path, 0, f"cannot connect to {address}{via}: {cause} ({error_type})")


class SurveySphereBodyError(SurveySphereConnectionError):
    """An answer came, but its body did not arrive whole (cut short before its ``Content-Length``, a broken chunk)
    or could not be decoded (its ``Content-Encoding``).

    Transient, like the connection failures it derives from: the task's retries apply. The paging names the page
    it was reading (:meth:`on_page`).

    :param method: HTTP method of the request
    :param path: the request's path (no query string)
    :param address: ``host:port`` that answered
    :param cause: what went wrong, in words
    :param error_type: the name of the low-level error, for searches
    :param page: the page being read, when the paging knows it
    """

    def __init__(
        self, method: str, path: str, address: str, cause: str, error_type: str, page: str | None = None
    ) -> None:
        self.address = address
        self.cause = cause
        self.error_type = error_type
        self.proxy = None
        self.page = page
        where = f" ({page})" if page else ""
        SurveySphereAPIError.__init__(self, method, path, 0, f"the answer from {address}{where} {cause} ({error_type})")

    def on_page(self, page: str) -> SurveySphereBodyError:
        """The same error, naming the page (``"page 2 of api/v1/..."``) the paging was reading."""
        return SurveySphereBodyError(self.method, self.path, self.address, self.cause, self.error_type, page)


def body_failure_cause(exc: BaseException) -> tuple[str, str]:
    """``(cause in words, low-level error type)`` of an answer whose body did not arrive whole or decode.

    :param exc: what requests raised (``ChunkedEncodingError``, ``ContentDecodingError``)
    """
    import http.client

    seen: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending and len(seen) < 20:
        current = pending.pop(0)
        if current is None or any(current is known for known in seen):
            continue
        seen.append(current)
        if isinstance(current, http.client.IncompleteRead):
            received = len(current.partial)
            if current.expected is not None:
                return (f"was cut short: its body ended after {received} of {received + current.expected} bytes",
                        "IncompleteRead")
            return f"was cut short: its body ended after {received} bytes", "IncompleteRead"
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
        pending.extend([current.__cause__, current.__context__])
    if any(type(error).__name__ in ("ContentDecodingError", "DecodeError") for error in seen):
        return "could not be decoded as its Content-Encoding says", "ContentDecodingError"
    return "was cut short: its body did not arrive whole", type(exc).__name__


class SurveySphereTLSError(SurveySpherePermanentError):
    """The server's certificate could not be verified: a setting to fix, not a failure to retry.

    :param method: HTTP method of the failed request
    :param path: the request's path
    :param conn_id: the connection whose ``verify`` extra applies
    :param address: ``host:port`` of the server, when known
    """

    def __init__(self, method: str, path: str, conn_id: str, address: str = "") -> None:
        self.address = address
        at = f" with {address}" if address else ""
        super().__init__(
            f"SurveySphere API {method} {path}: TLS certificate verification failed{at}; if the server uses a "
            f"private CA, set extra.verify of connection {conn_id!r} to its CA bundle path"
        )


DEFAULT_PORTS = {"https": 443, "http": 80}


def address_of(url: str) -> str:
    """``host:port`` of a URL, the port filled in from the scheme when the URL has none; never a query.

    :param url: an absolute URL
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port if port is not None else DEFAULT_PORTS.get(parts.scheme.lower(), '?')}"


def proxy_for(url: str) -> str | None:
    """``host:port`` of the proxy the environment sends ``url`` through (``HTTPS_PROXY``, ``NO_PROXY``...), or None.

    Both clients read the same variables (requests and httpx trust the environment). Through a proxy the
    client resolves and connects to the proxy only, so a name that does not resolve or a refused port is
    the proxy's: naming the target and its Base URL would send the user to the wrong setting. The proxy's
    user info (a password) is never part of the answer.

    :param url: the URL of the request
    """
    import requests.utils  # local: keep this module free of HTTP imports for users who only catch errors

    proxy = requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url))
    if not proxy:
        return None
    return address_of(proxy if "://" in proxy else f"http://{proxy}")


def connection_failure_cause(exc: BaseException, *, via_proxy: bool = False) -> tuple[str, str]:
    """``(cause in words, low-level error type)`` of a request that got no answer.

    Follows the chain requests and urllib3 build (``MaxRetryError.reason``, ``__cause__``, ``args``)
    down to the socket's own error.

    :param exc: what requests or urllib3 raised
    :param via_proxy: the request went through a proxy (:func:`proxy_for`): a name or port at fault is the proxy's
    """
    import socket

    chain: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending and len(chain) < 20:
        current = pending.pop(0)
        if current is None or any(current is seen for seen in chain):
            continue
        chain.append(current)
        reason = getattr(current, "reason", None)
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
        pending.extend([reason if isinstance(reason, BaseException) else None, current.__cause__, current.__context__])
    names = {type(error).__name__ for error in chain}
    if any(isinstance(error, socket.gaierror) for error in chain) or "NameResolutionError" in names:
        if via_proxy:
            cause = "the proxy's host name does not resolve (check HTTPS_PROXY/HTTP_PROXY for a typo)"
            return cause, "NameResolutionError"
        return "the host name does not resolve (check the Base URL for a typo)", "NameResolutionError"
    if any(isinstance(error, ConnectionRefusedError) for error in chain):
        if via_proxy:
            return "connection refused by the proxy (nothing listens on its port)", "ConnectionRefusedError"
        return "connection refused (nothing listens on that port)", "ConnectionRefusedError"
    if names & {"SSLError", "SSLCertVerificationError"}:
        return "the TLS handshake failed", "SSLError"
    if names & {"ConnectTimeout", "ConnectTimeoutError"}:
        return "timed out while connecting (no answer within the connection's timeout)", "ConnectTimeout"
    if names & {"ReadTimeout", "ReadTimeoutError", "TimeoutError", "timeout"}:
        return "timed out waiting for the answer (none within the connection's timeout)", "ReadTimeout"
    for error in chain:
        if isinstance(error, (ConnectionResetError, ConnectionAbortedError)) or type(error).__name__ in (
            "RemoteDisconnected", "ProtocolError",
        ):
            return "the server closed the connection without an answer", type(error).__name__
    return f"the connection failed ({type(chain[-1]).__name__})", type(exc).__name__


def transport_error(method: str, url: str, conn_id: str, exc: BaseException) -> SurveySphereError:
    """The error for a request that got no answer: TLS failures are permanent, the rest transient.

    The message names the URL's host and port, the request's path and the cause in words, never the
    exception's own text: it may carry the URL's query string.

    :param method: HTTP method of the request
    :param url: the URL the request was sent to (a bare path is accepted, then no host is named)
    :param conn_id: the connection, named when a setting must change
    :param exc: what requests raised
    """
    from urllib.parse import urlsplit

    import requests  # local: keep this module free of HTTP imports for users who only catch errors

    parts = urlsplit(url)
    path = parts.path or "/"
    address = address_of(url) if parts.netloc else ""
    if isinstance(exc, requests.exceptions.SSLError):
        return SurveySphereTLSError(method, path, conn_id, address)
    body_errors = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)
    if address and isinstance(exc, body_errors):
        return SurveySphereBodyError(method, path, address, *body_failure_cause(exc))
    proxy = proxy_for(url) if address else None
    cause, error_type = connection_failure_cause(exc, via_proxy=proxy is not None)
    if not address:
        return SurveySphereAPIError(method, path, 0, f"{cause} ({error_type})")
    return SurveySphereConnectionError(method, path, address, cause, error_type, proxy)


class SurveySphereRetryAfterTooLongError(SurveySphereError):
    """The server asked to wait (``Retry-After``) longer than the configured cap.

    :param wait: the wait the server asked for, in seconds
    :param cap: the longest wait the hook accepts, in seconds
    """

    def __init__(self, wait: float, cap: float) -> None:
        self.wait = wait
        self.cap = cap
        super().__init__(
            f"SurveySphere asked to retry after {wait:.0f} s, longer than the {cap:.0f} s the hook waits "
            "at most (raise max_retry_wait, or let the task's own retries try later)"
        )


class SurveySpherePagingStopped(SurveySphereError):
    """A page request was not sent, or not re-sent, because its answer is no longer wanted.

    The paging raises it in its own worker threads once the consumer has gone or the export's result is known;
    it never reaches a DAG.
    """

    def __init__(self) -> None:
        super().__init__("the paging stopped: the page request was not sent")


class SurveySphereForeignHostError(SurveySpherePermanentError):
    """A URL points to a host other than the connection's: the token never leaves its host.

    :param url_host: the host the URL points to
    :param allowed: the connection's base URL origin
    """

    def __init__(self, url_host: str, allowed: str) -> None:
        super().__init__(
            f"refusing to send a SurveySphere request to {url_host!r}: only {allowed} may receive the token"
        )


class SurveySpherePaginationError(SurveySpherePermanentError):
    """A page does not have the configured shape, or the server repeats pages."""


class SurveySphereResponseCheckError(SurveySpherePermanentError):
    """The operator's ``response_check`` returned a false value."""


class SurveySphereTemplateError(SurveySpherePermanentError):
    """A templated field of a SurveySphere task failed to render: the DAG must change, retries cannot help.

    :param task_id: the task whose field failed
    :param problem: Jinja's message (a name, never a rendered value)
    """

    def __init__(self, task_id: str, problem: str) -> None:
        self.task_id = task_id
        hint = ""
        if "data_interval" in problem or "logical_date" in problem:
            hint = (
                "; a manual run on Airflow 3 without a logical date has no data interval: pass a logical date "
                "(or a backfill), or take the dates from params or dag_run in the template"
            )
        super().__init__(f"task {task_id!r}: a templated field failed to render: {problem}{hint}")
