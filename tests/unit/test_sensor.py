"""SurveySphereSensor: the same condition in poke and deferrable modes; deferral really hands over to the trigger."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from airflow.providers.common.compat.sdk import AirflowSensorTimeout, TaskDeferred
from airflow_provider_surveysphere.exceptions import (
    SurveySphereArgumentError,
    SurveySphereClientError,
    SurveySpherePermanentError,
)
from airflow_provider_surveysphere.sensors.surveysphere import (
    SurveySphereSensor,
    SurveySphereTriggerError,
    SurveySphereTriggerPermanentError,
)
from airflow_provider_surveysphere.triggers.surveysphere import SurveySphereTrigger

from tests.unit.conftest import BASE_URL

SURVEY = f"{BASE_URL}/api/v1/surveys/srv-0001"
CLOSED = {"key": "status", "equals": "closed"}


def sensor(hook=None, **kwargs) -> SurveySphereSensor:
    kwargs.setdefault("condition", CLOSED)
    kwargs.setdefault("endpoint", "api/v1/surveys/srv-0001")
    s = SurveySphereSensor(task_id="wait", **kwargs)
    if hook is not None:
        s.hook = hook
    return s


def test_poke_returns_the_matched_value_once_the_condition_holds(hook, mocked_api):
    mocked_api.get(SURVEY, json={"status": "open"})
    mocked_api.get(SURVEY, json={"status": "closed", "totalCount": 3})
    s = sensor(hook)
    assert s.poke({}).is_done is False
    result = s.poke({})
    assert result.is_done and result.xcom_value == "closed"


def test_poke_accepts_a_plain_callable(hook, mocked_api):
    mocked_api.get(SURVEY, json={"status": "closed", "totalCount": 3})
    s = sensor(hook, condition=lambda body: body["totalCount"] >= 3 and body["totalCount"])
    assert s.poke({}).xcom_value == 3


def test_deferrable_refuses_a_plain_callable_when_the_dag_is_parsed():
    with pytest.raises(SurveySphereArgumentError, match="does not work with deferrable=True; use a declarative"):
        sensor(condition=lambda body: True, deferrable=True)


def test_404_is_a_permanent_error_unless_allowlisted(hook, mocked_api):
    mocked_api.get(SURVEY, status=404, json={"error": "not_found"})
    with pytest.raises(SurveySphereClientError, match="answered 404") as caught:
        sensor(hook).poke({})
    assert isinstance(caught.value, SurveySpherePermanentError)
    assert sensor(hook, pending_statuses=(404,)).poke({}).is_done is False
    with pytest.raises(SurveySphereArgumentError, match="only 4xx"):
        sensor(pending_statuses=(500,))


def test_poke_mode_runs_the_airflow_sensor_loop_and_times_out(hook, mocked_api):
    mocked_api.get(SURVEY, json={"status": "open"})
    s = sensor(hook, poke_interval=0, timeout=0)
    with pytest.raises(AirflowSensorTimeout):
        s.execute({})


def test_deferrable_mode_defers_at_once_without_poking(set_connection, mocked):
    s = sensor(deferrable=True, poke_interval=7, timeout=600, exponential_backoff=True, max_wait=60,
               pending_statuses=(404,), query_params={"fields": "status"})
    before = time.time()
    with pytest.raises(TaskDeferred) as caught:
        s.execute({})
    assert len(mocked.calls) == 0  # no request from the worker: waiting is the trigger's job
    deferral = caught.value
    assert deferral.method_name == "execute_complete"
    # the deferral's own timeout is a backstop past the trigger's deadline, so that the last check can report
    assert deferral.timeout.total_seconds() == 600 + s.deferral_grace()
    trigger = deferral.trigger
    assert isinstance(trigger, SurveySphereTrigger)
    _, kwargs = trigger.serialize()
    assert kwargs["condition"] == CLOSED and kwargs["pending_statuses"] == [404]
    assert kwargs["poke_interval"] == 7 and kwargs["exponential_backoff"] is True and kwargs["max_wait"] == 60
    assert before + 600 <= kwargs["deadline"] <= time.time() + 600
    assert kwargs["query_params"] == {"fields": "status"}


def test_deferral_resumes_with_the_triggers_event(set_connection):
    """Defer, run the deferred trigger (against a scripted API), resume: the value reaches XCom."""
    s = sensor(deferrable=True, poke_interval=1)
    with pytest.raises(TaskDeferred) as caught:
        s.execute({})
    answers = iter([{"status": "open"}, {"status": "closed"}])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/connect/token":
            return httpx.Response(200, json={"access_token": "t", "token_type": "Bearer", "expires_in": 3600})
        return httpx.Response(200, json=next(answers))

    async def no_sleep(seconds: float) -> None:
        pass

    trigger = caught.value.trigger
    trigger.transport, trigger.sleep = httpx.MockTransport(handler), no_sleep

    async def first_event():
        async for event in trigger.run():
            return event

    event = asyncio.run(first_event())
    assert getattr(s, caught.value.method_name)({}, event=event.payload) == "closed"


@pytest.mark.parametrize(
    ("event", "error", "message"),
    [
        ({"status": "error", "message": "SurveySphere API GET /x answered 403", "permanent": True, "polls": 1},
         SurveySphereTriggerPermanentError, "the trigger failed after 1 poll(s): SurveySphere API GET /x answered 403"),
        ({"status": "error", "message": "SurveySphere API GET /x answered 503", "permanent": False, "polls": 4},
         SurveySphereTriggerError, "answered 503"),
        ({"status": "timeout", "message": "the condition did not hold", "polls": 9}, AirflowSensorTimeout, "timed out"),
        (None, SurveySphereTriggerPermanentError, "sent no usable event"),
        ({"status": "weird"}, SurveySphereTriggerPermanentError, "unknown status 'weird'"),
    ],
)
def test_execute_complete_fails_clearly_on_anything_but_success(event, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        sensor(deferrable=True).execute_complete({}, event=event)
    if error is SurveySphereTriggerError:
        assert not isinstance(caught.value, SurveySpherePermanentError)  # the task's retries apply


def test_soft_fail_skips_on_a_timeout_event():
    from airflow.providers.common.compat.sdk import AirflowSkipException

    s = sensor(deferrable=True, soft_fail=True)
    with pytest.raises(AirflowSkipException):
        s.resume_execution("execute_complete", {"event": {"status": "timeout", "message": "m", "polls": 2}}, {})


def test_templated_fields_render_including_the_condition(set_connection):
    s = sensor(endpoint="api/v1/surveys/{{ params.survey }}",
               condition={"key": "totalCount", "at_least": "{{ params.n }}"},
               query_params={"since": "{{ ds }}"}, deferrable=True)
    assert set(s.template_fields) == {"endpoint", "condition", "query_params", "headers"}
    s.render_template_fields({"params": {"survey": "srv-0002", "n": 500}, "ds": "2026-11-02"})
    assert s.endpoint == "api/v1/surveys/srv-0002"
    assert s.condition == {"key": "totalCount", "at_least": "500"}
    assert s.query_params == {"since": "2026-11-02"}
    with pytest.raises(TaskDeferred) as caught:
        s.execute({})
    assert caught.value.trigger.serialize()[1]["condition"] == {"key": "totalCount", "at_least": "500"}


# -- the intervals of both modes: any number of polls, and the same last check at the deadline ----------------


class FakeTime:
    """A monotonic clock that moves only when the sensor loop sleeps (patched into ``time``)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(time, "monotonic", fake.monotonic)
    monkeypatch.setattr(time, "sleep", fake.sleep)
    return fake


