"""Pagination strategies: how to ask for the next page.

Each strategy is a small class that turns the page just read into the request for the next one, or
None at the end. Page-number and offset strategies can also address any page up front
(:meth:`Pagination.request_at`), which lets :mod:`~airflow_provider_surveysphere.paging` fetch several at
once. The paging loop itself is :class:`airflow_provider_surveysphere.paging.Paginator`. Import the
strategies from :mod:`airflow_provider_surveysphere.pagination`, which gathers every public name of the paging.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import urljoin

from airflow_provider_surveysphere.exceptions import SurveySpherePaginationError
from airflow_provider_surveysphere.page import Page, PageRequest, dig

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)


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

    #: Whether :meth:`request_at` can name any page before the earlier ones are read.
    addressable: bool = False

    def request_at(self, first: PageRequest, index: int) -> PageRequest:
        """The request for page ``index`` (0 for the first) of an addressable strategy.

        It must equal what :meth:`next_request` gives after ``index`` full pages.
        """
        raise NotImplementedError(f"{type(self).__name__} names each page from the one before")

    #: Whether pages carry a total (:meth:`total_pages`), so that the first page tells how many to fetch.
    has_total: bool = False

    def total_pages(self, page: Page) -> int | None:
        """The number of pages the server says there are, read from ``page``; None when unknown."""
        return None

    #: Whether :meth:`next_request` or :meth:`total_pages` read the values of ``page.records`` (the last
    #: record's id, say). An export that writes records unchanged gets them as raw JSON bytes otherwise; the
    #: strategies here read only the body's other fields, the headers and the number of records, and say False.
    #: A strategy of your own that reads record values keeps True (a subclass of one here sets it back to True).
    needs_record_values: bool = True


class PageNumberPagination(Pagination):
    """``?page=1&pageSize=100``, then 2, 3, ... until a short or empty page.

    :param page_param: query parameter of the page number
    :param size_param: query parameter of the page size
    :param page_size: records asked for per page; a page with fewer is the last. Keep it within the
        server's maximum: a server that silently returns fewer would end the export early
    :param first_page: number of the first page (1, or 0 for some APIs)
    :param total_pages_key: dotted path to a total-pages field in the body, when the API has one
    """

    needs_record_values = False

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
        self.has_total = total_pages_key is not None

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

    addressable = True

    def request_at(self, first: PageRequest, index: int) -> PageRequest:
        return replace(first, params={**first.params, self.page_param: self.first_page + index})

    def total_pages(self, page: Page) -> int | None:
        if self.total_pages_key is None:
            return None
        total = _dig_or_none(page.body, self.total_pages_key)
        return total if isinstance(total, int) and not isinstance(total, bool) else None


class OffsetPagination(Pagination):
    """``?offset=0&limit=100``, then 100, 200, ... until a short or empty page.

    :param offset_param: query parameter of the offset
    :param limit_param: query parameter of the page size
    :param limit: records asked for per page; a page with fewer is the last
    :param total_key: dotted path to a total-records field in the body, when the API has one
    """

    needs_record_values = False

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
        self.has_total = total_key is not None

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

    addressable = True

    def request_at(self, first: PageRequest, index: int) -> PageRequest:
        return replace(first, params={**first.params, self.offset_param: index * self.limit})

    def total_pages(self, page: Page) -> int | None:
        if self.total_key is None:
            return None
        total = _dig_or_none(page.body, self.total_key)
        if not isinstance(total, int) or isinstance(total, bool):
            return None
        return math.ceil(total / self.limit)


class CursorPagination(Pagination):
    """The body names the next page's cursor; it is sent back as a query parameter.

    :param cursor_param: query parameter that carries the cursor
    :param cursor_key: dotted path to the next cursor in the body; absent, null or empty ends the paging
    """

    needs_record_values = False

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

    needs_record_values = False

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

    needs_record_values = False

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

    needs_record_values = False

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

    needs_record_values = False

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

