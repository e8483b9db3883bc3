"""SurveySphereTrigger and SurveySphereNewRecordsTrigger: polling, tokens, retries, serialization.

HTTP is httpx's own MockTransport; sleeping is a recording fake, so no test waits in real time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_surveysphere.intervals import MAX_INTERVAL
from airflow_provider_surveysphere.triggers.surveysphere import (
    SurveySphereNewRecordsTrigger,
    SurveySphereTrigger,
    next_interval,
)

from tests.unit.conftest import BASE_URL, CLIENT_ID, CLIENT_SECRET, TOKEN_URL

SURVEY_URL = f"{BASE_URL}/api/v1/surveys/srv-0001"
#: Sleeps are fakes, so a trigger that never fires spins: fail the test instead of hanging the suite.
HANG_GUARD = 20


class FakeAPI:
    """A scripted SurveySphere: token answers and data answers are taken from queues, requests recorded."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.tokens: list[httpx.Response] = []
        self.data: list[httpx.Response] = []
        self.issued = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if str(request.url) == TOKEN_URL:
            if self.tokens:
                return self.tokens.pop(0)
            self.issued += 1
            return httpx.Response(200, json={"access_token": f"tok-{self.issued}", "token_type": "Bearer", "expires_in": 3600})
        return self.data.pop(0) if len(self.data) > 1 else self.data[0]

    def data_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if str(r.url) != TOKEN_URL]

    def token_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if str(r.url) == TOKEN_URL]


class Sleeps(list):
    """Records each wait instead of sleeping; can move a fake wall clock along."""

    def __init__(self, clock: list[float] | None = None) -> None:
        super().__init__()
        self.clock = clock

    async def __call__(self, seconds: float) -> None:
        await asyncio.sleep(0)  # hand control to the loop once, as a real sleep does, but never wait
        self.append(seconds)
        if self.clock is not None:
            self.clock[0] += seconds


@pytest.fixture
def api(set_connection: Callable[..., None]) -> FakeAPI:
    return FakeAPI()


def make_trigger(api: FakeAPI, sleeps: Sleeps, **kwargs: Any) -> SurveySphereTrigger:
    kwargs.setdefault("condition", {"key": "status", "equals": "closed"})
    kwargs.setdefault("poke_interval", 10)
    trigger = SurveySphereTrigger(endpoint="api/v1/surveys/srv-0001", **kwargs)
    trigger.transport = httpx.MockTransport(api.handler)
    trigger.sleep = sleeps
    return trigger


def first_event(trigger) -> dict[str, Any]:
    async def run():
        async for event in trigger.run():
            return event.payload
    return asyncio.run(asyncio.wait_for(run(), HANG_GUARD))


def survey(status: str) -> httpx.Response:
    return httpx.Response(200, json={"id": "srv-0001", "status": status})


def test_polls_until_the_condition_holds_with_one_token(api):
    api.data = [survey("open"), survey("open"), survey("open"), survey("closed")]
    sleeps = Sleeps()
    event = first_event(make_trigger(api, sleeps))
    assert event == {"status": "success", "value": "closed", "polls": 4, "tokens": 1}
    assert sleeps == [10, 10, 10]
    assert len(api.token_requests()) == 1
    assert {r.headers["Authorization"] for r in api.data_requests()} == {"Bearer tok-1"}


def test_token_request_is_the_documented_form_body(api):
    api.data = [survey("closed")]
    first_event(make_trigger(api, Sleeps()))
    (token_request,) = api.token_requests()
    assert token_request.method == "POST"
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert dict(httpx.QueryParams(token_request.content.decode())) == {
        "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
    }
    assert "Authorization" not in token_request.headers


def test_token_is_renewed_before_it_expires(api):
    # tokens of 100 s, a poll every 30 s and a clock that follows the sleeps: renewed once it has < 50 s left
    # (the 60 s leeway capped at half the lifetime), so at 1060 and 1120
    api.tokens = [httpx.Response(200, json={"access_token": t, "token_type": "Bearer", "expires_in": 100})
                  for t in ("short-1", "short-2", "short-3")]
    api.data = [survey("open")] * 4 + [survey("closed")]
    now = [1000.0]
    trigger = make_trigger(api, Sleeps(now), poke_interval=30)
    trigger.clock = lambda: now[0]
    event = first_event(trigger)
    assert event["status"] == "success" and event["polls"] == 5
    used = [r.headers["Authorization"] for r in api.data_requests()]
    assert used == ["Bearer short-1", "Bearer short-1", "Bearer short-2", "Bearer short-2", "Bearer short-3"]


def test_a_401_renews_the_token_and_resends_once(api):
    api.data = [survey("open"), httpx.Response(401, json={"error": "invalid_token"}), survey("closed")]
    event = first_event(make_trigger(api, Sleeps()))
    assert event["status"] == "success"
    assert [r.headers["Authorization"] for r in api.data_requests()] == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


def test_a_second_401_in_a_row_is_a_permanent_error_event(api):
    api.data = [httpx.Response(401, json={"error": "invalid_token"})]
    event = first_event(make_trigger(api, Sleeps()))
    assert event["status"] == "error" and event["permanent"] is True
    assert "GET /api/v1/surveys/srv-0001 answered 401" in event["message"]
    assert len(api.data_requests()) == 2 and len(api.token_requests()) == 2


