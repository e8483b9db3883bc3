"""The concurrent fetcher and the hook's throttle, driven directly (no HTTP).

Races are tested by construction: a gate holds each page's request until the test releases it, and the fetcher's
hand-off seam (``ConcurrentFetcher.handoff``) parks a thread at a chosen hand-off until the other side has moved.
"""

from __future__ import annotations

import gc
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_surveysphere.exceptions import SurveySphereClientError, SurveySpherePagingStopped
from airflow_provider_surveysphere.fetching import ConcurrentFetcher, Fetcher
from airflow_provider_surveysphere.pagination import PageNumberPagination, PageRequest, Paginator
from airflow_provider_surveysphere.stopping import Stop
from airflow_provider_surveysphere.throttle import PROBE_COST_RATIO, PROBE_SUCCESSES, Throttle


class FakeResponse:
    """What the paging loop reads of an answer."""

    def __init__(self, body: object) -> None:
        self.content = json.dumps(body).encode()
        self.headers = {"Content-Type": "application/json"}


def plan(index: int) -> PageRequest:
    return PageRequest("items", {"page": index + 1})


def page_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("surveysphere-page")]


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


class Gate:
    """A page sender whose requests each wait until the test releases their page (or the stop is set, as the
    hook's sender does); ``failing`` pages answer 404 once released; ``body(n)`` is page n's body."""

    def __init__(self, body: Callable[[int], object] = lambda n: {"data": [n, n]}, failing: set[int] = frozenset()):
        self.body, self.failing = body, failing
        self.sent: list[int] = []
        self.waiting = 0
        self.released: set[int] = set()
        self.all_open = False
        self.condition = threading.Condition()

    def __call__(self, request: PageRequest, stop: Stop) -> FakeResponse:
        number = request.params["page"]
        with self.condition, stop.waking(self.wake):
            stop.check()
            self.sent.append(number)
            self.waiting += 1
            self.condition.notify_all()
            try:
                self.condition.wait_for(lambda: self.all_open or number in self.released or stop.is_set())
            finally:
                self.waiting -= 1
            stop.check()
        if number in self.failing:
            raise SurveySphereClientError("GET", "/items", 404)
        return FakeResponse(self.body(number))

    def wake(self) -> None:
        with self.condition:
            self.condition.notify_all()

    def release(self, *pages: int) -> None:
        with self.condition:
            self.released.update(pages)
            self.condition.notify_all()

    def open(self) -> None:
        with self.condition:
            self.all_open = True
            self.condition.notify_all()

    def settled(self, fetcher: ConcurrentFetcher) -> bool:
        """Every busy worker waits at the gate, and no request waits for an idle worker."""
        state = fetcher.state()
        with self.condition:
            return state.busy == self.waiting and not (state.queued and state.idle) and state.idle + state.busy == (
                state.workers)


class Recording(Paginator):
    """A Paginator that keeps its fetchers and gives them a hand-off."""

    def __init__(self, *args: Any, handoff: Callable[[str, int], None] | None = None, **kwargs: Any) -> None:
        self.handoff = handoff
        self.fetchers: list[Fetcher] = []
        super().__init__(*args, **kwargs)

    def new_fetcher(self) -> Fetcher:
        fetcher = super().new_fetcher()
        if self.handoff is not None and isinstance(fetcher, ConcurrentFetcher):
            fetcher.handoff = self.handoff
        self.fetchers.append(fetcher)
        return fetcher


# -- defect 2: the total changes during the export ---------------------------------------------------------------

def server(pages: list[tuple[int, int | None]]) -> Callable[[PageRequest, Stop], FakeResponse]:
    """Page n (1-based) holds ``pages[n-1][0]`` records and says ``totalPages`` is ``pages[n-1][1]``."""
    lock = threading.Lock()

    def send(request: PageRequest, stop: Stop) -> FakeResponse:
        number = request.params["page"]
        count, total = pages[number - 1] if number <= len(pages) else (0, None)
        body: dict[str, Any] = {"data": [f"p{number}r{i}" for i in range(count)]}
        if total is not None:
            body["totalPages"] = total
        with lock:
            send.sent.append(number)  # type: ignore[attr-defined]
        return FakeResponse(body)

    send.sent = []  # type: ignore[attr-defined]
    return send


