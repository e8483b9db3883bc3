"""How long a sensor waits between checks, in both modes: capped without overflow, and clipped to the deadline.

One rule for the final interval in every mode: when the next interval would pass the deadline, the wait is
cut short at the deadline and the condition is checked once more there (the last check); only if it does not
hold then does the sensor time out.
"""

from __future__ import annotations

import math
from datetime import timedelta

#: The longest wait either mode ever computes: Airflow's own bound for a backoff (a ``timedelta``'s range).
MAX_INTERVAL = timedelta.max.total_seconds() - 1

#: The shortest wait of a backoff: Airflow's poke loop never waits less than a second between backed-off pokes
#: (``max(int(...), 1)``), even for ``poke_interval=0``; only ``max_wait`` may ask for less.
MIN_BACKOFF = 1.0

#: Beyond this many doublings ``2 ** n`` no longer converts to a float (Airflow's poke-mode formula).
_MAX_DOUBLINGS = 1000


def next_interval(poke_interval: float, polls: int, exponential_backoff: bool, max_wait: float | None) -> float:
    """Seconds until the trigger's next poll: ``poke_interval``, or doubling after each poll up to ``max_wait``.

    A backoff waits at least :data:`MIN_BACKOFF` (unless ``max_wait`` is shorter), as poke mode does: a
    ``poke_interval`` of 0 does not make the triggerer poll the API without a pause.

    Any number of polls works: the doubling stops counting once it has passed the cap, so ``2 ** polls`` is never
    computed (it outgrows a float after 1,024 doublings, seven days into a 60-second backoff capped at a minute).

    :param poke_interval: seconds between polls, the first interval of a backoff
    :param polls: polls made so far (1 after the first)
    :param exponential_backoff: double the interval after each poll
    :param max_wait: the longest interval of a backoff, None for no cap but :data:`MAX_INTERVAL`
    """
    if not exponential_backoff:
        return min(poke_interval, MAX_INTERVAL)  # max_wait caps a backoff only, as in Airflow's poke loop
    cap = min(max_wait, MAX_INTERVAL) if max_wait else MAX_INTERVAL
    if polls <= 1 or poke_interval <= 0:
        return min(max(poke_interval, MIN_BACKOFF), cap)
    # log2 of each side separately: their quotient can overflow for a tiny poke_interval, the difference cannot.
    doublings_to_cap = math.ceil(math.log2(cap) - math.log2(poke_interval))
    return min(max(math.ldexp(poke_interval, min(polls - 1, max(doublings_to_cap, 0))), MIN_BACKOFF), cap)


def poke_count_cap(poke_interval: float, timeout: float, max_wait: float | None) -> int:
    """The poke count past which Airflow's poke-mode backoff (``poke_interval * 2 ** (n - 2)``) is capped anyway.

    Passing ``min(poke_count, this)`` to Airflow's formula gives the same interval without its overflow.

    :param poke_interval: the sensor's ``poke_interval`` in seconds
    :param timeout: the sensor's ``timeout`` in seconds (Airflow caps an interval at the time left)
    :param max_wait: the sensor's ``max_wait`` in seconds, or None
    """
    cap = max(min(MAX_INTERVAL, timeout, max_wait or MAX_INTERVAL), 1.0)  # Airflow's floor is one second
    if poke_interval <= 0:
        return 2  # the interval stays at Airflow's floor of one second
    # one more doubling than needed: Airflow's jitter is drawn from [interval, 2 * interval)
    doublings = math.ceil(math.log2(cap) - math.log2(poke_interval)) + 1
    return 2 + min(max(doublings, 0), _MAX_DOUBLINGS)


def backoff_past_overflow(poke_interval: float, max_wait: float | None) -> float:
    """The backoff interval once Airflow's ``poke_interval * 2 ** n`` has overflowed (past 1,025 doublings).

    By then the doubled interval is past any cap, unless ``poke_interval`` is 0 (or below the smallest normal
    float), which never grows past Airflow's floor of :data:`MIN_BACKOFF`.

    :param poke_interval: the sensor's ``poke_interval`` in seconds
    :param max_wait: the sensor's ``max_wait`` in seconds, or None
    """
    cap = min(max_wait, MAX_INTERVAL) if max_wait else MAX_INTERVAL
    return min(MIN_BACKOFF if poke_interval < 2.0**-1022 else MAX_INTERVAL, cap)


def clipped_to_deadline(wait: float, remaining: float) -> float:
    """The wait before the next check: never past the deadline, so that the last check happens at the deadline.

    :param wait: the interval the backoff asks for
    :param remaining: seconds left until the deadline (negative once it has passed)
    """
    return max(0.0, min(wait, remaining))
