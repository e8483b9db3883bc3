"""Model-based test of concurrent paging: at any max_concurrency, an export reads what the sequential one reads.

Hypothesis generates a server history (pages of records with random ids, a total field that grows, shrinks or
disappears from page to page, as records arrive during the export; pages that fail for good) and a schedule:
every page request, and every worker's hand-off after it published an answer, parks until the test releases it,
and the test releases one parked thread at a time, in an order Hypothesis chooses, once every thread is parked
or waiting (the fetcher's ``state()`` seam says when). Retried transient errors and 429s are, to the fetcher,
answers that come later: the schedule covers them.

Invariants: the records (and the error, if any) equal those of ``max_concurrency=1`` on the same history; no
request reaches the server after the consumer has its result; no worker thread outlives the export.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_surveysphere.exceptions import SurveySphereClientError
from airflow_provider_surveysphere.fetching import ConcurrentFetcher, Fetcher
from airflow_provider_surveysphere.pagination import PageNumberPagination, PageRequest, Paginator
from airflow_provider_surveysphere.stopping import Stop

PAGE_SIZE = 3
pytestmark = pytest.mark.model


class Answer:
    def __init__(self, body: object) -> None:
        self.content = json.dumps(body).encode()
        self.headers = {"Content-Type": "application/json"}


class History:
    """What the server answers to each page: its records, its total field (or none), or a permanent error."""

    def __init__(self, pages: list[tuple[list[int], int | None]], failing: set[int]) -> None:
        self.pages, self.failing = pages, failing

    def __repr__(self) -> str:
        return f"History(pages={self.pages!r}, failing={self.failing!r})"

    def answer(self, number: int) -> Answer:
        if number in self.failing:
            raise SurveySphereClientError("GET", f"/items?page={number}", 400)
        records, total = self.pages[number - 1] if number <= len(self.pages) else ([], None)
        body: dict[str, Any] = {"data": records}
        if total is not None:
            body["totalPages"] = total
        return Answer(body)


class Schedule:
    """Parks page requests and hand-offs until the test releases them, one at a time."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.parked: list[list[Any]] = []  # [label, released]
        self.sent = 0
        self.late = 0  # requests that reached the server after the consumer had its result
        self.done = False

    def wake(self) -> None:
        with self.condition:
            self.condition.notify_all()

    def park(self, label: tuple[str, int], stop: Stop) -> None:
        """Wait until released, or the export is over, or the fetcher stopped (closing wakes every park)."""
        with self.condition, stop.waking(self.wake):
            entry = [label, False]
            self.parked.append(entry)
            self.condition.notify_all()
            self.condition.wait_for(lambda: entry[1] or self.done or stop.is_set())
            if entry in self.parked:
                self.parked.remove(entry)

    def release(self, position: int) -> None:
        with self.condition:
            entry = sorted(self.parked, key=lambda e: e[0])[position]
            entry[1] = True
            self.parked.remove(entry)
            self.condition.notify_all()


def export(paginator: Paginator) -> tuple[list[Any], str | None]:
    records: list[Any] = []
    try:
        for record in paginator:
            records.append(record)
    except SurveySphereClientError as exc:
        return records, str(exc)
    return records, None


def settled(schedule: Schedule, fetcher: ConcurrentFetcher) -> bool:
    """Every worker is parked or idle, no request waits for an idle worker, and the loop waits for a page."""
    before = fetcher.state()
    with schedule.condition:
        parked = len(schedule.parked)
    after = fetcher.state()
    return (before == after and after.awaiting is not None and after.busy == parked
            and not (after.queued and after.idle) and after.idle + after.busy == after.workers)


@st.composite
def histories(draw: st.DrawFn) -> History:
    """Mostly full pages (records keep arriving), each saying a total near its own position: the total grows,
    shrinks or disappears from page to page; now and then a short or empty page, and pages that fail for good."""
    pages = []
    for position in range(1, draw(st.integers(1, 8)) + 1):
        count = draw(st.one_of(st.just(PAGE_SIZE), st.integers(0, PAGE_SIZE)))
        records = sorted(draw(st.lists(st.integers(0, 10**6), min_size=count, max_size=count)))
        delta = draw(st.sampled_from([1, 2, 0, -1, 3, -2, None]))
        total = None if delta is None else max(0, position + delta)
        pages.append((records, total))
    return History(pages, draw(st.one_of(st.just(set()), st.sets(st.integers(1, 10), min_size=1, max_size=2))))


@given(history=histories(), with_total=st.sampled_from([True, False]), concurrency=st.integers(2, 5), data=st.data())
def test_an_export_at_any_concurrency_reads_what_the_sequential_one_reads(history, with_total, concurrency, data):
    strategy = PageNumberPagination(page_size=PAGE_SIZE, total_pages_key="totalPages" if with_total else None)
    expected = export(Paginator(lambda request, stop: history.answer(request.params["page"]), "items",
                                pagination=strategy, records_key="data", max_pages=20))

    schedule = Schedule()
    fetchers: list[Fetcher] = []

    def send(request: PageRequest, stop: Stop) -> Answer:
        number = request.params["page"]
        with schedule.condition, stop.waking(schedule.wake):
            stop.check()
            schedule.sent += 1
            schedule.late += schedule.done
        schedule.park(("send", number), stop)
        stop.check()
        return history.answer(number)

    class Scheduled(Paginator):
        def new_fetcher(self) -> Fetcher:
            fetcher = super().new_fetcher()
            assert isinstance(fetcher, ConcurrentFetcher)
            fetcher.handoff = lambda point, index: point == "published" and schedule.park(("published", index),
                                                                                          fetcher.stop)
            fetchers.append(fetcher)
            return fetcher

    paginator = Scheduled(send, "items", pagination=strategy, records_key="data", max_pages=20,
                          max_concurrency=concurrency)
    outcome: list[tuple[list[Any], str | None]] = []

    def consume() -> None:
        outcome.append(export(paginator))
        with schedule.condition:
            schedule.done = True
            schedule.condition.notify_all()

    consumer = threading.Thread(target=consume, name="model-consumer")
    consumer.start()
    try:
        deadline = time.monotonic() + 5
        while consumer.is_alive():
            assert time.monotonic() < deadline, (
                f"the export made no progress: {fetchers[-1].state() if fetchers else None}, {schedule.parked}")
            fetcher = fetchers[-1] if fetchers else None
            if fetcher is None or not isinstance(fetcher, ConcurrentFetcher) or not settled(schedule, fetcher):
                time.sleep(0.0002)
                continue
            with schedule.condition:
                parked = len(schedule.parked)
            assert parked, f"the loop waits for page {fetcher.state().awaiting + 1} and nothing is in flight"
            schedule.release(data.draw(st.integers(0, parked - 1), label="release"))
            time.sleep(0)
        consumer.join()
        paginator.close()
    finally:  # a failed check frees every parked thread, so that the next example starts clean
        with schedule.condition:
            schedule.done = True
            schedule.condition.notify_all()
        consumer.join(10)
    assert outcome == [expected]
    with schedule.condition:
        assert schedule.late == 0
    deadline = time.monotonic() + 10
    while any(t.name.startswith("surveysphere-page") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "a worker thread outlived the export"
        time.sleep(0.001)
