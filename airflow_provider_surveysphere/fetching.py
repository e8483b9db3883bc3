"""Getting pages from the server: one at a time, or several at once for addressable strategies.

A fetcher answers "the response to ``request``, the request of page ``index``" for the paging loop
(:class:`airflow_provider_surveysphere.paging.Paginator`), which asks for the pages in order, follows the
strategy's ``next_request`` from each page and applies every guard. It sends through a
:class:`~airflow_provider_surveysphere.page.PageSender`, a plain function the hook gives: the fetchers know
nothing of tokens, sessions or retries.

The concurrent fetcher is a pure speed-up of the sequential one: the loop gets the answer to exactly the request
it asks for, whatever was planned, and a page fetched ahead that the loop does not ask for is never handed out.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from airflow_provider_surveysphere.exceptions import SurveySpherePagingStopped
from airflow_provider_surveysphere.stopping import Stop

if TYPE_CHECKING:
    import requests

    from airflow_provider_surveysphere.page import PageRequest, PageSender

log = logging.getLogger(__name__)

#: A test seam: called as ``handoff(point, index)`` at each hand-off of a page between threads, with no lock
#: held, from the thread that passes it. Points, in the order a page passes them: ``"taken"`` (a worker took
#: the request, before sending), ``"answered"`` (the worker holds the answer, not yet visible to the loop),
#: ``"published"`` (the loop can see the answer; the worker has not yet refilled the window nor freed its
#: slot), ``"refilled"`` (the worker is done with the page) and ``"read"`` (the loop took the answer, before
#: reading it). Tests pause threads there to force interleavings; the default does nothing.
Handoff = Callable[[str, int], None]


def no_handoff(point: str, index: int) -> None:
    """The default hand-off: nothing."""


class Fetcher(Protocol):
    """What the paging loop needs of a fetcher."""

    def get(self, index: int, request: PageRequest) -> requests.Response:
        """The answer to ``request``, the request of page ``index`` (0-based); the loop asks in order."""

    def set_total(self, pages: int | None) -> None:
        """The page just read says there are ``pages`` pages in all (None: it does not say)."""

    def read_ahead(self, index: int) -> None:
        """Page ``index`` will be read next (the page before it was not the last)."""

    def close(self, *, wait: bool = True) -> None:
        """No more pages are wanted: send nothing more; ``wait``: also wait for the workers to end."""


class SequentialFetcher:
    """Sends each page's request when the loop asks for it, in the loop's thread: nothing is fetched ahead.

    :param send: sends one page request
    """

    def __init__(self, send: PageSender) -> None:
        self.send = send
        self.stop = Stop()

    def get(self, index: int, request: PageRequest) -> requests.Response:
        """The answer to ``request``."""
        self.stop.check()
        return self.send(request, self.stop)

    def set_total(self, pages: int | None) -> None:
        """Nothing to plan."""

    def read_ahead(self, index: int) -> None:
        """Nothing is fetched ahead."""

    def close(self, *, wait: bool = True) -> None:
        """Nothing more is sent."""
        self.stop.set()


class _Slot:
    """One page's request and, once a worker has it, its answer or error."""

    __slots__ = ("done", "error", "fingerprint", "request", "response")

    def __init__(self, request: PageRequest) -> None:
        self.request = request
        self.fingerprint = request.fingerprint()
        self.done = False
        self.response: Any = None
        self.error: BaseException | None = None


class FetcherState(NamedTuple):
    """A snapshot of a :class:`ConcurrentFetcher`'s threads (a test seam: tests that drive the interleaving
    wait until every thread is parked before releasing the next one)."""

    workers: int  #: worker threads started
    idle: int  #: workers waiting for a request to send
    busy: int  #: workers between taking a request and being done with its page
    queued: int  #: requests waiting for a worker
    awaiting: int | None  #: the page the loop waits for, None when it is not waiting
    closed: bool