@pytest.mark.parametrize("pages", [
    pytest.param([(80, 3), (80, 3), (80, 4), (80, 4), (0, 4)], id="grows"),  # the case of the issue: 320 records
    pytest.param([(80, 4), (80, 2), (80, 2), (80, 2)], id="shrinks"),
    pytest.param([(80, 2), (80, None), (80, None), (3, None)], id="disappears"),
    pytest.param([(80, 1), (80, 9), (80, 9), (80, 9), (80, 9), (80, 9), (80, 9), (80, 9), (1, 9)], id="grows a lot"),
])
@pytest.mark.parametrize("concurrency", [2, 4, 8])
def test_the_export_reads_what_the_sequential_one_reads_when_the_total_changes(pages, concurrency):
    strategy = PageNumberPagination(page_size=80, total_pages_key="totalPages")
    sequential = list(Paginator(server(pages), "items", pagination=strategy, records_key="data"))
    concurrent = list(Paginator(server(pages), "items", pagination=strategy, records_key="data",
                                max_concurrency=concurrency))
    assert concurrent == sequential


def test_a_strategy_whose_next_request_differs_from_its_plan_is_followed_one_page_at_a_time():
    class Skipping(PageNumberPagination):
        """Addresses pages 1, 2, 3, ... up front, but after page 2 its next_request jumps to page 5."""

        def next_request(self, page):  # type: ignore[no-untyped-def]
            request = super().next_request(page)
            if request is not None and request.params["page"] == 3:
                request = PageRequest(request.endpoint, {**request.params, "page": 5})
            return request

    pages = [(2, None)] * 6 + [(1, None)]
    sequential = list(Paginator(server(pages), "items", pagination=Skipping(page_size=2), records_key="data"))
    send = server(pages)
    concurrent = list(Paginator(send, "items", pagination=Skipping(page_size=2), records_key="data",
                                max_concurrency=4))
    assert concurrent == sequential == ["p1r0", "p1r1", "p2r0", "p2r1", "p5r0", "p5r1", "p6r0", "p6r1", "p7r0"]


# -- defect 3: the loop takes an answer before its worker is done with it ----------------------------------------

@pytest.mark.parametrize("point", ["answered", "published", "refilled"])
def test_the_loop_gets_its_page_whatever_the_workers_are_doing_when_it_asks(point):
    # Every worker is held at the hand-off until the loop has taken its answer and asks for a later page: the
    # loop finds every worker busy with pages it already read. It must get its next page anyway.
    paginators: list[Recording] = []
    read: set[int] = set()

    def handoff(at: str, index: int) -> None:
        fetcher = paginators[0].fetchers[-1]
        assert isinstance(fetcher, ConcurrentFetcher)
        if at == "read":
            read.add(index)
        elif at == point and point != "answered":
            assert wait_until(lambda: (index in read and (fetcher.state().awaiting or -1) > index)
                              or fetcher.state().closed)
        elif at == point:  # nothing published yet: hold the worker until another has answered... or it is last
            assert wait_until(lambda: fetcher.state().awaiting == index or fetcher.state().closed)

    body = {n: {"data": [n, n]} for n in range(1, 12)} | {12: {"data": [12]}}
    paginator = Recording(lambda request, stop: FakeResponse(body[request.params["page"]]), "items",
                          pagination=PageNumberPagination(page_size=2), records_key="data", max_concurrency=2,
                          handoff=handoff)
    paginators.append(paginator)
    assert list(paginator) == [n for n in range(1, 12) for _ in range(2)] + [12]


