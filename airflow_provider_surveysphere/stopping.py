"""A stop signal that ends waits at once: how the paging tells its senders that an answer is no longer wanted.

A :class:`threading.Event` can be waited on, but a thread waiting on something else (the throttle's
condition, which a ``Retry-After`` closes for every thread) cannot also wait on the event; :class:`Stop`
calls back whoever waits, so each wait keeps its own condition and still ends when the stop is set.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from airflow_provider_surveysphere.exceptions import SurveySpherePagingStopped


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
