"""The concurrent fetcher and the hook's throttle, driven directly (no HTTP)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from airflow_provider_surveysphere.exceptions import SurveySphereClientError
from airflow_provider_surveysphere.fetching import ConcurrentFetcher
from airflow_provider_surveysphere.pagination import PageNumberPagination, PageRequest
from airflow_provider_surveysphere.paging import Paginator
from airflow_provider_surveysphere.throttle import PROBE_COST_RATIO, PROBE_SUCCESSES, Throttle


class FakeResponse:
    """What the paging loop reads of an answer."""

    def __init__(self, body: object) -> None:
        self.content = json.dumps(body).encode()
        self.headers = {"Content-Type": "application/json"}


def plan(index: int) -> PageRequest:
    return PageRequest("items", {"page": index + 1})


class SlowPageSender:
    """Sends pages from worker threads: records each page number, holds back ``slow`` until released,
    and fails ``failing`` with a 404."""

    def __init__(self, slow: int, failing: int | None = None) -> None:
        self.slow, self.failing = slow, failing
        self.release = threading.Event()
        self.sent: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, request: PageRequest) -> str:
        number = request.params["page"]
        with self._lock:
            self.sent.append(number)
        if number == self.slow:
            self.release.wait(10)
        if number == self.failing:
            raise SurveySphereClientError("GET", "/items", 404)
        return f"answer {number}"


def wait_until(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_failed_page_stops_new_requests_at_once():
    send = SlowPageSender(slow=1, failing=3)  # the failure of page 3 arrives before page 1
    fetcher = ConcurrentFetcher(send, plan, max_concurrency=4, max_pages=None, wait_for_total=False)
    fetcher._schedule(0)  # pages 1-4 go out
    assert wait_until(fetcher._futures[2].done)
    send.release.set()
    try:
        assert fetcher.get(0, plan(0)) == "answer 1"
        assert fetcher.get(1, plan(1)) == "answer 2"
        with pytest.raises(SurveySphereClientError):
            fetcher.get(2, plan(2))
    finally:
        fetcher.close(failed=True)
    # Without the stop, reading pages 1 and 2 would have sent pages 5 and 6.
    assert fetcher.scheduled == 4 and max(send.sent) <= 4


def test_reading_a_page_that_turns_out_last_leaves_at_most_max_concurrency_minus_one_sent_past_it():
    fetcher = ConcurrentFetcher(lambda request: "answer", plan, max_concurrency=8, max_pages=None, wait_for_total=False)
    try:
        assert fetcher.get(0, plan(0)) == "answer"  # the loop then finds page 1 short: the end
    finally:
        fetcher.close()
    assert fetcher.scheduled == 8  # page 1 and the 7 ahead of it, not one more


def test_a_request_other_than_the_planned_one_is_refused():
    fetcher = ConcurrentFetcher(lambda request: "x", plan, max_concurrency=2, max_pages=None, wait_for_total=False)
    try:
        with pytest.raises(Exception, match="cannot be fetched concurrently"):
            fetcher.get(0, PageRequest("items", {"page": 7}))
    finally:
        fetcher.close()


def test_until_the_total_is_known_only_the_first_page_is_requested():
    sent: list[int] = []
    fetcher = ConcurrentFetcher(lambda r: sent.append(r.params["page"]) or "x", plan, max_concurrency=4,
                                max_pages=None, wait_for_total=True)
    try:
        fetcher.get(0, plan(0))
        assert sent == [1]
        fetcher.set_total(3)
        fetcher.get(1, plan(1))
        fetcher.get(2, plan(2))
    finally:
        fetcher.close()
    assert sorted(sent) == [1, 2, 3]


def test_with_a_total_a_slow_page_does_not_idle_the_other_workers():
    send = SlowPageSender(slow=2)
    fetcher = ConcurrentFetcher(send, plan, max_concurrency=2, max_pages=None, wait_for_total=True)
    try:
        assert fetcher.get(0, plan(0)) == "answer 1"
        fetcher.set_total(100)
        fetcher.read_ahead(1)
        # Page 2 hangs; the other worker goes on alone, from its own thread, up to twice max_concurrency
        # pages past the one being read (pages 2-5), and no further.
        assert wait_until(lambda: fetcher.scheduled == 5 and all(
            future.done() for index, future in fetcher._futures.items() if index != 1))
        assert fetcher._in_flight == 1 and fetcher.scheduled == 5 and sorted(send.sent) == [1, 2, 3, 4, 5]
        send.release.set()
        assert [fetcher.get(index, plan(index)) for index in range(1, 5)] == [f"answer {n}" for n in range(2, 6)]
    finally:
        fetcher.close()


def test_the_next_requests_go_out_while_a_page_is_consumed():
    sent: list[int] = []
    lock = threading.Lock()

    def send(request: PageRequest) -> FakeResponse:
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
