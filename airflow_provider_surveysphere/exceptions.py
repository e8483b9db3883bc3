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


class SurveySphereTLSError(SurveySpherePermanentError):
    """The server's certificate could not be verified: a setting to fix, not a failure to retry.

    :param method: HTTP method of the failed request
    :param path: the request's path
    :param conn_id: the connection whose ``verify`` extra applies
    """

    def __init__(self, method: str, path: str, conn_id: str) -> None:
        super().__init__(
            f"SurveySphere API {method} {path}: TLS certificate verification failed; if the server uses a "
            f"private CA, set extra.verify of connection {conn_id!r} to its CA bundle path"
        )


def transport_error(method: str, path: str, conn_id: str, exc: BaseException) -> SurveySphereError:
    """The error for a request that got no answer: TLS failures are permanent, the rest transient.

    The message names the exception types only: their text may carry the URL and its query string.
    """
    import requests  # local: keep this module free of HTTP imports for users who only catch errors

    if isinstance(exc, requests.exceptions.SSLError):
        return SurveySphereTLSError(method, path, conn_id)
    reason = exc.args[0] if exc.args else exc
    reason = getattr(reason, "reason", reason)
    return SurveySphereAPIError(method, path, 0, f"{type(exc).__name__} ({type(reason).__name__})")


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
