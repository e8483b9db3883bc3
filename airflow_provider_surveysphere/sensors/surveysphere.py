"""The SurveySphere sensor: wait until an endpoint's answer meets a condition (poke, reschedule or deferrable)."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, cast

from airflow.providers.common.compat.sdk import (
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)
from airflow_provider_surveysphere.conditions import ConditionSpec, compile_condition
from airflow_provider_surveysphere.exceptions import (
    SurveySphereArgumentError,
    SurveySphereClientError,
    SurveySphereError,
    SurveySpherePermanentError,
)
from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
from airflow_provider_surveysphere.intervals import backoff_past_overflow, clipped_to_deadline, poke_count_cap
from airflow_provider_surveysphere.triggers.surveysphere import SurveySphereTrigger

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


def _seconds(value: timedelta | float) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class SurveySphereTriggerError(SurveySphereError):
    """The trigger reported a transient failure (the task's retries apply)."""


class SurveySphereTriggerPermanentError(SurveySpherePermanentError):
    """The trigger reported a failure that retrying cannot fix (bad endpoint, refused credentials, ...)."""


class SurveySphereSensor(BaseSensorOperator):
    """Waits until a GET of ``endpoint`` answers JSON that meets ``condition``.

    The same condition works in every mode: ``poke`` and ``reschedule`` call the endpoint from the
    worker with :class:`SurveySphereHook`; ``deferrable=True`` hands the waiting to
    :class:`SurveySphereTrigger` in the triggerer and frees the worker slot. The matched value (see
    :class:`~airflow_provider_surveysphere.conditions.Outcome`) is the task's XCom ``return_value``.

    :param endpoint: path relative to the connection's base URL (templated)
    :param condition: a declarative condition such as ``{"key": "status", "equals": "closed"}``, a
        combination (``{"all": [...]}``/``{"any": [...]}``), an import path ``{"callable": "pkg.mod.func"}``
        (templated); or, in poke and reschedule modes only, a Python callable taking the answer's JSON
    :param query_params: query string parameters (templated)
    :param headers: extra headers (templated)
    :param pending_statuses: HTTP statuses that mean "not yet" rather than an error, such as ``(404,)``
        while the survey does not exist yet; any other 4xx fails the task at once
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``)
    :param surveysphere_conn_id: the Airflow connection to use
    :param max_retry_wait: the longest single wait between retries, ``Retry-After`` included

    ``poke_interval``, ``timeout``, ``exponential_backoff``, ``max_wait``, ``soft_fail`` and ``mode`` are
    BaseSensorOperator's and behave as there; in deferrable mode the trigger applies the same interval,
    backoff and timeout, and ``soft_fail`` skips the task on a timeout or an error event.
    """

    template_fields: Sequence[str] = ("endpoint", "condition", "query_params", "headers")
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "condition": "json", "query_params": "py", "headers": "json"
    }
    ui_color = "#e8f4fd"
    #: The least the deferral's own timeout (a backstop for a triggerer that is gone) waits past ``timeout``, so
    #: that the trigger's last check at the deadline can finish and report first (see :meth:`deferral_grace`).
    last_check_grace: float = 300.0

    def __init__(
        self,
        *,
        endpoint: str,
        condition: ConditionSpec,
        query_params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        pending_statuses: Collection[int] = (),
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        surveysphere_conn_id: str = SurveySphereHook.default_conn_name,
        max_retry_wait: float = 120.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Checked now, so that a plain callable in deferrable mode or a value of the wrong type is a DAG import
        # error, not a late surprise; a templated value is checked when the task runs, once rendered.
        compile_condition(condition, allow_plain_callable=not deferrable, templated=True)
        bad = [s for s in pending_statuses if isinstance(s, bool) or not isinstance(s, int) or not 400 <= s < 500]
        if bad:
            raise SurveySphereArgumentError("pending_statuses", f"{bad!r}: only 4xx statuses can mean 'not yet'")
        self.endpoint = endpoint
        self.condition = condition
        self.query_params = query_params
        self.headers = headers
        self.pending_statuses = frozenset(pending_statuses)
        self.deferrable = deferrable
        self.surveysphere_conn_id = surveysphere_conn_id
        self.max_retry_wait = max_retry_wait

    @cached_property
    def hook(self) -> SurveySphereHook:
        """The hook of the poke and reschedule modes."""
        return SurveySphereHook(surveysphere_conn_id=self.surveysphere_conn_id, max_retry_wait=self.max_retry_wait)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        self.defer(
            trigger=self.trigger(),
            method_name="execute_complete",
            timeout=timedelta(seconds=self._timeout_seconds() + self.deferral_grace()),
        )

    def deferral_grace(self) -> float:
        """Seconds the deferral's timeout waits past ``timeout``: the longest the trigger's last poll may take.

        At least :attr:`last_check_grace`, and enough for a last poll whose token request and GET each use
        every retry: each attempt waiting the connection's ``timeout``, each wait between them ``max_retry_wait``.
        A shorter backstop would end the task as timed out while its last poll is still retrying.
        """
        settings = self.hook.settings
        one_request = (settings.max_retries + 1) * settings.timeout + settings.max_retries * self.max_retry_wait
        return max(self.last_check_grace, 2 * one_request)

    def _timeout_seconds(self) -> float:
        return _seconds(self.timeout)

    def _get_next_poke_interval(
        self, started_at: Any, run_duration: Callable[[], float], poke_count: int
    ) -> float:
        """Airflow's interval (backoff with jitter) under the rules of :mod:`~airflow_provider_surveysphere.intervals`.

        The poke count is capped where the backoff already reaches its cap (Airflow's ``2 ** poke_count``
        overflows a float after 1,025 pokes), and the wait ends at the deadline, so that the last poke is
        made there, as the trigger's last poll is.
        """
        timeout = self._timeout_seconds()
        remaining = timeout - run_duration()
        if remaining <= 0:
            # The last poke was made at the deadline itself; Airflow's loop times out only past it.
            message = f"Sensor has timed out: the condition did not hold at the deadline, {timeout} s after the start."
            if self.soft_fail:
                raise AirflowSkipException(message)
            raise AirflowSensorTimeout(message)
        max_wait = _seconds(self.max_wait) if self.max_wait else None
        poke_count = min(poke_count, poke_count_cap(_seconds(self.poke_interval), timeout, max_wait))
        try:
            wait = super()._get_next_poke_interval(started_at, run_duration, poke_count)
        except OverflowError:
            # Reschedule mode: Airflow re-estimates the poke count from the time elapsed, ignoring the cap
            # above, and with a poke_interval of 0 that estimate passes 1,025 after some 25 minutes.
            wait = backoff_past_overflow(_seconds(self.poke_interval), max_wait)
        return clipped_to_deadline(wait, remaining)

    def trigger(self) -> SurveySphereTrigger:
        """The trigger that waits in deferrable mode, with the sensor's interval, backoff and timeout."""
        max_wait = self.max_wait
        return SurveySphereTrigger(
            endpoint=self.endpoint,
            # a Mapping: __init__ refused a plain callable in deferrable mode
            condition=cast("Mapping[str, Any]", self.condition),
            surveysphere_conn_id=self.surveysphere_conn_id,
            query_params=self.query_params,
            headers=self.headers,
            poke_interval=_seconds(self.poke_interval),
            exponential_backoff=self.exponential_backoff,
            max_wait=_seconds(max_wait) if max_wait else None,
            deadline=time.time() + self._timeout_seconds(),
            pending_statuses=sorted(self.pending_statuses),
            max_retry_wait=self.max_retry_wait,
        )

    def poke(self, context: Context) -> PokeReturnValue:
        condition = compile_condition(self.condition, allow_plain_callable=True)
        try:
            response = self.hook.request("GET", self.endpoint, params=self.query_params, headers=self.headers)
        except SurveySphereClientError as exc:
            if exc.http_status in self.pending_statuses:
                self.log.info("%s answered %s, which means not yet", self.endpoint, exc.http_status)
                return PokeReturnValue(is_done=False)
            raise
        try:
            body = response.json()
        except ValueError:
            raise SurveySphereArgumentError(
                "endpoint",
                f"{self.endpoint} answered {response.headers.get('Content-Type', 'no content type')}, not JSON",
            ) from None
        outcome = condition.evaluate(body)
        self.log.info("The condition %s on %s", "holds" if outcome.met else "does not hold yet", self.endpoint)
        return PokeReturnValue(is_done=outcome.met, xcom_value=outcome.value if outcome.met else None)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired: return the matched value, or fail clearly."""
        if not isinstance(event, dict) or "status" not in event:
            message = f"the trigger of {self.task_id} sent no usable event: {event!r}"
            raise SurveySphereTriggerPermanentError(message[:300])
        status = event["status"]
        polls = event.get("polls")
        if status == "success":
            self.log.info("Resumed from the trigger: the condition holds on %s after %s poll(s)", self.endpoint, polls)
            return event.get("value")
        message = str(event.get("message") or "no message")
        if status == "timeout":
            raise AirflowSensorTimeout(f"Sensor {self.task_id} timed out: {message}")
        if status == "error":
            error = SurveySphereTriggerPermanentError if event.get("permanent") else SurveySphereTriggerError
            raise error(f"Sensor {self.task_id}: the trigger failed after {polls} poll(s): {message}")
        raise SurveySphereTriggerPermanentError(f"the trigger of {self.task_id} sent an unknown status {status!r}")
