"""Getting pages from the server: one at a time, or several at once for addressable strategies.

A fetcher answers "the response for page ``index``, whose request is ``request``" for the paging loop
(:class:`airflow_provider_surveysphere.paging.Paginator`), which asks for the pages in order and applies
every guard. It sends through a :data:`PageSender`, a plain function the hook gives: the fetchers know
nothing of tokens, sessions or retries.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from airflow_provider_surveysphere.exceptions import SurveySpherePaginationError

if TYPE_CHECKING:
    import requests

    from airflow_provider_surveysphere.pagination import PageRequest

log = logging.getLogger(__name__)

#: Sends the request of one page and returns its answer (2xx; anything else raises).
PageSender = Callable[["PageRequest"], "requests.Response"]


class SequentialFetcher:
    """Sends each page's request when the loop asks for it: nothing is fetched ahead.

    :param send: sends one page request
    """

    def __init__(self, send: PageSender) -> None:
        self.send = send

    def get(self, index: int, request: PageRequest) -> requests.Response:
        """The answer for page ``index``."""
        return self.send(request)

    def set_total(self, pages: int | None) -> None:
        """Nothing to plan."""

    def read_ahead(self, index: int) -> None:
        """Nothing is fetched ahead."""

    def close(self, *, failed: bool = False) -> None:
        """Nothing to stop."""


class ConcurrentFetcher:
    """Keeps up to ``max_concurrency`` page requests in flight ahead of the loop, and hands answers out in order.

    Pages are addressed up front by ``plan(index)``. Before the total is known (it never is without a
    total field) the fetcher runs ahead speculatively, never more than ``max_concurrency`` pages past
    the one the loop is reading: the loop stops at the first short or empty page, and at most
    ``max_concurrency - 1`` requests beyond it were wasted. Once the total is known no page past it is
    requested, and the window widens to ``2 * max_concurrency`` pages, so that a slow page does not
    leave the other workers idle: the pages after it wait, answered, and the workers go on with the
    next ones (at most ``max_concurrency`` requests in flight, and as many answers waiting, whatever
    the order they arrive in). A worker that finishes sends the next request of the window at once,
    from its own thread. A failed page stops new requests at once; it fails the export when the loop
    reaches it (an earlier short page may show it was past the end).

    :param send: sends one page request; called from worker threads
    :param plan: the request of page ``index`` (0-based)
    :param max_concurrency: most requests in flight (and threads)
    :param max_pages: no page at or past this index is requested (None: no cap)
    :param wait_for_total: request only the first page until :meth:`set_total` is called
    """

    def __init__(
        self,
        send: PageSender,
        plan: Callable[[int], PageRequest],
        *,
        max_concurrency: int,
        max_pages: int | None,
        wait_for_total: bool,
    ) -> None:
        self.send = send
        self.plan = plan
        self.max_concurrency = max_concurrency
        self.end = max_pages  # first index never requested; lowered by the total or a failure
        self._total_pending = wait_for_total
        self._window = max_concurrency  # pages requested and not yet read, counted from the one being read
        self._lock = threading.Lock()
        self._futures: dict[int, Future[requests.Response]] = {}
        self._reading = 0  # the index the loop reads next
        self._next_index = 0  # next index to schedule
        self._in_flight = 0
        self._executor = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="surveysphere-page")
        #: requests scheduled (sent or about to be), for tests and logs
        self.scheduled = 0

    def _schedule(self, reading: int | None = None) -> None:
        """Send what the window allows; ``reading``: the loop now reads that index (None: unchanged)."""
        with self._lock:
            if reading is not None:
                self._reading = max(self._reading, reading)
            horizon = self._reading + (1 if self._total_pending else self._window)
            if self.end is not None:
                horizon = min(horizon, self.end)
            submitted = []
            while self._next_index < horizon and self._in_flight < self.max_concurrency:
                index = self._next_index
                future = self._executor.submit(self.send, self.plan(index))
                self._futures[index] = future
                self._next_index += 1
                self._in_flight += 1
                self.scheduled += 1
                submitted.append((index, future))
        # Outside the lock: a future already done runs its callback here, and the callback takes the lock.
        for index, future in submitted:
            future.add_done_callback(functools.partial(self._on_done, index))

    def _on_done(self, index: int, future: Future[requests.Response]) -> None:
        failed = not future.cancelled() and future.exception() is not None
        with self._lock:
            self._in_flight -= 1
            if failed and (self.end is None or index + 1 < self.end):
                # Stop sending: nothing past a failed page is requested any more.
                self.end = index + 1
            later = [pending for number, pending in self._futures.items() if number > index] if failed else []
        for pending in later:
            pending.cancel()
        if not failed:
            self._schedule()  # in this worker's thread: its slot is free, the next request goes now

    def set_total(self, pages: int | None) -> None:
        """Learn the number of pages (from the first page); None when the page does not say."""
        with self._lock:
            self._total_pending = False
            if pages is not None:
                pages = max(pages, 1)
                self.end = pages if self.end is None else min(self.end, pages)
                # No page past the total is sent, so reading further ahead wastes nothing.
                self._window = 2 * self.max_concurrency

    def read_ahead(self, index: int) -> None:
        """Page ``index`` will be read next: send the requests of its window now (the loop calls this once it
        knows the page before it was not the last, and before that page is consumed)."""
        self._schedule(index)

    def get(self, index: int, request: PageRequest) -> requests.Response:
        """The answer for page ``index``; ``request`` must be the planned one."""
        if self.plan(index).fingerprint() != request.fingerprint():
            raise SurveySpherePaginationError(
                f"page {index + 1}: the strategy's next request ({request.endpoint}, {dict(request.params)}) is not "
                "the one it addresses up front; it cannot be fetched concurrently (use max_concurrency=1)"
            )
        self._schedule(index)
        with self._lock:
            future = self._futures.pop(index, None)
        if future is None:  # past a failed page: cannot happen, as the loop stops at that page
            raise SurveySpherePaginationError(f"page {index + 1} was not requested")
        # The window is not moved past this page until the loop knows it is not the last (read_ahead): were
        # it the last (a short one), at most max_concurrency - 1 requests past it were sent.
        return future.result()

    def close(self, *, failed: bool = False) -> None:
        """Stop: cancel what is not sent; after a success, wait for requests still in flight.

        :param failed: the export failed: return at once, the requests in flight finish on their own
        """
        with self._lock:
            self.end = 0  # nothing more is scheduled, not even by a worker finishing now
            pending = list(self._futures.values())
            self._futures.clear()
        for future in pending:
            future.cancel()
        self._executor.shutdown(wait=not failed, cancel_futures=True)
