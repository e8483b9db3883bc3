"""One throttle per hook, shared by every thread that sends through it: one 429 slows everyone.

Two rules, both applied before any request leaves (a first attempt or a retry):

* **Retry-After is a gate.** When any answer carries ``Retry-After``, no thread sends again before it
  has passed: not the thread that got the answer, and not the others.
* **Concurrency backs off on 429 and recovers gradually** (AIMD, additive increase and multiplicative
  decrease, as TCP does). A 429 halves the number of requests allowed in flight, once per "window"
  (the 429s of requests sent before that decrease are the same signal, not new ones, but each tells
  that the server took one request fewer: the level it refused is lowered by one); every ``limit``
  successes add one back, up to just below the level that was refused. Past it, a probe costs
  every thread the server's ``Retry-After`` when it fails, so one more slot is tried only after
  ``PROBE_SUCCESSES`` successes and ``PROBE_COST_RATIO`` times the last ``Retry-After`` since the last
  429: a server that holds its limit costs at most about 5% of the time in probes.

With one thread (sequential paging) the throttle only waits out ``Retry-After``, as urllib3 would.

A thread that sends under :meth:`Throttle.honouring` a :class:`~airflow_provider_surveysphere.stopping.Stop`
(the paging's) sends no attempt once the stop is set, and every wait it is in (the gate, the limit, the backoff
between retries) ends at once with :class:`~airflow_provider_surveysphere.exceptions.SurveySpherePagingStopped`.
No library offers a gate shared across threads with an adaptive limit over a requests session, hence
this small class; the retries themselves stay urllib3's (see :mod:`airflow_provider_surveysphere.session`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

from airflow_provider_surveysphere import stopping

if TYPE_CHECKING:
    from airflow_provider_surveysphere.stopping import Stop

#: Past the level a server refused, add one slot only after this many successes in a row...
PROBE_SUCCESSES = 100
#: ...and only this many times the last ``Retry-After`` after the last 429 (a failed probe closes the gate for
#: every thread that long).
PROBE_COST_RATIO = 20


class Throttle:
    """A ``Retry-After`` gate and an adaptive concurrency limit shared by threads.

    :param clock: monotonic clock, replaceable in tests
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._condition = threading.Condition()
        self._local = threading.local()
        self._open_at = 0.0
        self._limit: int | None = None  # None: as many as the callers send
        self._refused_at: int | None = None
        self._in_use = 0
        self._epoch = 0
        self._successes = 0
        self._probe_at = 0.0  # no probe past the refused level before this time
        #: 429 answers seen (each one, retried or not)
        self.rate_limited = 0

    @property
    def limit(self) -> int | None:
        """Requests allowed in flight now; None until the first 429."""
        return self._limit

    def _wake(self) -> None:
        with self._condition:
            self._condition.notify_all()

    def _stop_of_thread(self, stack: ExitStack) -> Stop | None:
        """This thread's stop, registered in ``stack`` to wake the condition; call with the condition held."""
        stop: Stop | None = stopping.current()
        if stop is not None:
            stack.enter_context(stop.waking(self._wake))
        return stop

    def _wait_turn(self) -> None:
        """Block until the gate is open and a slot is free; call with the condition held."""
        with ExitStack() as stack:
            stop = self._stop_of_thread(stack)
            while True:
                if stop is not None:
                    stop.check()
                wait = self._open_at - self.clock()
                if wait > 0:
                    self._condition.wait(wait)
                elif self._limit is not None and self._in_use >= self._limit:
                    self._condition.wait()
                else:
                    return

    @contextmanager
    def honouring(self, stop: Stop) -> Iterator[None]:
        """Send this thread's requests under ``stop``: once it is set, no attempt leaves and every wait ends.

        :param stop: the paging's stop signal
        """
        with stopping.honoured(stop):
            yield

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` before a retry (the backoff); a stop set meanwhile ends the wait and raises."""
        stop: Stop | None = stopping.current()
        if stop is None:
            time.sleep(max(seconds, 0.0))
            return
        with self._condition, stop.waking(self._wake):
            deadline = time.monotonic() + seconds
            while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
                self._condition.wait(left)
        stop.check()

    def acquire(self) -> None:
        """Take a slot: wait for the gate and the limit."""
        with self._condition:
            self._wait_turn()
            self._in_use += 1
            self._local.epoch = self._epoch
        self._local.held = getattr(self._local, "held", 0) + 1

    def release(self, *, success: bool) -> None:
        """Give the slot back; a success counts towards raising the limit again."""
        self._local.held -= 1
        with self._condition:
            self._in_use -= 1
            if success and self._limit is not None:
                self._successes += 1
                if self._refused_at is None or self._limit + 1 < self._refused_at:
                    grow = self._successes >= self._limit
                else:  # a probe
                    grow = self._successes >= PROBE_SUCCESSES and self.clock() >= self._probe_at
                if grow:
                    self._limit += 1
                    self._successes = 0
            self._condition.notify_all()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot while one request (with its retries) is sent."""
        self.acquire()
        held = self._local.held
        success = False
        try:
            yield
            success = True
        finally:
            # A stop while waiting to retry leaves the slot given back (released() could not take it again).
            if self._local.held == held:
                self.release(success=success)

    def answered(self, status: int, retry_after: float | None) -> None:
        """Learn from an answer about to be retried: close the gate, back off on 429.

        :param status: the answer's status
        :param retry_after: its ``Retry-After`` in seconds, if any
        """
        with self._condition:
            if retry_after:
                self._open_at = max(self._open_at, self.clock() + retry_after)
            if status == 429:
                self.rate_limited += 1
                if retry_after:
                    self._probe_at = max(self._probe_at, self.clock() + PROBE_COST_RATIO * retry_after)
                if getattr(self._local, "epoch", self._epoch) == self._epoch:
                    # The first 429 of requests sent under the current limit: halve it.
                    self._refused_at = self._in_use
                    self._limit = max(1, self._in_use // 2)
                    self._successes = 0
                    self._epoch += 1
                elif self._refused_at is not None:
                    # Another request of the same round refused: the server took one fewer than thought.
                    self._refused_at = max(2, self._refused_at - 1)
                    self._limit = max(1, min(self._limit or 1, self._refused_at - 1))
            self._condition.notify_all()

    @contextmanager
    def released(self) -> Iterator[None]:
        """Give up this thread's slot while it waits to retry, then take one again (gate and limit)."""
        held = getattr(self._local, "held", 0) > 0
        if held:
            self.release(success=False)
        try:
            yield
        finally:
            if held:
                self.acquire()
            else:
                with self._condition:
                    self._wait_turn()