def test_the_loop_never_finds_every_slot_taken_by_pages_it_already_read():
    # The interleaving of the issue, forced: with 2 workers, pages 1 and 2 answered and read while neither worker
    # has freed its slot; the loop then needs page 3, which nothing planned.
    gate = Gate()
    release_workers = threading.Event()

    def handoff(at: str, index: int) -> None:
        if at == "published":
            release_workers.wait(10)

    paginator = Recording(gate, "items", pagination=PageNumberPagination(page_size=2), records_key="data",
                          max_concurrency=2, handoff=handoff)
    records = iter(paginator)
    gate.release(1, 2)
    assert [next(records) for _ in range(4)] == [1, 1, 2, 2]  # both workers still hold their slots
    fetcher = paginator.fetchers[-1]
    assert isinstance(fetcher, ConcurrentFetcher)
    consumer = threading.Thread(target=lambda: next(records))
    consumer.start()
    assert wait_until(lambda: fetcher.state().awaiting == 2)  # the loop waits for page 3: requested, queued
    assert fetcher.state().queued >= 1 and fetcher.state().busy == 2
    release_workers.set()
    gate.open()
    consumer.join(10)
    assert not consumer.is_alive()
    paginator.close()


# -- a failure stops new requests ----------------------------------------------------------------------------------

def test_a_failed_page_stops_new_requests_at_once():
    gate = Gate(failing={3})
    fetcher = ConcurrentFetcher(gate, plan, max_concurrency=4, max_pages=None, wait_for_total=False)
    try:
        fetcher.read_ahead(0)  # pages 1-4 go out
        assert wait_until(lambda: sorted(gate.sent) == [1, 2, 3, 4])
        gate.release(3)  # the failure of page 3 arrives before pages 1 and 2
        assert wait_until(lambda: gate.settled(fetcher) and fetcher.state().busy == 3)
        gate.release(1, 2)
        assert fetcher.get(0, plan(0)).content == b'{"data": [1, 1]}'
        fetcher.read_ahead(1)
        assert fetcher.get(1, plan(1)).content == b'{"data": [2, 2]}'
        fetcher.read_ahead(2)  # reading pages 1 and 2 moved the window to pages 3-6
        assert wait_until(lambda: gate.settled(fetcher))
        with pytest.raises(SurveySphereClientError):
            fetcher.get(2, plan(2))
    finally:
        fetcher.close(wait=False)
    # Without the stop, pages 5 and 6 would have been sent once pages 1 and 2 were read.
    assert sorted(gate.sent) == [1, 2, 3, 4] and fetcher.scheduled == 4


# -- the window ---------------------------------------------------------------------------------------------------

def test_until_the_total_is_known_only_the_first_page_is_requested():
    gate = Gate()
    gate.open()
    fetcher = ConcurrentFetcher(gate, plan, max_concurrency=4, max_pages=None, wait_for_total=True)
    try:
        fetcher.get(0, plan(0))
        assert wait_until(lambda: gate.settled(fetcher)) and gate.sent == [1]
        fetcher.set_total(3)
        fetcher.get(1, plan(1))
        fetcher.get(2, plan(2))
    finally:
        fetcher.close()
    assert sorted(gate.sent) == [1, 2, 3]


def test_with_a_total_a_slow_page_does_not_idle_the_other_workers():
    gate = Gate()
    gate.release(1, 3, 4, 5, 6)
    fetcher = ConcurrentFetcher(gate, plan, max_concurrency=2, max_pages=None, wait_for_total=True)
    try:
        fetcher.get(0, plan(0))
        fetcher.set_total(100)
        fetcher.read_ahead(1)
        # Page 2 hangs; the other worker goes on alone, from its own thread, up to twice max_concurrency
        # pages past the one being read (pages 2-5), and no further.
        assert wait_until(lambda: gate.settled(fetcher) and sorted(gate.sent) == [1, 2, 3, 4, 5])
        assert fetcher.state().busy == 1 and gate.waiting == 1
        gate.release(2)
        assert [fetcher.get(index, plan(index)).content for index in range(1, 5)] == [
            json.dumps({"data": [n, n]}).encode() for n in range(2, 6)]
    finally:
        fetcher.close()