class ConcurrentFetcher:
    """Keeps up to ``max_concurrency`` page requests in flight ahead of the loop, and hands answers out in order.

    The rules (docs/pagination.md states them for users):

    * **The loop's page always comes first.** :meth:`get` hands out the answer to the request the loop asks for.
      If that request was not planned (the total grew, or the strategy asks for something other than
      ``plan(index)``), it is sent now, ahead of every planned one; an answer fetched for another request is
      dropped. If the strategy's request differs from the plan, planning stops and the rest of the export is
      fetched one page at a time.
    * **The window.** Pages are planned by ``plan(index)`` from the page being read: with a total (the latest
      page read says how many pages there are) up to ``2 * max_concurrency`` pages ahead, never past the total;
      without one, up to ``max_concurrency`` pages ahead, speculatively. At most ``max_concurrency`` requests
      are sent at once (one per worker thread). A worker done with a page refills the window from its own
      thread.
    * **A failed page stops planning past it** at once; the failure reaches the caller when the loop asks for
      that page (an earlier short page may show it was past the end).
    * **Closing** (the last page is known, the export failed, the consumer has gone) sets :attr:`stop`: no
      request is sent from then on, a sender waiting for a backoff or ``Retry-After`` gives up at once, and
      the worker threads (daemon threads: they never hold the process) end after the request they have on the
      wire, if any.

    State lives under one lock (with two conditions: the loop's answer, the workers' requests): a worker publishes
    an answer and the loop reads it under the same lock, and the loop never depends on a worker's bookkeeping to
    get its page requested, so no order of thread completions can leave the loop's page unrequested.

    :param send: sends one page request; called from worker threads
    :param plan: the request of page ``index`` (0-based), as the strategy addresses it up front
    :param max_concurrency: most requests in flight (and worker threads)
    :param max_pages: no page at or past this index is planned (None: no cap)
    :param wait_for_total: plan only the first page until :meth:`set_total` is called
    :param handoff: a test seam called at each hand-off between threads (see :data:`Handoff`)
    """

    def __init__(
        self,
        send: PageSender,
        plan: Callable[[int], PageRequest],
        *,
        max_concurrency: int,
        max_pages: int | None,
        wait_for_total: bool,
        handoff: Handoff = no_handoff,
    ) -> None:
        self.send = send
        self.plan = plan
        self.max_concurrency = max_concurrency
        self.max_pages = max_pages
        self.handoff = handoff
        #: Set on close: senders send nothing more and end their waits.
        self.stop = Stop()
        # One lock, two conditions: the loop waits for its answer on one, idle workers for a request on the other,
        # so that an answer wakes the loop alone (when it waits for that page) and a request wakes one worker,
        # not every thread of the fetcher (16 wake-ups a page at max_concurrency=16, each taking the GIL).
        self._lock = threading.Lock()
        self._answered = threading.Condition(self._lock)
        self._requested = threading.Condition(self._lock)
        self._slots: dict[int, _Slot] = {}  # pages requested and not yet read
        self._queue: list[int] = []  # a heap of requested pages no worker has taken yet: lowest first
        self._reading = 0  # the page the loop reads next
        self._planned = 0  # pages below this one were planned (or needed no plan)
        self._total_pending = wait_for_total
        self._total: int | None = None  # the number of pages the latest page read says there are
        self._failed_at: int | None = None  # the first page whose request failed
        self._derailed = False  # the strategy asked for a request other than the plan: no more planning
        self._closed = False
        self._workers: list[threading.Thread] = []
        self._idle = 0
        self._busy = 0
        self._awaiting: int | None = None
        #: requests taken by a worker (sent, or about to be), for tests and logs
        self.scheduled = 0

    # -- the loop's side -------------------------------------------------------------------------------------

    def get(self, index: int, request: PageRequest) -> requests.Response:
        """The answer to ``request``, the request of page ``index``; the loop asks for the pages in order."""
        fingerprint = request.fingerprint()
        with self._lock:
            if self._closed:  # closed from another thread between two pages: start nothing
                raise SurveySpherePagingStopped()
            self._reading = max(self._reading, index)
            slot = self._slots.get(index)
            if slot is not None and slot.fingerprint != fingerprint:
                self._derail(index, request)
                slot = None
            if slot is None:
                slot = self._demand(index, request)
            self._refill()
            while not slot.done and not self._closed:
                self._awaiting = index
                self._answered.wait()
            self._awaiting = None
            if self._closed:  # closed from another thread while the loop waited (its slot is gone)
                raise SurveySpherePagingStopped()
            del self._slots[index]
        self.handoff("read", index)
        if slot.error is not None:
            raise slot.error
        response: requests.Response = slot.response
        return response

    def set_total(self, pages: int | None) -> None:
        """The page just read says there are ``pages`` pages (None: it does not say); plan by it from now on."""
        with self._lock:
            self._total_pending = False
            self._total = None if pages is None else max(pages, 1)
            self._refill()

    def read_ahead(self, index: int) -> None:
        """Page ``index`` will be read next: plan its window now (the loop calls this once it knows the page
        before it was not the last, and before that page is consumed)."""
        with self._lock:
            self._reading = max(self._reading, index)
            self._refill()

    def close(self, *, wait: bool = True) -> None:
        """Send nothing more; ``wait``: wait until every worker has ended (after its request on the wire).

        :param wait: False after a failure or when only stopping (the workers end on their own; they are
            daemon threads, which never hold the process)
        """
        with self._lock:
            self._closed = True
            self._queue.clear()
            self._slots.clear()
            self._answered.notify_all()
            self._requested.notify_all()
            workers = list(self._workers)
        self.stop.set()  # ends the senders' waits (backoff, Retry-After, the throttle's limit)
        if wait:
            current = threading.current_thread()
            for worker in workers:
                if worker is not current:  # a finalizer may run in a worker: it cannot wait for itself
                    worker.join()

    def state(self) -> FetcherState:
        """A snapshot of the threads' state (a test seam)."""
        with self._lock:
            return FetcherState(len(self._workers), self._idle, self._busy, len(self._queue), self._awaiting,
                                self._closed)

    # -- planning (with the condition held) ------------------------------------------------------------------

    def _demand(self, index: int, request: PageRequest) -> _Slot:
        """The loop needs a page no worker has: request it ahead of every planned one."""
        slot = _Slot(request)
        self._slots[index] = slot
        heapq.heappush(self._queue, index)
        self._planned = max(self._planned, index + 1)
        self._spawn()
        return slot

    def _derail(self, index: int, request: PageRequest) -> None:
        log.warning(
            "page %d: the strategy's next request (%s, %s) is not the one it addresses up front; the rest of the "
            "export is fetched one page at a time", index + 1, request.endpoint, dict(request.params),
        )
        self._derailed = True
        # Planned pages no worker took are dropped; answers already on their way are dropped when they come.
        self._queue = [number for number in self._queue if number < index]
        heapq.heapify(self._queue)
        for number in [number for number in self._slots if number >= index]:
            del self._slots[number]

    def _refill(self) -> None:
        """Plan the pages the window allows."""
        if self._closed or self._derailed:
            return
        if self._total_pending:
            horizon = 1
        elif self._total is not None:
            horizon = min(self._reading + 2 * self.max_concurrency, self._total)
        else:
            horizon = self._reading + self.max_concurrency
        for cap in (self.max_pages, self._failed_at):
            if cap is not None:
                horizon = min(horizon, cap)
        self._planned = max(self._planned, self._reading)
        while self._planned < horizon and len(self._queue) + self._busy < self.max_concurrency:
            index = self._planned
            self._planned += 1
            if index not in self._slots:
                self._slots[index] = _Slot(self.plan(index))
                heapq.heappush(self._queue, index)
        self._spawn()

    def _spawn(self) -> None:
        """Wake the idle workers for the queued requests; start a worker for each one no idle worker will take, up
        to ``max_concurrency``."""
        if self._queue and self._idle:
            # A worker waits only while the queue is empty, so one woken per queued request is enough: one that
            # finds the queue emptied by a busy worker coming back waits again.
            self._requested.notify(min(len(self._queue), self._idle))
        while len(self._queue) > self._idle and len(self._workers) < self.max_concurrency:
            worker = threading.Thread(
                target=self._work, name=f"surveysphere-page-{len(self._workers) + 1}", daemon=True
            )
            self._workers.append(worker)
            worker.start()

    # -- the workers' side -----------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
                while not self._queue and not self._closed:
                    self._requested.wait()
                self._idle -= 1
                if self._closed:
                    return
                index = heapq.heappop(self._queue)
                slot = self._slots[index]
                self._busy += 1
                self.scheduled += 1
            self._send(index, slot)

    def _send(self, index: int, slot: _Slot) -> None:
        self.handoff("taken", index)
        response: Any = None
        error: BaseException | None = None
        try:
            response = self.send(slot.request, self.stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the loop, which raises it in the caller's thread
            error = exc
        self.handoff("answered", index)
        with self._lock:
            slot.response, slot.error, slot.done = response, error, True
            current = self._slots.get(index) is slot  # not an answer the loop dropped (derailed, closed)
            if current and error is not None and not isinstance(error, SurveySpherePagingStopped):
                self._stop_past(index)
            if current and self._awaiting == index:  # the loop waits for this very answer: wake it
                self._awaiting = None
                self._answered.notify()
        del response, error
        self.handoff("published", index)
        with self._lock:
            self._busy -= 1
            self._refill()
        self.handoff("refilled", index)

    def _stop_past(self, index: int) -> None:
        """A page failed: nothing past it is requested any more (the queued requests past it are dropped)."""
        if self._failed_at is not None and self._failed_at <= index:
            return
        self._failed_at = index
        dropped = [number for number in self._queue if number > index]
        if dropped:
            self._queue = [number for number in self._queue if number <= index]
            heapq.heapify(self._queue)
            for number in dropped:
                del self._slots[number]
