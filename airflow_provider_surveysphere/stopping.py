"""A stop signal that ends waits at once: how the paging tells its senders that an answer is no longer wanted.

A thread sends under its paging's stop (:func:`honoured`), so that every layer of a request (the throttle, the
retries' waits, the token renewal after a 401 and the token request's own retries) can read it
(:func:`current`) without each layer passing it on.

A :class:`threading.Event` can be waited on, but a thread waiting on something else (the throttle's
condition, which a ``Retry-After`` closes for every thread) cannot also wait on the event; :class:`Stop`
calls back whoever waits, so each wait keeps its own condition and still ends when the stop is set.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from airflow_provider_surveysphere.exceptions import SurveySpherePagingStopped

_thread = threading.local()


class Stop:
    """Set once, never cleared; the waits that honour it wake up and raise."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._wakers: list[Callable[[], None]] = []

    def set(self) -> None:
        """Stop: wake every wait registered with :meth:`waking`."""
        with self._lock:
            self._event.set()
            wakers = list(self._wakers)
        for wake in wakers:
            wake()

    def is_set(self) -> bool:
        """Whether the stop was set."""
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`SurveySpherePagingStopped` if the stop was set."""
        if self._event.is_set():
            raise SurveySpherePagingStopped()

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or until the stop is set: then raise :class:`SurveySpherePagingStopped`."""
        if self._event.wait(max(seconds, 0.0)):
            raise SurveySpherePagingStopped()

    @contextmanager
    def waking(self, wake: Callable[[], None]) -> Iterator[None]:
        """Call ``wake`` when the stop is set while the block runs (at once if it already is).

        :param wake: wakes the wait (notifies its condition); called from the thread that sets the stop
        """
        with self._lock:
            self._wakers.append(wake)
            already = self._event.is_set()
        try:
            if already:
                wake()
            yield
        finally:
            with self._lock:
                self._wakers.remove(wake)


def current() -> Stop | None:
    """The stop this thread sends under (see :func:`honoured`), None outside a paging."""
    stop: Stop | None = getattr(_thread, "stop", None)
    return stop


def check_current() -> None:
    """Raise :class:`SurveySpherePagingStopped` if this thread sends under a stop that was set."""
    stop = current()
    if stop is not None:
        stop.check()


@contextmanager
def honoured(stop: Stop) -> Iterator[None]:
    """Send this thread's requests under ``stop`` while the block runs.

    :param stop: the paging's stop signal
    """
    previous = current()
    _thread.stop = stop
    try:
        yield
    finally:
        _thread.stop = previous