@pytest.mark.parametrize(("with_total", "ahead"), [(False, 4), (True, 8)])
def test_answers_held_for_a_consumer_that_does_not_read_stay_within_the_window(with_total, ahead):
    # Every answer comes at once and the consumer stops after page 1: the workers are idle, and the pages fetched
    # ahead of page 2 stop at the window (N without a total, 2N with one), not at what the workers could do.
    gate = Gate(body=lambda n: {"data": [n, n], "totalPages": 100})
    gate.open()
    paginator = Recording(gate, "items", records_key="data", max_concurrency=4, max_pages=None,
                          pagination=PageNumberPagination(page_size=2, total_pages_key="totalPages" if with_total
                                                          else None))
    records = iter(paginator)
    assert next(records) == 1
    fetcher = paginator.fetchers[-1]
    assert isinstance(fetcher, ConcurrentFetcher)
    assert wait_until(lambda: gate.settled(fetcher) and fetcher.state().busy == 0)
    assert sorted(gate.sent) == list(range(1, 2 + ahead))
    paginator.close()


def test_the_next_requests_go_out_while_a_page_is_consumed():
    sent: list[int] = []
    lock = threading.Lock()

    def send(request: PageRequest, stop: Stop) -> FakeResponse:
        with lock:
            sent.append(request.params["page"])
        return FakeResponse({"data": [1, 2]} if request.params["page"] < 5 else {"data": [1]})

    paginator = Paginator(send, "items", pagination=PageNumberPagination(page_size=2), records_key="data",
                          max_concurrency=2)
    for page in paginator.iter_pages():
        ahead = page.number + 2
        if page.number < 5:
            # Page n was full: pages n+1 and n+2 are requested before the consumer is done with page n.
            assert wait_until(lambda: ahead in sent), f"page {ahead} not requested yet"  # noqa: B023
    assert paginator.records == 9 and sorted(sent) == [1, 2, 3, 4, 5, 6]  # page 6: the one wasted request


# -- defect 4: closing or abandoning the iterator --------------------------------------------------------------

class Counting:
    """An endless server of full pages that counts what it is sent."""

    def __init__(self) -> None:
        self.sent = 0
        self.lock = threading.Lock()

    def __call__(self, request: PageRequest, stop: Stop) -> FakeResponse:
        stop.check()
        with self.lock:
            self.sent += 1
        return FakeResponse({"data": [1, 2]})

    def paginate(self) -> Paginator:
        return Paginator(self, "items", pagination=PageNumberPagination(page_size=2), records_key="data",
                         max_concurrency=8, max_pages=None)


