"""Pagination: how to ask for the next page, and one iterator of records over all pages.

Each strategy is a small class that turns the page just read into the request for the next one, or
None at the end. :class:`Paginator` is the only paging loop of the provider: the hook's ``paginate``
returns one and the operator consumes it. It holds one page in memory at a time.
"""

from __future__ import annotations

import hashlib
import json as jsonlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from itertools import chain
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import urljoin

from airflow_provider_surveysphere.exceptions import SurveySpherePaginationError

if TYPE_CHECKING:
    import requests

    from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PageRequest:
    """What to send for one page.

    :param endpoint: path relative to the base URL, or an absolute URL on the same host
    :param params: query parameters
    :param json: JSON body
    :param data: form or raw body
    """

    endpoint: str
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None
    data: Any = None

    def fingerprint(self) -> str:
        """A digest that is the same for two requests that ask for the same page."""
        text = jsonlib.dumps(
            [self.endpoint, sorted((str(k), str(v)) for k, v in self.params.items()), self.json, self.data],
            default=str,
        )
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Page:
    """One page as read: the request that fetched it, the answer, its parsed body and its records.

    :param number: 1 for the first page
    """

    number: int
    request: PageRequest
    response: requests.Response
    body: Any
    records: list[Any]


def dig(body: Any, dotted_key: str) -> Any:
    """Follow a dotted path (``"result.items"``) into nested objects; raise KeyError when it is absent."""
    value = body
    for part in dotted_key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(part)
        value = value[part]
    return value


def _dig_or_none(body: Any, dotted_key: str) -> Any:
    try:
        return dig(body, dotted_key)
    except KeyError:
        return None


class Pagination(ABC):
    """A pagination strategy. Subclass it and implement :meth:`next_request` for an API of your own."""

    def first_request(self, request: PageRequest) -> PageRequest:
        """Add the strategy's parameters to the first request."""
        return request

    @abstractmethod
    def next_request(self, page: Page) -> PageRequest | None:
        """The request for the page after ``page``, or None when ``page`` was the last."""