def test_retry_after_is_honoured(api):
    api.data = [httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(503, headers={"Retry-After": "3"}),
                survey("closed")]
    sleeps = Sleeps()
    event = first_event(make_trigger(api, sleeps))
    assert event["status"] == "success"
    assert sleeps == [7, 3]


def test_retry_after_beyond_the_cap_fails_at_once(api):
    api.data = [httpx.Response(429, headers={"Retry-After": "3600"})]
    sleeps = Sleeps()
    event = first_event(make_trigger(api, sleeps, max_retry_wait=60))
    assert event["status"] == "error" and event["permanent"] is False
    assert "retry after 3600 s, longer than the 60 s" in event["message"]
    assert sleeps == [] and len(api.data_requests()) == 1


def test_transient_errors_are_retried_then_reported_as_transient(api):
    api.data = [httpx.Response(500, json={"error": "boom"})]  # max_retries=2 in the test connection
    sleeps = Sleeps()
    trigger = make_trigger(api, sleeps)
    event = first_event(trigger)
    assert event["status"] == "error" and event["permanent"] is False
    assert "answered 500" in event["message"]
    assert len(api.data_requests()) == 3 and len(sleeps) == 2


def test_404_is_permanent_unless_allowlisted(api):
    api.data = [httpx.Response(404, json={"error": "not_found"})]
    event = first_event(make_trigger(api, Sleeps()))
    assert event["status"] == "error" and event["permanent"] is True and "answered 404" in event["message"]
    api2 = FakeAPI()
    api2.data = [httpx.Response(404, json={"error": "not_found"}), survey("closed")]
    event = first_event(make_trigger(api2, Sleeps(), pending_statuses=[404]))
    assert event["status"] == "success" and event["polls"] == 2


def test_deadline_gives_a_timeout_event(api):
    api.data = [survey("open")]
    now = [5000.0]
    trigger = make_trigger(api, Sleeps(now), deadline=5025.0)
    trigger.wall_clock = lambda: now[0]
    event = first_event(trigger)
    # at 5000, 5010, 5020 and, cut short, 5025: the last check is made at the deadline (as poke mode does)
    assert event["status"] == "timeout" and event["polls"] == 4
    assert now[0] == 5025.0 and len(api.data_requests()) == 4


def test_exponential_backoff_doubles_up_to_max_wait(api):
    api.data = [survey("open")] * 5 + [survey("closed")]
    sleeps = Sleeps()
    first_event(make_trigger(api, sleeps, exponential_backoff=True, max_wait=50))
    assert sleeps == [10, 20, 40, 50, 50]
    assert next_interval(10, 1, False, None) == 10
    assert next_interval(10, 3, False, 5) == 10  # max_wait caps a backoff only, as in Airflow's poke loop


@pytest.mark.parametrize("polls", [1025, 1026, 5000, 10**9])
def test_any_number_of_polls_has_a_capped_interval(polls):
    """2 ** polls outgrows a float after 1,024 doublings: 7.1 days into a 60 s backoff capped at a minute."""
    assert next_interval(60, polls, True, 60) == 60
    assert next_interval(60, polls, True, None) == MAX_INTERVAL
    assert next_interval(1e-300, polls, True, 3600) == 3600


def test_a_trigger_polls_past_a_thousand_and_twenty_five_times(api):
    api.data = [survey("open")] * 1100 + [survey("closed")]
    sleeps = Sleeps()
    event = first_event(make_trigger(api, sleeps, poke_interval=60, exponential_backoff=True, max_wait=60))
    assert event["status"] == "success" and event["polls"] == 1101
    assert sleeps == [60] * 1100


def test_token_never_goes_to_another_origin(api):
    api.data = [survey("closed")]
    trigger = make_trigger(api, Sleeps())
    trigger.endpoint = "https://elsewhere.example/api/v1/surveys/srv-0001"
    event = first_event(trigger)
    assert event["status"] == "error" and event["permanent"] is True
    assert "only https://api.surveysphere.test may receive the token" in event["message"]
    assert api.requests == []


def test_redirects_are_not_followed(api):
    api.data = [httpx.Response(302, headers={"Location": "https://elsewhere.example/x"})]
    event = first_event(make_trigger(api, Sleeps()))
    assert event["status"] == "error" and "redirect to https://elsewhere.example" in event["message"]
    assert len(api.data_requests()) == 1


def test_no_secret_in_events_or_logs(api, caplog):
    api.tokens = [httpx.Response(400, json={"error": "invalid_client", "error_description": f"bad {CLIENT_SECRET}"})]
    api.data = [survey("closed")]
    with caplog.at_level("DEBUG"):
        event = first_event(make_trigger(api, Sleeps()))
    assert event["status"] == "error" and event["permanent"] is True
    assert "invalid_client" in event["message"]
    assert CLIENT_SECRET not in json.dumps(event) and CLIENT_SECRET not in caplog.text