def test_poke_mode_survives_any_number_of_pokes_with_exponential_backoff(fake_time, monkeypatch):
    """Airflow's own backoff computes ``poke_interval * 2 ** n`` and overflows a float at poke 1,026."""
    from airflow.providers.common.compat.sdk import PokeReturnValue

    s = sensor(poke_interval=60, exponential_backoff=True, max_wait=60, timeout=14 * 24 * 3600)
    pokes: list[float] = []

    def poke(context):
        pokes.append(fake_time.now)
        return PokeReturnValue(is_done=len(pokes) == 3000, xcom_value="closed")

    monkeypatch.setattr(s, "poke", poke)
    assert s.execute({}) == "closed"
    assert len(pokes) == 3000
    assert max(fake_time.sleeps) == 60 and fake_time.sleeps[-1000:] == [60] * 1000


def run_trigger(trigger, start: float) -> tuple[dict, list[float]]:
    """Run a trigger against an API that always answers "open", on a fake wall clock starting at ``start``."""
    now = [start]
    polls: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/connect/token":
            return httpx.Response(200, json={"access_token": "t", "token_type": "Bearer", "expires_in": 10**9})
        polls.append(now[0])
        return httpx.Response(200, json={"status": "open"})

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    trigger.transport, trigger.sleep, trigger.wall_clock = httpx.MockTransport(handler), sleep, lambda: now[0]

    async def first_event():
        async for event in trigger.run():
            return event.payload

    return asyncio.run(asyncio.wait_for(first_event(), 20)), polls


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"poke_interval": 10, "timeout": 25}, [0, 10, 20, 25]),  # the last interval ends at the deadline
        ({"poke_interval": 10, "timeout": 30}, [0, 10, 20, 30]),  # a poll due at the deadline is the last check
        ({"poke_interval": 60, "timeout": 25}, [0, 25]),
        ({"poke_interval": 10, "timeout": 0}, [0]),
    ],
    ids=["cut short", "due at the deadline", "one interval past", "no time"],
)
def test_both_modes_make_their_last_check_at_the_deadline(hook, mocked_api, fake_time, mode, kwargs, expected):
    if mode == "poke":
        mocked_api.get(SURVEY, json={"status": "open"})
        s = sensor(hook, **kwargs)
        pokes: list[float] = []
        poke = s.poke
        s.poke = lambda context: (pokes.append(fake_time.now - 1000), poke(context))[1]
        with pytest.raises(AirflowSensorTimeout):
            s.execute({})
    else:
        with pytest.raises(TaskDeferred) as caught:
            sensor(deferrable=True, **kwargs).execute({})
        trigger = caught.value.trigger
        event, polls = run_trigger(trigger, start=trigger.deadline - kwargs["timeout"])
        assert event["status"] == "timeout" and event["polls"] == len(expected)
        pokes = [t - polls[0] for t in polls]
    assert pokes == expected


