"""Triggers: the deferrable half of :class:`SurveySphereSensor`, and a watcher of new records for assets.

Both run in the triggerer's event loop and poll with :class:`SurveySphereAsyncClient` (httpx): one token
per trigger run however many polls, the hook's retry and ``Retry-After`` rules. Their kwargs are
JSON-safe (strings, numbers, booleans, lists and dicts of them), as ``airflow.sdk.serde`` (Airflow 3.2+)
and ``BaseSerialization`` (2.11) require.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from airflow.providers.common.compat.triggers import BaseEventTrigger
from airflow.triggers.base import BaseTrigger, TriggerEvent
from airflow_provider_surveysphere.async_client import Sleep, SurveySphereAsyncClient, load_settings
from airflow_provider_surveysphere.conditions import compile_condition, jsonable, lookup
from airflow_provider_surveysphere.exceptions import (
    SurveySphereClientError,
    SurveySphereError,
    SurveySpherePermanentError,
)
from airflow_provider_surveysphere.intervals import clipped_to_deadline, next_interval

DEFAULT_CONN_ID = "surveysphere_default"


class _PollingTrigger:
    """What both triggers share: their client, and the seams tests replace (sleep, clocks, transport)."""

    surveysphere_conn_id: str
    max_retry_wait: float
    #: Replaced in tests: awaited between polls and retries; the wall clock of deadlines; the monotonic
    #: clock of token expiry; the HTTP transport.
    sleep: Sleep = staticmethod(asyncio.sleep)  # type: ignore[assignment, unused-ignore]
    wall_clock: Callable[[], float] = staticmethod(time.time)  # type: ignore[assignment, unused-ignore]
    clock: Callable[[], float] = staticmethod(time.monotonic)  # type: ignore[assignment, unused-ignore]
    transport: Any = None

    async def client(self) -> SurveySphereAsyncClient:
        settings = await load_settings(self.surveysphere_conn_id)
        # Built in a thread: httpx loads the CA bundle into an SSL context when a client is created,
        # a blocking read of a few hundred milliseconds the triggerer's event loop must not wait for.
        return await asyncio.to_thread(
            SurveySphereAsyncClient,
            settings, max_retry_wait=self.max_retry_wait, sleep=self.sleep, clock=self.clock, transport=self.transport,
        )


def error_event(exc: BaseException, polls: int) -> TriggerEvent:
    """An error event: the message (never a secret: the provider's errors hold none) and whether to retry."""
    return TriggerEvent(
        {
            "status": "error",
            "message": str(exc) if isinstance(exc, SurveySphereError) else f"{type(exc).__name__}: {exc}",
            "permanent": isinstance(exc, SurveySpherePermanentError),
            "polls": polls,
        }
    )


class SurveySphereTrigger(_PollingTrigger, BaseTrigger):
    """Polls an endpoint until a declarative condition holds, then fires one event.

    Events: ``{"status": "success", "value": <matched value>, "polls": n}``, ``{"status": "timeout", ...}``
    once ``deadline`` passes, or ``{"status": "error", "message": ..., "permanent": bool, ...}``.

    :param endpoint: path relative to the connection's base URL
    :param condition: a declarative condition (see :mod:`airflow_provider_surveysphere.conditions`)
    :param surveysphere_conn_id: the Airflow connection
    :param query_params: query string parameters
    :param headers: extra headers
    :param poke_interval: seconds between polls
    :param exponential_backoff: double the interval after each poll
    :param max_wait: the longest interval between polls (with ``exponential_backoff``)
    :param deadline: wall-clock time (epoch seconds) of the last poll; a timeout event fires when the condition
        does not hold then; None waits forever
    :param pending_statuses: statuses that mean "not yet" (such as 404 while a resource does not exist)
    :param max_retry_wait: the longest single wait between retries, ``Retry-After`` included
    """

    def __init__(
        self,
        *,
        endpoint: str,
        condition: Mapping[str, Any],
        surveysphere_conn_id: str = DEFAULT_CONN_ID,
        query_params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        poke_interval: float = 60.0,
        exponential_backoff: bool = False,
        max_wait: float | None = None,
        deadline: float | None = None,
        pending_statuses: Sequence[int] = (),
        max_retry_wait: float = 120.0,
    ) -> None:
        super().__init__()
        compile_condition(condition)  # refuses a plain callable here too: it could not be serialized
        self.endpoint = endpoint
        self.condition = jsonable(condition)
        self.surveysphere_conn_id = surveysphere_conn_id
        self.query_params = jsonable(query_params) if query_params else None
        self.headers = dict(headers) if headers else None
        self.poke_interval = float(poke_interval)
        self.exponential_backoff = bool(exponential_backoff)
        self.max_wait = float(max_wait) if max_wait else None
        self.deadline = float(deadline) if deadline is not None else None
        self.pending_statuses = sorted(int(s) for s in pending_statuses)
        self.max_retry_wait = float(max_retry_wait)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "endpoint": self.endpoint,
                "condition": self.condition,
                "surveysphere_conn_id": self.surveysphere_conn_id,
                "query_params": self.query_params,
                "headers": self.headers,
                "poke_interval": self.poke_interval,
                "exponential_backoff": self.exponential_backoff,
                "max_wait": self.max_wait,
                "deadline": self.deadline,
                "pending_statuses": self.pending_statuses,
                "max_retry_wait": self.max_retry_wait,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        polls = 0
        try:
            condition = compile_condition(self.condition)
            async with await self.client() as client:
                while True:
                    polls += 1
                    try:
                        body = await client.get_json(self.endpoint, params=self.query_params, headers=self.headers)
                    except SurveySphereClientError as exc:
                        if exc.http_status not in self.pending_statuses:
                            raise
                        self.log.info(
                            "Poll %d: %s answered %s, which means not yet", polls, self.endpoint, exc.http_status
                        )
                    else:
                        outcome = condition.evaluate(body)
                        if outcome.met:
                            self.log.info("Poll %d: the condition holds on %s", polls, self.endpoint)
                            yield TriggerEvent({"status": "success", "value": outcome.value, "polls": polls,
                                                "tokens": client.tokens_fetched})
                            return
                        self.log.info("Poll %d: the condition does not hold yet on %s", polls, self.endpoint)
                    wait = next_interval(self.poke_interval, polls, self.exponential_backoff, self.max_wait)
                    if self.deadline is not None:
                        # The poke loop's rule (intervals.py): the last check is made at the deadline itself.
                        remaining = self.deadline - self.wall_clock()
                        if remaining <= 0:
                            message = f"the condition did not hold on {self.endpoint} by the timeout ({polls} polls)"
                            yield TriggerEvent({"status": "timeout", "polls": polls, "message": message})
                            return
                        wait = clipped_to_deadline(wait, remaining)
                    await self.sleep(wait)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes an event the task can act on
            yield error_event(exc, polls)


class SurveySphereNewRecordsTrigger(_PollingTrigger, BaseEventTrigger):
    """Fires when a watermark at an endpoint moves: a wake-up signal for event-driven DAGs (Airflow 3.0+).

    The watermark is the value at a dotted key of the endpoint's answer: a total count (``"totalCount"``),
    or the newest record's submission time. The trigger remembers only the last value it saw, in memory:
    after a triggerer restart it fires once for the current value when ``fire_on_start`` is set (it cannot
    know what the export already has), then on every change. Wake-ups are therefore at least once; the
    export keeps its own high-water mark and writes each record exactly once (see docs/waiting.md).

    On Airflow 2.11 the class imports (it is a plain ``BaseTrigger`` there) but nothing can watch it.

    :param endpoint: path relative to the connection's base URL
    :param watermark_key: dotted key of the watermark in the answer
    :param surveysphere_conn_id: the Airflow connection
    :param query_params: query string parameters (``{"pageSize": 1}`` keeps the answer small)
    :param poll_interval: seconds between polls
    :param fire_on_start: fire for the first value seen (after a start or restart) when it is not empty
    :param max_retry_wait: the longest single wait between retries, ``Retry-After`` included
    """

    def __init__(
        self,
        *,
        endpoint: str,
        watermark_key: str,
        surveysphere_conn_id: str = DEFAULT_CONN_ID,
        query_params: Mapping[str, Any] | None = None,
        poll_interval: float = 60.0,
        fire_on_start: bool = True,
        max_retry_wait: float = 120.0,
    ) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.watermark_key = watermark_key
        self.surveysphere_conn_id = surveysphere_conn_id
        self.query_params = jsonable(query_params) if query_params else None
        self.poll_interval = float(poll_interval)
        self.fire_on_start = bool(fire_on_start)
        self.max_retry_wait = float(max_retry_wait)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "endpoint": self.endpoint,
                "watermark_key": self.watermark_key,
                "surveysphere_conn_id": self.surveysphere_conn_id,
                "query_params": self.query_params,
                "poll_interval": self.poll_interval,
                "fire_on_start": self.fire_on_start,
                "max_retry_wait": self.max_retry_wait,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        seen: Any = _UNSEEN
        polls = 0
        async with await self.client() as client:
            while True:
                polls += 1
                try:
                    body = await client.get_json(self.endpoint, params=self.query_params)
                except SurveySpherePermanentError:
                    raise  # a wrong endpoint or credentials: the triggerer logs it and restarts the watcher
                except SurveySphereError as exc:
                    self.log.warning("Poll %d of %s failed, trying again later: %s", polls, self.endpoint, exc)
                else:
                    value = lookup(body, self.watermark_key, None)
                    empty = value in (None, 0, "", [], {})
                    if seen is _UNSEEN:
                        if self.fire_on_start and not empty:
                            yield self._event(value, polls, "start")
                    elif value != seen and not empty:
                        yield self._event(value, polls, "change")
                    seen = value
                await self.sleep(self.poll_interval)

    def _event(self, value: Any, polls: int, reason: str) -> TriggerEvent:
        self.log.info("%s: %s is now %r (%s); waking the export", self.endpoint, self.watermark_key, value, reason)
        return TriggerEvent({"endpoint": self.endpoint, "watermark_key": self.watermark_key, "watermark": value,
                             "reason": reason, "polls": polls})


_UNSEEN = object()