@pytest.fixture
def no_gc() -> Iterator[None]:
    """No garbage collection during the test: an iterator must be stopped by reference counting alone."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _break(counting: Counting) -> None:
    for _ in counting.paginate():
        break


def _close(counting: Counting) -> None:
    paginator = counting.paginate()
    next(paginator)
    paginator.close()


def _with(counting: Counting) -> None:
    with counting.paginate() as paginator:
        next(paginator)


def _raise(counting: Counting) -> None:
    def consume() -> None:
        for _ in counting.paginate():
            raise ValueError("the consumer failed")

    with pytest.raises(ValueError):
        consume()


def _pages_break(counting: Counting) -> None:
    for _ in counting.paginate().iter_pages():
        break


@pytest.mark.usefixtures("no_gc")
@pytest.mark.parametrize("stop", [_break, _close, _with, _raise, _pages_break])
def test_leaving_the_iterator_stops_requests_and_ends_the_threads_at_once(stop):
    counting = Counting()
    for _ in range(5):
        stop(counting)
        assert page_threads() == []  # joined: no thread, so nothing can be sent any more
    sent = counting.sent
    assert sent <= 5 * (8 + 1)  # each export sent at most the window of the page it was reading
    gc.enable()
    gc.collect()
    assert counting.sent == sent


def test_closing_stops_requests_waiting_to_be_sent():
    gate = Gate()
    paginator = Recording(gate, "items", pagination=PageNumberPagination(page_size=2), records_key="data",
                          max_concurrency=4)
    records = iter(paginator)
    gate.release(1)
    assert next(records) == 1
    fetcher = paginator.fetchers[-1]
    assert isinstance(fetcher, ConcurrentFetcher)
    assert wait_until(lambda: gate.settled(fetcher) and gate.waiting == 4)  # pages 2-5 wait at the gate
    paginator.close()  # their senders give up (the stop), nothing more is sent
    assert page_threads() == [] and sorted(gate.sent) == [1, 2, 3, 4, 5]
    assert list(records) == [1]  # the rest of the page already read, and no more


def test_nothing_waits_to_be_sent_while_the_last_page_is_consumed():
    gate = Gate(body=lambda n: {"data": [n]})  # page 1 is short: the last
    paginator = Recording(gate, "items", pagination=PageNumberPagination(page_size=2), records_key="data",
                          max_concurrency=2)
    records = iter(paginator)
    gate.release(1)
    assert next(records) == 1  # the last page is being consumed: the iteration has not ended
    # Page 2, fetched ahead, gave up at the gate at once (or was never sent), before the consumer is done.
    assert wait_until(lambda: page_threads() == [])
    assert sorted(gate.sent) in ([1], [1, 2])
    assert list(records) == []


@pytest.mark.parametrize("max_concurrency", [1, 4])
def test_closing_from_another_thread_ends_the_consumer_s_wait_and_the_requests(max_concurrency):
    gate = Gate()
    paginator = Recording(gate, "items", pagination=PageNumberPagination(page_size=2), records_key="data",
                          max_concurrency=max_concurrency)
    records = iter(paginator)
    gate.release(1)
    assert [next(records), next(records)] == [1, 1]
    consumer, outcome = run_in_thread(lambda: list(records))  # waits for page 2, held at the gate
    assert wait_until(lambda: gate.waiting == max_concurrency)
    paginator.close()  # from this thread, while the consumer's thread is inside the paging
    assert page_threads() == []
    consumer.join(5)
    assert not consumer.is_alive() and isinstance(outcome[0], SurveySpherePagingStopped)
    sent = list(gate.sent)
    gate.open()
    time.sleep(0.05)
    assert gate.sent == sent and sorted(sent) == list(range(1, max_concurrency + 2))  # page 1, the pages in flight, none after


# -- defect 9: finishing does not wait, and sends nothing more ------------------------------------------------

def throttled_sender(throttle: Throttle, wait: Callable[[], None], last: int, waiting_page: int):
    """Like the hook's sender: page ``waiting_page`` is answered 503 and its retry waits (``wait``) first."""
    sent: list[int] = []

    def send(request: PageRequest, stop: Stop) -> FakeResponse:
        number = request.params["page"]
        with throttle.honouring(stop), throttle.slot():
            while True:
                sent.append(number)
                if number != waiting_page:
                    break
                with throttle.released():
                    wait()
        if number == last + 1:
            assert wait_until(lambda: waiting_page in sent)  # fail once the other page waits
            raise SurveySphereClientError("GET", "/items", 400)
        return FakeResponse({"data": [number] * (2 if number < last else 1)})

    send.sent = sent  # type: ignore[attr-defined]
    return send