def test_missing_connection_is_a_clear_permanent_error(api):
    trigger = make_trigger(api, Sleeps(), surveysphere_conn_id="no_such_conn")
    event = first_event(trigger)
    assert event["status"] == "error" and event["permanent"] is True
    assert "'no_such_conn': connection: is not defined" in event["message"]


# -- serialization ---------------------------------------------------------------------------------------


def trigger_with_everything() -> SurveySphereTrigger:
    return SurveySphereTrigger(
        endpoint="api/v1/surveys/srv-0001",
        condition={"all": [{"key": "status", "in": ("closed", "archived")}, {"key": "n", "at_least": 5}]},
        query_params={"fields": ("status", "n")},
        headers={"X-Trace": "1"},
        poke_interval=5,
        exponential_backoff=True,
        max_wait=60,
        deadline=1_800_000_000.5,
        pending_statuses={404},
    )


def test_serialize_gives_json_safe_kwargs_that_rebuild_the_trigger():
    classpath, kwargs = trigger_with_everything().serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs  # tuples and sets became lists
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(__import__(module, fromlist=[name]), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_round_trip_through_the_triggers_table_encoding():
    """What the triggerer stores: serde on Airflow 3.2+, BaseSerialization on 2.11 (Trigger._encrypt_kwargs)."""
    from airflow.models.trigger import Trigger

    for trigger in (trigger_with_everything(),
                    SurveySphereNewRecordsTrigger(endpoint="e", watermark_key="totalCount", query_params={"pageSize": 1})):
        classpath, kwargs = trigger.serialize()
        encrypt = getattr(Trigger, "encrypt_kwargs", None) or Trigger._encrypt_kwargs  # 3.x / 2.11 name
        decoded = Trigger._decrypt_kwargs(encrypt(kwargs))
        assert decoded == kwargs
        assert type(trigger)(**decoded).serialize() == (classpath, kwargs)


def test_round_trip_through_sdk_serde_on_airflow_3():
    serde = pytest.importorskip("airflow.sdk.serde", reason="airflow.sdk.serde exists on Airflow 3.2+ only")
    _classpath, kwargs = trigger_with_everything().serialize()
    assert serde.deserialize(json.loads(json.dumps(serde.serialize(kwargs)))) == kwargs


# -- the new-records watcher -----------------------------------------------------------------------------


def page(total: int) -> httpx.Response:
    return httpx.Response(200, json={"data": [], "totalCount": total})


def events_of(trigger, count: int) -> list[dict[str, Any]]:
    async def run():
        events = []
        async for event in trigger.run():
            events.append(event.payload)
            if len(events) == count:
                return events
    return asyncio.run(asyncio.wait_for(run(), HANG_GUARD))


def test_new_records_fires_on_start_and_on_each_change_with_one_token(api):
    api.data = [page(10), page(10), page(12), page(12), page(15)]
    sleeps = Sleeps()
    trigger = SurveySphereNewRecordsTrigger(endpoint="api/v1/surveys/srv-0001/responses", watermark_key="totalCount",
                                            query_params={"pageSize": 1}, poll_interval=5)
    trigger.transport, trigger.sleep = httpx.MockTransport(api.handler), sleeps
    events = events_of(trigger, 3)
    assert [(e["watermark"], e["reason"]) for e in events] == [(10, "start"), (12, "change"), (15, "change")]
    assert len(api.token_requests()) == 1 and len(api.data_requests()) == 5
    assert api.data_requests()[0].url.params["pageSize"] == "1"


def test_new_records_stays_quiet_while_empty_and_survives_transient_errors(api):
    api.data = [page(0), httpx.Response(503)] + [httpx.Response(503)] * 2 + [page(0), page(3)]
    trigger = SurveySphereNewRecordsTrigger(endpoint="r", watermark_key="totalCount", poll_interval=5)
    trigger.transport, trigger.sleep = httpx.MockTransport(api.handler), Sleeps()
    (event,) = events_of(trigger, 1)
    assert event["watermark"] == 3 and event["reason"] == "change"


def test_new_records_without_fire_on_start_waits_for_a_change(api):
    api.data = [page(10), page(10), page(11)]
    trigger = SurveySphereNewRecordsTrigger(endpoint="r", watermark_key="totalCount", fire_on_start=False)
    trigger.transport, trigger.sleep = httpx.MockTransport(api.handler), Sleeps()
    (event,) = events_of(trigger, 1)
    assert event["watermark"] == 11 and len(api.data_requests()) == 3


def test_a_backoff_from_a_zero_interval_waits_a_second_as_poke_mode_does(api):
    """poke_interval=0 with a backoff: Airflow's poke loop waits at least 1 s; the trigger must not poll nonstop."""
    api.data = [survey("open")] * 3 + [survey("closed")]
    sleeps = Sleeps()
    first_event(make_trigger(api, sleeps, poke_interval=0, exponential_backoff=True))
    assert sleeps == [1.0, 1.0, 1.0]
    assert next_interval(0.25, 3, True, None) == 1.0  # 0.25 doubled twice is still under the floor
    assert next_interval(0, 5, True, 0.5) == 0.5  # a shorter max_wait still wins, as in Airflow
