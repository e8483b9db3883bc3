"""The paging loop: one iterator of records over all pages, the same loop and guards for every fetcher.

:class:`Paginator` asks a strategy (:mod:`~airflow_provider_surveysphere.pagination`) for each next
request, gets the answer from a fetcher (:mod:`~airflow_provider_surveysphere.fetching`: one page at
a time, or several at once), reads the page and applies the guards that stop a misbehaving server:

* a request already sent (a cursor or link that comes back) is never sent again;
* ``max_pages``: an export that needs more pages than that fails instead of running forever;
* ``max_empty_pages`` empty pages in a row that still name a next page fail the same way.

It sends pages through a plain function (:class:`~airflow_provider_surveysphere.page.PageSender`)
that the hook gives it: the loop knows nothing of tokens and sessions.

Closing a :class:`Paginator` (``close()``, a ``with`` block) or abandoning its iterator (``break``, an exception
in the consumer, the iterator going out of scope) stops its fetcher at once: nothing is sent from then on. The
paging generators hold no reference back to the :class:`Paginator`, so an abandoned one is freed (and its fetcher
stopped) by reference counting, without waiting for a garbage collection.
"""

from __future__ import annotations

import logging
import sys
import weakref
from collections.abc import Callable, Generator, Iterator, Mapping
from itertools import chain
from types import TracebackType
from typing import TYPE_CHECKING, Any

from airflow_provider_surveysphere import codec
from airflow_provider_surveysphere.exceptions import (
    SurveySphereArgumentError,
    SurveySphereBodyError,
    SurveySpherePaginationError,
)
from airflow_provider_surveysphere.fetching import ConcurrentFetcher, Fetcher, SequentialFetcher
from airflow_provider_surveysphere.page import Page, PageRequest, dig
from airflow_provider_surveysphere.strategies import as_pagination

if TYPE_CHECKING:
    from airflow_provider_surveysphere.page import PageSender
    from airflow_provider_surveysphere.strategies import Pagination, PaginationLike

log = logging.getLogger(__name__)

#: The default cap on pages per call: far above any real export (100,000 pages of 100 records are
#: 10 million records), low enough that a server that never stops is noticed.
DEFAULT_MAX_PAGES = 100_000
#: Empty pages in a row that still name a next page before the paging is called endless.
DEFAULT_MAX_EMPTY_PAGES = 10
#: The most page requests in flight at once (the hook's connection pool keeps this many alive).
MAX_CONCURRENCY = 64


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


def check_max_concurrency(max_concurrency: Any, strategy_name: str, addressable: bool) -> int:
    """Validate ``max_concurrency`` for a strategy; a strategy that names each next page cannot go parallel."""
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
        raise SurveySphereArgumentError("max_concurrency", f"{max_concurrency!r} is not a whole number")
    if not 1 <= max_concurrency <= MAX_CONCURRENCY:
        raise SurveySphereArgumentError("max_concurrency", f"{max_concurrency} must be between 1 and {MAX_CONCURRENCY}")
    if max_concurrency > 1 and not addressable:
        raise SurveySphereArgumentError(
            "max_concurrency",
            f"{max_concurrency} needs pages that can be addressed up front (PageNumberPagination or "
            f"OffsetPagination); with {strategy_name} each page names the next, so they can only be fetched "
            "one at a time: use max_concurrency=1",
        )
    return max_concurrency