def run_in_thread(function: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(function())
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize("wait", ["backoff", "retry_after"])
def test_the_export_ends_at_once_when_a_page_past_the_end_waits_to_be_retried(wait):
    throttle = Throttle()
    waits = {"backoff": lambda: throttle.sleep(3600), "retry_after": lambda: throttle.answered(429, 3600)}
    send = throttled_sender(throttle, waits[wait], last=1, waiting_page=2)  # page 1 is short: page 2 is past the end
    paginator = Paginator(send, "items", pagination=PageNumberPagination(page_size=2), records_key="data",
                          max_concurrency=2)
    thread, outcome = run_in_thread(lambda: list(paginator))
    thread.join(60)  # a liveness bound, not a timing: the wait asked for is an hour
    assert not thread.is_alive() and outcome == [[1]]
    assert sorted(send.sent) == [1, 2] and page_threads() == []  # page 2 was never sent again


def test_a_failure_reaches_the_caller_while_another_page_waits_and_the_workers_are_daemons():
    throttle = Throttle()
    # Page 2 fails for good (400) once page 3 (sent when page 1 was read) waits an hour to be retried.
    send = throttled_sender(throttle, lambda: throttle.sleep(3600), last=1, waiting_page=3)
    paginator = Paginator(send, "items", pagination=PageNumberPagination(page_size=1), records_key="data",
                          max_concurrency=2)
    thread, outcome = run_in_thread(lambda: list(paginator))
    thread.join(60)
    assert not thread.is_alive() and isinstance(outcome[0], SurveySphereClientError)
    assert wait_until(lambda: page_threads() == [])  # the waiting one gave up when the export failed
    assert sorted(send.sent) == [1, 2, 3]


def test_a_failure_reaches_the_caller_while_a_request_is_on_the_wire_in_a_daemon_worker():
    on_the_wire = threading.Event()  # page 3's answer, which no stop can hasten
    answer = threading.Event()

    def send(request: PageRequest, stop: Stop) -> FakeResponse:
        number = request.params["page"]
        if number == 3:
            on_the_wire.set()
            answer.wait(60)
        if number == 2:
            assert on_the_wire.wait(10)
            raise SurveySphereClientError("GET", "/items", 400)
        return FakeResponse({"data": [number]})

    paginator = Paginator(send, "items", pagination=PageNumberPagination(page_size=1), records_key="data",
                          max_concurrency=2)
    try:
        thread, outcome = run_in_thread(lambda: list(paginator))
        thread.join(30)  # a liveness bound: page 3's answer comes only once the caller has the failure
        assert not thread.is_alive() and isinstance(outcome[0], SurveySphereClientError)
        workers = page_threads()
        assert workers and all(worker.daemon for worker in workers)  # page 3's cannot hold the process at exit
    finally:
        answer.set()
    assert wait_until(lambda: page_threads() == [])


def test_the_throttle_s_waits_end_when_the_stop_is_set():
    throttle = Throttle()
    stop = Stop()
    throttle.answered(503, 3600)  # the gate is closed for an hour
    ended: list[type[BaseException]] = []

    def wait(action: Callable[[], None]) -> None:
        with throttle.honouring(stop):
            try:
                action()
            except SurveySpherePagingStopped as exc:
                ended.append(type(exc))

    threads = [threading.Thread(target=wait, args=(action,)) for action in (throttle.acquire, lambda: throttle.sleep(3600))]
    for thread in threads:
        thread.start()
    stop.set()
    for thread in threads:
        thread.join(60)
    assert ended == [SurveySpherePagingStopped, SurveySpherePagingStopped]


def test_a_429_halves_the_limit_once_per_window_and_it_recovers_gradually():
    throttle = Throttle(clock=lambda: 0.0)
    holders = []

    def take() -> None:
        throttle.acquire()
        holders.append(threading.get_ident())

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert throttle.limit is None
    throttle._local.epoch = 0  # as if this thread's request had been sent with the others
    throttle.answered(429, None)  # 8 in flight: the first 429 halves to 4
    assert throttle.limit == 4
    throttle.answered(429, None)  # the same window (sent before the decrease): no second halving,
    assert throttle.limit == 4  # but the server took one fewer than 8: it refuses 7
    for _ in range(8):
        throttle._local.held = 1
        throttle.release(success=True)
    assert throttle.limit == 5  # 4 successes add one
    for _ in range(5 + 6):
        throttle.acquire()
        throttle.release(success=True)
    assert throttle.limit == 6  # up to just below the 7 that was refused
    for _ in range(PROBE_SUCCESSES):
        throttle.acquire()
        throttle.release(success=True)
    assert throttle.limit == 7  # past it only after a long run of successes


def test_retry_after_closes_the_gate_for_every_thread():
    now = [100.0]
    throttle = Throttle(clock=lambda: now[0])
    throttle.answered(503, 2.0)
    got_in = threading.Event()

    def other_thread() -> None:
        throttle.acquire()
        got_in.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    assert not got_in.wait(0.2)  # the gate is closed for 2 s of the clock, which stands still
    now[0] += 2.0
    with throttle._condition:
        throttle._condition.notify_all()
    assert got_in.wait(5)
    thread.join()


def test_many_429s_of_one_round_bring_the_limit_to_what_the_server_took():
    throttle = Throttle(clock=lambda: 0.0)
    for _ in range(8):
        throttle.acquire()
    throttle.answered(429, None)  # the calling thread holds all 8 slots here: the window is "now"
    throttle._local.epoch = -1  # the next three came from requests of the same (older) round
    for _ in range(5):
        throttle.answered(429, None)
    assert throttle.limit == 2  # 8 in flight, 6 refused: the server took 2


def test_a_probe_past_the_refused_level_waits_until_it_costs_little_of_the_time():
    now = [0.0]
    throttle = Throttle(clock=lambda: now[0])
    for _ in range(4):
        throttle.acquire()
    throttle.answered(429, 1.0)  # 4 in flight, Retry-After 1 s: the limit halves to 2, 4 is refused
    for _ in range(4):
        throttle.release(success=True)
    now[0] = 1.0
    for _ in range(2):
        throttle.acquire()
        throttle.release(success=True)
    assert throttle.limit == 3  # just below the refused level: recovers at once
    for _ in range(PROBE_SUCCESSES):
        throttle.acquire()
        throttle.release(success=True)
    assert throttle.limit == 3  # enough successes, but a failed probe would cost 1 s of 1 s + 19 s so far
    now[0] = PROBE_COST_RATIO * 1.0
    throttle.acquire()
    throttle.release(success=True)
    assert throttle.limit == 4  # 20 Retry-Afters later, one probe


def test_a_hand_off_wakes_only_the_thread_it_is_for(monkeypatch):
    """An answer wakes the loop, a queued request one idle worker: not every thread of the fetcher each time.

    The answers come at once and the consumer lets every worker park before it reads the next page: the window is
    then full and the workers idle, so each page read queues one request. If every hand-off woke every thread,
    each page would cost a wake-up of each of the 8 workers, all but one finding nothing to do (each one takes
    the GIL). Counted: the times a worker thread returns from waiting on a condition.
    """
    pages, concurrency = 40, 8
    wakes: list[str] = []
    real_wait = threading.Condition.wait

    def counting_wait(self: threading.Condition, timeout: float | None = None) -> bool:
        result = real_wait(self, timeout)
        if threading.current_thread().name.startswith("surveysphere-page"):
            wakes.append(threading.current_thread().name)
        return result

    gate = Gate(body=lambda n: {"data": [n], "totalPages": pages})
    gate.open()
    monkeypatch.setattr(threading.Condition, "wait", counting_wait)
    paginator = Recording(gate, "items", records_key="data", max_concurrency=concurrency, max_pages=None,
                          pagination=PageNumberPagination(page_size=1, total_pages_key="totalPages"))
    read = []

    def parked() -> bool:
        fetcher = paginator.fetchers[-1]
        assert isinstance(fetcher, ConcurrentFetcher)
        return gate.settled(fetcher) and fetcher.state().busy == 0

    for page in paginator.iter_pages():
        read += page.records
        assert wait_until(parked)  # every worker parked before the next page is read
    assert read == list(range(1, pages + 1))
    # One wake-up per request a parked worker takes (and a few at the start and the close).
    assert len(wakes) <= pages + 3 * concurrency, len(wakes)
