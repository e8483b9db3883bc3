"""The SurveySphere hook: one connection, one keep-alive session, one token per task run."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook, get_current_context
from airflow_provider_surveysphere.auth import SurveySphereBearerAuth
from airflow_provider_surveysphere.connection import SurveySphereConnectionSettings
from airflow_provider_surveysphere.exceptions import (
    SurveySphereAPIError,
    SurveySphereClientError,
    SurveySphereConfigError,
    SurveySphereError,
    SurveySpherePermanentError,
    transport_error,
)
from airflow_provider_surveysphere.http_rules import endpoint_url
from airflow_provider_surveysphere.lineage import record_hook_input
from airflow_provider_surveysphere.paging import DEFAULT_MAX_PAGES, MAX_CONCURRENCY, Paginator
from airflow_provider_surveysphere.redaction import excerpt_of
from airflow_provider_surveysphere.session import build_retry, build_session
from airflow_provider_surveysphere.templating import mapping_field
from airflow_provider_surveysphere.throttle import Throttle
from airflow_provider_surveysphere.token import PROCESS_TOKEN_CACHE, TokenCache, TokenClient, cache_key

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Connection
    from airflow_provider_surveysphere.page import PageRequest
    from airflow_provider_surveysphere.stopping import Stop
    from airflow_provider_surveysphere.strategies import PaginationLike

#: 4xx statuses that are worth retrying later; every other 4xx is the request's own fault.
TRANSIENT_CLIENT_STATUSES = frozenset({408, 429})


def current_task_run() -> Hashable:
    """Identify the running task instance, so that each task run has a token of its own.

    Outside a task (a script, a test) every hook of the process shares one scope.
    """
    try:
        ti = get_current_context()["ti"]
    except Exception:  # noqa: BLE001 - no task is running: Airflow raises a different error on each line
        return None
    return (ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1), getattr(ti, "try_number", None))


class SurveySphereHook(BaseHook):
    """Calls the SurveySphere REST API with an OAuth 2.0 client-credentials token.

    The connection holds the base URL (host), the Client ID (login) and the Client Secret
    (password). One token serves every request of a task run, across hook instances and threads;
    it is renewed shortly before it expires and once right after a 401.

    :param surveysphere_conn_id: the Airflow connection to use
    :param max_retry_wait: the longest single wait between retries, ``Retry-After`` included; a server
        asking for longer fails the call at once
    :param token_cache: where tokens are kept; the process-wide cache unless given
    """

    conn_name_attr = "surveysphere_conn_id"
    default_conn_name = "surveysphere_default"
    conn_type = "surveysphere"
    hook_name = "SurveySphere"

    #: Backoff between retries: ``backoff_factor * 2 ** n`` seconds, plus up to ``backoff_jitter``,
    #: at most ``backoff_max``.
    backoff_factor: float = 0.5
    backoff_max: float = 30.0
    backoff_jitter: float = 0.5

    def __init__(
        self,
        surveysphere_conn_id: str = default_conn_name,
        *,
        max_retry_wait: float = 120.0,
        token_cache: TokenCache | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.surveysphere_conn_id = surveysphere_conn_id
        self.max_retry_wait = max_retry_wait
        self.token_cache = token_cache if token_cache is not None else PROCESS_TOKEN_CACHE
        #: Shared by every thread sending through this hook: Retry-After and 429 back-off apply to all.
        self.throttle = Throttle()

    # -- connection form (Airflow 2.11; Airflow 3.2+ reads the same from provider info) -----------------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Labels of the connection form on Airflow 2.11."""
        from airflow_provider_surveysphere.provider_info import UI_FIELD_BEHAVIOUR

        return {
            "hidden_fields": UI_FIELD_BEHAVIOUR["hidden-fields"],
            "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
            "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form on Airflow 2.11."""
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import StringField

        from airflow_provider_surveysphere.provider_info import CONN_FIELDS

        return {
            name: StringField(
                lazy_gettext(field["label"]), widget=BS3TextFieldWidget(), description=field["description"]
            )
            for name, field in CONN_FIELDS.items()
        }

    # -- settings, token and session ----------------------------------------------------------------------

    @cached_property
    def settings(self) -> SurveySphereConnectionSettings:
        """The validated connection (read once per hook)."""
        # No local variable holds the connection, whose repr shows the password on Airflow 3.1+.
        return SurveySphereConnectionSettings.from_connection(self._connection())

    def _connection(self) -> Connection:
        try:
            return self.get_connection(self.surveysphere_conn_id)
        except AirflowNotFoundException:
            raise SurveySphereConfigError(
                self.surveysphere_conn_id,
                "connection",
                "is not defined; create it in the UI or set AIRFLOW_CONN_"
                f"{self.surveysphere_conn_id.upper()}",
            ) from None

    @cached_property
    def token_client(self) -> TokenClient:
        """Fetches new tokens for this connection."""
        return TokenClient(self.settings, clock=self.token_cache.clock, max_retry_wait=self.max_retry_wait)

    @cached_property
    def _token_key(self) -> Hashable:
        return cache_key(self.settings, current_task_run())

    def get_token(self) -> str:
        """Return a valid access token, from the cache when one is fresh."""
        return self.token_cache.get(self._token_key, self.token_client.fetch, self.settings.token_refresh_leeway).value

    def invalidate_token(self, value: str) -> None:
        """Forget ``value`` if it is the cached token (after the server refused it)."""
        self.token_cache.invalidate(self._token_key, value)

    def get_conn(self) -> requests.Session:
        """The hook's keep-alive session: bearer auth, retries, timeout and TLS settings of the connection."""
        return self._session

    @cached_property
    def _session(self) -> requests.Session:
        settings = self.settings
        auth = SurveySphereBearerAuth(settings.origin, self.get_token, self.invalidate_token)
        retry = build_retry(
            settings,
            max_wait=self.max_retry_wait,
            backoff_factor=self.backoff_factor,
            backoff_max=self.backoff_max,
            backoff_jitter=self.backoff_jitter,
            throttle=self.throttle,
        )
        if settings.verify is False:
            self.log.warning(
                "TLS certificate verification is OFF for connection %r (extra verify=false)", settings.conn_id
            )
        # The pool keeps a connection alive for every thread that concurrent paging may run.
        return build_session(settings, retry, auth, pool_maxsize=MAX_CONCURRENCY)

    def close(self) -> None:
        """Close the pooled connections of the hook's session and of its token client's session."""
        session = self.__dict__.pop("_session", None)
        if session is not None:
            session.close()
        token_client = self.__dict__.pop("token_client", None)
        if token_client is not None:
            token_client.close()

    # -- requests -----------------------------------------------------------------------------------------

    def url_for(self, endpoint: str) -> str:
        """Resolve ``endpoint`` against the base URL; refuse an absolute URL to another origin.

        :param endpoint: a path relative to the base URL (``api/v1/surveys`` or ``/api/v1/surveys``), or an
            absolute URL on the connection's own host (a next link, say); the rules are
            :func:`~airflow_provider_surveysphere.http_rules.endpoint_url`'s, the triggers' too
        """
        # The pages of an export share their endpoint: the last one resolved is kept (one tuple, so that
        # threads sharing the hook always read an endpoint with its own URL).
        settings = self.settings
        last = self.__dict__.get("_last_endpoint_url")
        if last is not None and last[0] is settings and last[1] == endpoint:
            return str(last[2])
        url = endpoint_url(settings, endpoint)
        self.__dict__["_last_endpoint_url"] = (settings, endpoint, url)
        return url

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """Send one request and return its answer; a non-2xx answer raises. Recorded as hook lineage.

        :param method: HTTP method
        :param endpoint: path relative to the base URL, or an absolute URL on the same host
        :param params: query string parameters
        :param json: a JSON body
        :param data: a form or raw body
        :param headers: extra headers (``Authorization`` is the hook's own)
        :param stream: leave the body unread until the caller reads it
        :raises SurveySphereClientError: a 4xx answer (not retried)
        :raises SurveySphereAPIError: a 5xx or 429 answer after the retries, or a 401 to a body that
            cannot be re-sent with a new token (a generator, a non-seekable stream)
        """
        response = self.send_request(
            method, endpoint, params=params, json=json, data=data, headers=headers, stream=stream
        )
        record_hook_input(self, self.url_for(endpoint))
        return response

    def send_request(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """:meth:`request` without its lineage record: what :meth:`paginate` sends each page with (it records the
        endpoint itself, once the next pages are requested). Override to change how every request is sent.

        The parameters and errors are :meth:`request`'s.
        """
        url = self.url_for(endpoint)
        method = method.upper()
        session = self.get_conn()
        try:
            with self.throttle.slot():
                response = session.request(
                    method, url, params=params, json=json, data=data, headers=dict(headers or {}), stream=stream
                )
        except SurveySphereError:
            raise
        except requests.RequestException as exc:
            raise transport_error(method, url, self.surveysphere_conn_id, exc) from None
        self.check_response(response)
        return response

    def check_response(self, response: requests.Response) -> None:
        """Raise a clear error for a non-2xx answer. Override to accept other statuses.

        :param response: the answer to check
        """
        if response.ok:
            return
        status = response.status_code
        method = response.request.method or "?"
        path = urlsplit(response.url).path
        excerpt = excerpt_of(response, self.settings.client_secret)
        error_class = (
            SurveySphereClientError
            if 400 <= status < 500 and status not in TRANSIENT_CLIENT_STATUSES
            else SurveySphereAPIError
        )
        raise error_class(method, path, status, excerpt)

    def paginate(
        self,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        pagination: PaginationLike | None = None,
        records_key: str | None = None,
        method: str = "GET",
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        max_pages: int | None = DEFAULT_MAX_PAGES,
        max_concurrency: int = 1,
        raw_records: bool = False,
    ) -> Paginator:
        """Iterate over the records of every page, in order; one page in memory at a time by default.

        :param endpoint: path of the first page
        :param params: query parameters of the first page (the pagination adds its own)
        :param pagination: a strategy from :mod:`airflow_provider_surveysphere.pagination`, or a callable
            ``(response) -> overrides or None``; None fetches a single page
        :param records_key: dotted path to the list of records in a page (``"data"``,
            ``"result.items"``); None when the page itself is the list
        :param method: HTTP method of every page request
        :param json: JSON body of the first page request
        :param data: form or raw body of the first page request
        :param headers: extra headers of every page request
        :param max_pages: fail with :class:`SurveySpherePaginationError` rather than read more pages than
            this; None for no cap
        :param max_concurrency: page requests in flight at once (1: one after the other). More than 1 needs
            a page-number or offset strategy; see docs/pagination.md for what it costs the server
        :param raw_records: give each record as the server's JSON bytes (:class:`msgspec.Raw`) instead of its
            decoded value, for code that writes records unchanged (a JSON Lines export); a strategy that reads
            record values, or a page msgspec cannot split, still gives decoded records. See docs/formats.md
        :return: an iterator of records that also counts ``pages`` and ``records`` as it goes; leaving it early
            (``break``, ``close()``, a ``with`` block, an exception) stops its requests at once
        """

        def send_page(page: PageRequest, stop: Stop) -> requests.Response:
            # Once the paging stops, the throttle lets no attempt of this request leave, and ends its waits.
            with self.throttle.honouring(stop):
                return self.send_request(
                    method, page.endpoint, params=page.params, json=page.json, data=page.data, headers=headers
                )

        def answered(page: PageRequest) -> None:
            record_hook_input(self, self.url_for(page.endpoint))

        return Paginator(
            send_page,
            endpoint,
            params=mapping_field("params", params),
            json=json,
            data=data,
            pagination=pagination,
            records_key=records_key,
            max_pages=max_pages,
            max_concurrency=max_concurrency,
            raw_records=raw_records,
            answered=answered,
        )

    #: The UI's Test makes one attempt and waits at most this many seconds (less if the connection's
    #: timeout is shorter): a wrong host answers in seconds, not after every retry.
    test_timeout: float = 10.0

    def test_connection(self) -> tuple[bool, str]:
        """Fetch a token with the connection's credentials (the UI's Test button): one attempt, short timeout.

        The UI tests a copy of the form under a random temporary connection id, which would mean
        nothing to the user: the message leaves it out.
        """
        try:
            settings = replace(self.settings, max_retries=0, timeout=min(self.settings.timeout, self.test_timeout))
            attempt = f"one attempt, {settings.timeout:g} s timeout"
            client = TokenClient(settings, clock=self.token_cache.clock, max_retry_wait=self.max_retry_wait)
            try:
                client.fetch()
            finally:
                client.close()
        except Exception as exc:  # noqa: BLE001 - every failure becomes the UI's message; none holds a secret
            message = _without_conn_id(str(exc), self.surveysphere_conn_id)
            if isinstance(exc, SurveySphereError) and not isinstance(exc, SurveySpherePermanentError):
                message += f" [Test made {attempt}; tasks retry up to max_retries times]"
            return False, message
        return True, f"Obtained a SurveySphere access token with these credentials ({attempt})."


def _without_conn_id(message: str, conn_id: str) -> str:
    quoted = repr(conn_id)
    return message.replace(f" of connection {quoted}", "").replace(f" connection {quoted}", " connection").replace(
        quoted, "the connection"
    )