def _check_cap(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SurveySphereArgumentError(name, f"{value!r} must be a whole number of at least 1, or None for no cap")
    return value


class _Progress:
    """What the loop has read so far, shared by a :class:`Paginator` and its paging generators."""

    __slots__ = ("pages", "records")

    def __init__(self) -> None:
        self.pages = 0
        self.records = 0


class Paginator(Iterator[Any]):
    """Iterates over the records of every page; ``pages`` and ``records`` count what was read so far.

    With ``max_concurrency=1`` the pages are fetched lazily, as the records are consumed, and a page is
    released before the next is fetched. With more, up to that many page requests run ahead in
    threads; the records still come out in page order, each exactly once, and they are the records a
    sequential export reads.

    Close it when done with it early: ``close()``, or use it as a context manager; breaking out of a loop
    over it, or dropping it, does the same.

    :param send: sends one page request and returns its answer (the hook's ``send_page``)
    :param endpoint: the first page's endpoint
    :param params: the first page's query parameters
    :param json: the first page's JSON body
    :param data: the first page's form or raw body
    :param pagination: a strategy, a callable, or None for a single page
    :param records_key: dotted path to the records in a page; None when the body is the list
    :param max_pages: fail rather than read more pages than this (None: no cap)
    :param max_concurrency: page requests in flight at once; more than 1 needs a page-number or offset strategy
    :param max_empty_pages: fail after this many empty pages in a row that still name a next page
    :param raw_records: each record as its raw JSON bytes (:class:`msgspec.Raw`), for an export that writes them
        unchanged; ignored with a strategy that reads the records' values (``needs_record_values``), and a page
        that cannot be split so (:func:`~airflow_provider_surveysphere.codec.split_records`) is decoded as usual
    :param answered: called with the request of each answered page whose endpoint differs from the previous
        page's (once per endpoint run), after the fetcher has planned the pages that follow it, and even when
        the page then fails to read: the hook records its lineage there, so that the first use of Airflow's
        lineage collector overlaps the next pages' requests instead of delaying them
    """

    def __init__(
        self,
        send: PageSender,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        pagination: PaginationLike | None = None,
        records_key: str | None = None,
        max_pages: int | None = DEFAULT_MAX_PAGES,
        max_concurrency: int = 1,
        max_empty_pages: int = DEFAULT_MAX_EMPTY_PAGES,
        raw_records: bool = False,
        answered: Callable[[PageRequest], None] | None = None,
    ) -> None:
        self.send = send
        self.answered = answered
        self.strategy = as_pagination(pagination)
        self.records_key = records_key
        self.raw_records = raw_records and not self.strategy.needs_record_values
        self.max_pages = _check_cap("max_pages", max_pages)
        self.max_empty_pages = _check_cap("max_empty_pages", max_empty_pages)
        self.max_concurrency = check_max_concurrency(
            max_concurrency, type(self.strategy).__name__, self.strategy.addressable
        )
        self.first = self.strategy.first_request(PageRequest(endpoint, dict(params or {}), json, data))
        self._progress = _Progress()
        # Each running walk and its fetcher: close() stops the fetcher itself, which works from any thread.
        self._walks: weakref.WeakKeyDictionary[Generator[Page, None, None], Fetcher] = weakref.WeakKeyDictionary()
        # chain.from_iterable walks each page's list in C: no Python frame per record.
        self._records = chain.from_iterable(page.records for page in self.iter_pages())

    @property
    def pages(self) -> int:
        """Pages read so far."""
        return self._progress.pages

    @property
    def records(self) -> int:
        """Records read so far."""
        return self._progress.records

    def __iter__(self) -> Iterator[Any]:
        return self._records  # a for loop then steps the chain directly

    def __next__(self) -> Any:
        return next(self._records)

    def __enter__(self) -> Paginator:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop: nothing more is sent, and the fetcher's threads have ended when this returns (a request already
        on the wire is waited for). Iterating afterwards gives at most the rest of the page already read.

        It may be called from another thread than the consumer's: a consumer waiting for a page then gets
        :class:`~airflow_provider_surveysphere.exceptions.SurveySpherePagingStopped` at once."""
        for walk, fetcher in list(self._walks.items()):
            # Stop the fetcher first: a generator running in another thread (its consumer waiting for a page)
            # cannot be closed, but its fetcher can, and the wait ends in that thread.
            fetcher.close(wait=False)
            try:
                walk.close()
            except ValueError as exc:
                if "already executing" not in str(exc):
                    raise
            fetcher.close(wait=True)

    def iter_pages(self) -> Iterator[Page]:
        """Iterate page by page instead: each :class:`Page` holds its answer and its records."""
        fetcher = self.new_fetcher()
        walk = _walk(fetcher, self.strategy, self.first, self.records_key, self.max_pages, self.max_empty_pages,
                     self._progress, self.raw_records, self.answered)
        self._walks[walk] = fetcher
        return walk

    def new_fetcher(self) -> Fetcher:
        """The fetcher of one iteration; override to fetch differently (it starts no thread before it is used)."""
        if self.max_concurrency == 1:
            return SequentialFetcher(self.send)
        first, strategy = self.first, self.strategy
        return ConcurrentFetcher(
            self.send,
            lambda index: strategy.request_at(first, index),
            max_concurrency=self.max_concurrency,
            max_pages=self.max_pages,
            # With a total field the first page says how many there are: fetch exactly those.
            wait_for_total=strategy.has_total,
        )


def _read(
    number: int, request: PageRequest, response: Any, first: PageRequest, records_key: str | None, raw: bool
) -> Page:
    if raw:
        split = codec.split_records(response.content, records_key)
        if split is not None:
            return Page(number, request, response, *split)
    where = f"page {number} of {first.endpoint}"
    try:
        body = codec.loads(response.content)
    except ValueError:
        content_type = response.headers.get("Content-Type", "no content type")
        raise SurveySpherePaginationError(f"{where} is not JSON ({content_type})") from None
    except RecursionError:  # msgspec and the standard library both recurse per level of nesting
        raise SurveySpherePaginationError(
            f"{where} is nested too deeply to read (more levels than Python's recursion limit, "
            f"{sys.getrecursionlimit()})"
        ) from None
    return Page(number, request, response, body, records_of(body, records_key, where))


def _walk(
    fetcher: Fetcher,
    strategy: Pagination,
    first: PageRequest,
    records_key: str | None,
    max_pages: int | None,
    max_empty_pages: int | None,
    progress: _Progress,
    raw: bool,
    answered: Callable[[PageRequest], None] | None,
) -> Generator[Page, None, None]:
    """Read every page through ``fetcher``; stop the fetcher however the iteration ends.

    A module function, not a method: the generator must not hold the :class:`Paginator`, or the two would form
    a reference cycle that only a garbage collection frees, and an abandoned export would keep its threads.
    """
    try:
        yield from _loop(fetcher, strategy, first, records_key, max_pages, max_empty_pages, progress, raw, answered)
    except GeneratorExit:  # closed or abandoned by the consumer: wait until nothing is sent any more
        fetcher.close(wait=True)
        raise
    except BaseException:  # failed: the error reaches the caller at once; the workers end on their own
        fetcher.close(wait=False)
        raise
    fetcher.close(wait=True)


def _loop(
    fetcher: Fetcher,
    strategy: Pagination,
    first: PageRequest,
    records_key: str | None,
    max_pages: int | None,
    max_empty_pages: int | None,
    progress: _Progress,
    raw: bool,
    answered: Callable[[PageRequest], None] | None,
) -> Iterator[Page]:
    request: PageRequest | None = first
    seen: set[bytes] = set()
    empty_run = 0
    answered_endpoint: str | None = None
    while request is not None:
        number = progress.pages + 1
        if max_pages is not None and number > max_pages:
            raise SurveySpherePaginationError(
                f"{first.endpoint}: page {max_pages} still names a next page, and max_pages is "
                f"{max_pages}; stopping (raise max_pages, or None for no cap, if the export is that big)"
            )
        # What identifies a page is its request: a cursor or link that comes back would loop forever.
        fingerprint = request.fingerprint()
        if fingerprint in seen:
            raise SurveySpherePaginationError(
                f"page {number} of {first.endpoint}: the pagination asks for a page it already read "
                f"(endpoint {request.endpoint}, params {dict(request.params)}); stopping instead of looping"
            )
        seen.add(fingerprint)
        try:
            response = fetcher.get(number - 1, request)
        except SurveySphereBodyError as exc:  # the hook cannot know which page it was reading
            raise exc.on_page(f"page {number} of {first.endpoint}") from None
        asked = request
        try:
            page = _read(number, request, response, first, records_key, raw)
            del response
            # Every page may say how many there are now (a live survey grows): the fetcher plans by the latest.
            fetcher.set_total(strategy.total_pages(page))
            progress.pages = number
            progress.records += len(page.records)
            request = strategy.next_request(page)
            if request is not None:
                # Not the last page: the next requests go out while this page is being consumed.
                fetcher.read_ahead(number)
            else:
                # The result is known: nothing more is sent, not even while the last page is consumed.
                fetcher.close(wait=False)
        finally:
            # After the planning: its cost (the lineage collector's first use imports ~15-35 ms of Airflow)
            # overlaps the requests now on the wire. In a finally: an answered page counts even if unreadable.
            if answered is not None and asked.endpoint != answered_endpoint:
                answered_endpoint = asked.endpoint
                answered(asked)
        yield page
        empty_run = empty_run + 1 if not page.records and request is not None else 0
        if max_empty_pages is not None and empty_run >= max_empty_pages:
            raise SurveySpherePaginationError(
                f"{first.endpoint}: {empty_run} empty pages in a row "
                f"(pages {number - empty_run + 1}-{number}) "
                "each name a next page; stopping instead of looping (the server may page forever)"
            )
        del page  # hold one page at a time: release it before the next is fetched
