"""The sandbox's waiting fixtures: a survey that closes at a time, a survey whose responses keep arriving."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests

from airflow_provider_surveysphere.sandbox import SandboxConfig, SandboxServer

FORM = {"grant_type": "client_credentials", "client_id": "sandbox-client", "client_secret": "sandbox-secret"}


@pytest.fixture
def http():
    with SandboxServer(config=SandboxConfig(responses_per_survey=50)) as server, requests.Session() as session:
        token = session.post(f"{server.base_url}/connect/token", data=FORM, timeout=5).json()["access_token"]
        session.headers["Authorization"] = f"Bearer {token}"
        session.base = server.base_url  # type: ignore[attr-defined]
        yield session


def control(http, path: str, body: dict) -> requests.Response:
    return requests.post(f"{http.base}/__sandbox/{path}", json=body, timeout=5)


def status_of(http, survey: str = "srv-0001") -> str:
    return http.get(f"{http.base}/api/v1/surveys/{survey}", timeout=5).json()["status"]


def test_survey_closes_at_its_time_or_on_a_control_call(http):
    later = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    assert control(http, "config", {"close_survey": "srv-0001", "close_at": later}).status_code == 200
    assert status_of(http) == "open"
    listing = http.get(f"{http.base}/api/v1/surveys", timeout=5).json()["data"]
    assert listing[0]["status"] == "open"
    control(http, "config", {"close_at": datetime.now(timezone.utc).isoformat()})
    assert status_of(http) == "closed"
    assert http.get(f"{http.base}/api/v1/surveys", timeout=5).json()["data"][0]["status"] == "closed"
    bad = control(http, "config", {"close_at": "tomorrow"})
    assert bad.status_code == 400 and "tomorrow" in bad.json()["error_description"]


def test_live_survey_shows_only_the_responses_that_arrived(http):
    def responses(**params):
        return http.get(f"{http.base}/api/v1/surveys/srv-0002/responses", params=params, timeout=5).json()

    assert control(http, "arrive", {"count": 1}).status_code == 409  # no live survey yet
    control(http, "config", {"live_survey": "srv-0002", "live_visible": 0})
    assert responses()["totalCount"] == 0
    assert control(http, "arrive", {"count": 3}).json() == {"live_survey": "srv-0002", "live_visible": 3}
    page = responses()
    assert page["totalCount"] == 3 and [r["id"] for r in page["data"]] == [f"srv-0002-r000000{i}" for i in (1, 2, 3)]
    control(http, "arrive", {"count": 2})
    since = page["data"][-1]["submitted_at"]
    assert [r["id"] for r in responses(since=since)["data"]] == ["srv-0002-r0000003", "srv-0002-r0000004", "srv-0002-r0000005"]
    assert control(http, "arrive", {"count": 1000}).json()["live_visible"] == 50  # never more than exist
    assert control(http, "arrive", {"count": -1}).status_code == 400
    # other surveys are not live
    assert http.get(f"{http.base}/api/v1/surveys/srv-0001/responses", timeout=5).json()["totalCount"] == 50