def test_a_condition_value_of_the_wrong_type_fails_when_the_dag_is_parsed():
    with pytest.raises(SurveySphereArgumentError, match="'exists' for key 'closed_at' needs true or false, got str 'maybe'"):
        sensor(condition={"key": "closed_at", "exists": "maybe"})


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_a_templated_condition_value_is_checked_once_rendered(hook, mocked_api, deferrable):
    mocked_api.get(SURVEY, json={"status": "open"})
    condition = {"key": "closed_at", "exists": "{{ params.closed }}"}
    s = sensor(hook, condition=condition, deferrable=deferrable)  # parsed: the template is not judged yet
    s.render_template_fields({"params": {"closed": False}})
    assert s.condition == {"key": "closed_at", "exists": "False"}
    if deferrable:
        with pytest.raises(TaskDeferred) as caught:
            s.execute({})
        assert caught.value.trigger.serialize()[1]["condition"] == {"key": "closed_at", "exists": "False"}
    else:
        assert s.poke({}).is_done is True  # closed_at is absent, as "False" asks (bool("False") would wait)
    s = sensor(hook, condition=condition, deferrable=deferrable)
    s.render_template_fields({"params": {"closed": "perhaps"}})
    with pytest.raises(SurveySphereArgumentError, match="'exists' for key 'closed_at' needs true or false, got str 'perhaps'"):
        s.execute({})


@pytest.mark.parametrize(("poke_interval", "max_wait", "expected"), [(0, None, 1.0), (0.0, 0.5, 0.5), (1e-300, None, 1.0)])
def test_reschedule_mode_with_backoff_survives_hours_of_one_second_pokes(poke_interval, max_wait, expected):
    """Reschedule mode re-estimates the poke count from the time elapsed (ignoring any cap on it): with a
    poke_interval of 0, Airflow's 1 s floor keeps every interval short, the estimate passes 1,025 pokes within
    half an hour, and ``2 ** n`` overflowed a float there (OverflowError at every later reschedule)."""
    from datetime import datetime, timedelta, timezone

    s = sensor(mode="reschedule", poke_interval=poke_interval, exponential_backoff=True, max_wait=max_wait,
               timeout=7 * 24 * 3600)
    started = datetime.now(timezone.utc) - timedelta(hours=2)
    assert s._get_next_poke_interval(started, lambda: 7200.0, 5) == expected


@pytest.mark.parametrize(("extra", "max_retry_wait", "grace"), [
    ({"timeout": 60, "max_retries": 5}, 120.0, 2 * (6 * 60 + 5 * 120)),  # the defaults: 32 minutes
    ({"timeout": 1, "max_retries": 0}, 120.0, SurveySphereSensor.last_check_grace),  # never under the class's floor
])
def test_the_deferral_outlasts_a_last_poll_that_uses_every_retry(set_connection, extra, max_retry_wait, grace):
    """The backstop was timeout + 300 s, while a last poll retrying with the defaults can take 32 minutes: the
    task was then timed out while its last poll was still under way."""
    set_connection(extra=extra)
    s = sensor(deferrable=True, poke_interval=7, timeout=600, max_retry_wait=max_retry_wait)
    with pytest.raises(TaskDeferred) as caught:
        s.execute({})
    assert caught.value.timeout.total_seconds() == 600 + grace