class PageNumberPagination(Pagination):
    """``?page=1&pageSize=100``, then 2, 3, ... until a short or empty page.

    :param page_param: query parameter of the page number
    :param size_param: query parameter of the page size
    :param page_size: records asked for per page; a page with fewer is the last. Keep it within the
        server's maximum: a server that silently returns fewer would end the export early
    :param first_page: number of the first page (1, or 0 for some APIs)
    :param total_pages_key: dotted path to a total-pages field in the body, when the API has one
    """

    def __init__(
        self,
        page_param: str = "page",
        size_param: str = "pageSize",
        page_size: int = 100,
        first_page: int = 1,
        total_pages_key: str | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        self.page_param = page_param
        self.size_param = size_param
        self.page_size = page_size
        self.first_page = first_page
        self.total_pages_key = total_pages_key

    def first_request(self, request: PageRequest) -> PageRequest:
        params = {**request.params, self.page_param: self.first_page, self.size_param: self.page_size}
        return replace(request, params=params)

    def next_request(self, page: Page) -> PageRequest | None:
        if len(page.records) < self.page_size:
            return None
        current = int(page.request.params[self.page_param])
        if self.total_pages_key is not None:
            total = _dig_or_none(page.body, self.total_pages_key)
            if isinstance(total, int) and current - self.first_page + 1 >= total:
                return None
        return replace(page.request, params={**page.request.params, self.page_param: current + 1})


class OffsetPagination(Pagination):
    """``?offset=0&limit=100``, then 100, 200, ... until a short or empty page.

    :param offset_param: query parameter of the offset
    :param limit_param: query parameter of the page size
    :param limit: records asked for per page; a page with fewer is the last
    :param total_key: dotted path to a total-records field in the body, when the API has one
    """

    def __init__(
        self,
        offset_param: str = "offset",
        limit_param: str = "limit",
        limit: int = 100,
        total_key: str | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        self.offset_param = offset_param
        self.limit_param = limit_param
        self.limit = limit
        self.total_key = total_key

    def first_request(self, request: PageRequest) -> PageRequest:
        params = {**request.params, self.offset_param: 0, self.limit_param: self.limit}
        return replace(request, params=params)

    def next_request(self, page: Page) -> PageRequest | None:
        if len(page.records) < self.limit:
            return None
        offset = int(page.request.params[self.offset_param]) + len(page.records)
        if self.total_key is not None:
            total = _dig_or_none(page.body, self.total_key)
            if isinstance(total, int) and offset >= total:
                return None
        return replace(page.request, params={**page.request.params, self.offset_param: offset})


class CursorPagination(Pagination):
    """The body names the next page's cursor; it is sent back as a query parameter.

    :param cursor_param: query parameter that carries the cursor
    :param cursor_key: dotted path to the next cursor in the body; absent, null or empty ends the paging
    """

    def __init__(self, cursor_param: str = "cursor", cursor_key: str = "next_cursor") -> None:
        self.cursor_param = cursor_param
        self.cursor_key = cursor_key

    def next_request(self, page: Page) -> PageRequest | None:
        cursor = _dig_or_none(page.body, self.cursor_key)
        if cursor in (None, ""):
            return None
        return replace(page.request, params={**page.request.params, self.cursor_param: cursor})


class NextLinkPagination(Pagination):
    """The body holds the next page's URL, absolute or relative to the page just read.

    The link carries its own query string, so the first request's parameters are not repeated.
    A link to another host is refused by the hook: the token stays on its host.

    :param next_key: dotted path to the next URL in the body; absent, null or empty ends the paging
    """

    def __init__(self, next_key: str = "next") -> None:
        self.next_key = next_key

    def next_request(self, page: Page) -> PageRequest | None:
        link = _dig_or_none(page.body, self.next_key)
        if link in (None, ""):
            return None
        if not isinstance(link, str):
            raise SurveySpherePaginationError(
                f"page {page.number}: {self.next_key!r} is a {type(link).__name__}, not a URL"
            )
        return PageRequest(endpoint=urljoin(page.response.url, link), params={})


class LinkHeaderPagination(Pagination):
    """The ``Link: <url>; rel="next"`` header of RFC 8288 names the next page."""

    def next_request(self, page: Page) -> PageRequest | None:
        link = page.response.links.get("next", {}).get("url")
        if not link:
            return None
        return PageRequest(endpoint=urljoin(page.response.url, link), params={})


class CallablePagination(Pagination):
    """Adapts a function ``(response) -> overrides or None`` to a strategy.

    The overrides are a dict with any of ``endpoint``, ``params`` (merged into the current
    parameters), ``json`` and ``data``; None ends the paging.

    :param function: the user's function
    """

    KEYS = frozenset({"endpoint", "params", "json", "data"})

    def __init__(self, function: Callable[[requests.Response], Mapping[str, Any] | None]) -> None:
        self.function = function

    def next_request(self, page: Page) -> PageRequest | None:
        overrides = self.function(page.response)
        if not overrides:
            return None
        if not isinstance(overrides, Mapping) or not set(overrides) <= self.KEYS:
            raise SurveySpherePaginationError(
                f"pagination function returned {overrides!r}; expected None or a dict with keys among "
                f"{', '.join(sorted(self.KEYS))}"
            )
        request = page.request
        return PageRequest(
            endpoint=overrides.get("endpoint", request.endpoint),
            params={**request.params, **(overrides.get("params") or {})},
            json=overrides.get("json", request.json),
            data=overrides.get("data", request.data),
        )


class SinglePage(Pagination):
    """No pagination: one request, one page."""

    def next_request(self, page: Page) -> PageRequest | None:
        return None


PaginationLike: TypeAlias = "Pagination | Callable[[requests.Response], Mapping[str, Any] | None]"


def as_pagination(pagination: PaginationLike | None) -> Pagination:
    """Accept a strategy, a callable or None (a single page)."""
    if pagination is None:
        return SinglePage()
    if isinstance(pagination, Pagination):
        return pagination
    if callable(pagination):
        return CallablePagination(pagination)
    raise TypeError(f"pagination must be a Pagination strategy or a callable, not {type(pagination).__name__}")


def records_of(body: Any, records_key: str | None, where: str) -> list[Any]:
    """The list of records in a page body, or a clear error naming the page."""
    if records_key is None:
        if not isinstance(body, list):
            raise SurveySpherePaginationError(
                f"{where}: the body is a {type(body).__name__}, not a list of records; set records_key to the "
                "field that holds them"
                + (f" (keys: {', '.join(sorted(map(str, body))[:10])})" if isinstance(body, dict) else "")
            )
        return body
    try:
        records = dig(body, records_key)
    except KeyError as missing:
        keys = f" (keys: {', '.join(sorted(map(str, body))[:10])})" if isinstance(body, dict) else ""
        raise SurveySpherePaginationError(
            f"{where}: records_key {records_key!r} not found, no {missing.args[0]!r}{keys}"
        ) from None
    if not isinstance(records, list):
        raise SurveySpherePaginationError(
            f"{where}: records_key {records_key!r} holds a {type(records).__name__}, not a list"
        )
    return records


class Paginator(Iterator[Any]):
    """Iterates over the records of every page; ``pages`` and ``records`` count what was read so far.

    The pages are fetched lazily, as the records are consumed, and a page is released before the
    next is fetched. A server that repeats a page (the same request again, or the same body twice in
    a row) ends the iteration with :class:`SurveySpherePaginationError` instead of looping forever.

    :param hook: the hook that sends each request
    :param endpoint: the first page's endpoint
    :param method: HTTP method of every page
    :param params: the first page's query parameters
    :param json: the first page's JSON body
    :param data: the first page's form or raw body
    :param headers: extra headers of every page
    :param pagination: a strategy, a callable, or None for a single page
    :param records_key: dotted path to the records in a page; None when the body is the list
    """

    def __init__(
        self,
        hook: SurveySphereHook,
        endpoint: str,
        *,
        method: str = "GET",
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        pagination: PaginationLike | None = None,
        records_key: str | None = None,
    ) -> None:
        self.hook = hook
        self.method = method
        self.headers = headers
        self.strategy = as_pagination(pagination)
        self.records_key = records_key
        self.first = self.strategy.first_request(PageRequest(endpoint, dict(params or {}), json, data))
        self.pages = 0
        self.records = 0
        # chain.from_iterable walks each page's list in C: no Python frame per record.
        self._records = chain.from_iterable(page.records for page in self._iterate_pages())

    def __iter__(self) -> Iterator[Any]:
        return self._records  # a for loop then steps the chain directly

    def __next__(self) -> Any:
        return next(self._records)

    def iter_pages(self) -> Iterator[Page]:
        """Iterate page by page instead: each :class:`Page` holds its answer and its records."""
        return self._iterate_pages()

    def _iterate_pages(self) -> Iterator[Page]:
        request: PageRequest | None = self.first
        seen: set[str] = set()
        previous_body_digest = None
        while request is not None:
            number = self.pages + 1
            fingerprint = request.fingerprint()
            if fingerprint in seen:
                raise SurveySpherePaginationError(
                    f"page {number} of {self.first.endpoint}: the pagination asks for a page it already read "
                    f"(endpoint {request.endpoint}, params {dict(request.params)}); stopping instead of looping"
                )
            seen.add(fingerprint)
            response = self.hook.request(
                self.method, request.endpoint, params=request.params, json=request.json, data=request.data,
                headers=self.headers,
            )
            body_digest = hashlib.sha256(response.content).digest()
            if body_digest == previous_body_digest:
                raise SurveySpherePaginationError(
                    f"page {number} of {self.first.endpoint} is identical to page {number - 1}: the server "
                    "ignores the pagination parameters; stopping instead of looping"
                )
            previous_body_digest = body_digest
            where = f"page {number} of {self.first.endpoint}"
            try:
                body = response.json()
            except ValueError:
                content_type = response.headers.get("Content-Type", "no content type")
                raise SurveySpherePaginationError(f"{where} is not JSON ({content_type})") from None
            records = records_of(body, self.records_key, where)
            page = Page(number, request, response, body, records)
            self.pages = number
            self.records += len(records)
            del body, records, response
            yield page
            request = self.strategy.next_request(page)
            del page  # hold one page at a time: release it before the next is fetched
