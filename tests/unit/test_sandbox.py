"""Tests of the local SurveySphere sandbox server, run against real servers on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_surveysphere.sandbox import SandboxConfig, SandboxServer, token_fingerprint
from airflow_provider_surveysphere.sandbox import __main__ as server_main
from airflow_provider_surveysphere.sandbox import certificates as certificates_module
from airflow_provider_surveysphere.sandbox.data import Dataset, parse_timestamp

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
# The data these tests describe: 1,000 responses a minute apart from 2026-11-01 (the defaults are relative to now).
def pinned() -> SandboxConfig:
    return SandboxConfig(start=START, responses_per_survey=1000, response_interval=60)
FORM = {"grant_type": "client_credentials", "client_id": "sandbox-client", "client_secret": "sandbox-secret"}


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(config=pinned()) as server:
        yield server


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


def token_for(server: SandboxServer, http: requests.Session | None = None) -> str:
    response = (http or requests).post(f"{server.base_url}/connect/token", data=FORM, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def authed(server: SandboxServer, http: requests.Session) -> requests.Session:
    http.headers["Authorization"] = f"Bearer {token_for(server, http)}"
    return http


def get(http: requests.Session, server: SandboxServer, path: str, **params: Any) -> requests.Response:
    return http.get(f"{server.base_url}{path}", params=params, timeout=5)


# Token endpoint


def test_token_success(sandbox: SandboxServer) -> None:
    response = requests.post(f"{sandbox.base_url}/connect/token", data={**FORM, "scope": "ignored"}, timeout=5)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert len(body["access_token"]) >= 32
    assert sandbox.issued_tokens == [body["access_token"]]
    assert sandbox.stats["tokens_issued"] == 1


def test_token_with_http_basic_client_auth(sandbox: SandboxServer) -> None:
    response = requests.post(
        f"{sandbox.base_url}/connect/token",
        data={"grant_type": "client_credentials"},
        auth=("sandbox-client", "sandbox-secret"),
        timeout=5,
    )

    assert response.status_code == 200
    assert response.json()["access_token"] == sandbox.issued_tokens[0]


@pytest.mark.parametrize(
    ("request_kwargs", "status", "error"),
    [
        pytest.param({"json": FORM}, 400, "invalid_request", id="json-body"),
        pytest.param({"data": {**FORM, "grant_type": ""}}, 400, "invalid_request", id="empty-grant-type"),
        pytest.param({"data": {"client_id": "sandbox-client", "client_secret": "sandbox-secret"}},
                     400, "invalid_request", id="missing-grant-type"),
        pytest.param({"data": {"grant_type": "client_credentials", "client_secret": "sandbox-secret"}},
                     400, "invalid_request", id="missing-client-id"),
        pytest.param({"data": {"grant_type": "client_credentials", "client_id": "sandbox-client"}},
                     400, "invalid_request", id="missing-client-secret"),
        pytest.param({"data": {**FORM, "grant_type": "password"}}, 400, "unsupported_grant_type", id="grant"),
        pytest.param({"data": {**FORM, "client_secret": "wrong-secret-4711"}}, 401, "invalid_client",
                     id="wrong-secret"),
        pytest.param({"data": {**FORM, "client_id": "stranger"}}, 401, "invalid_client", id="unknown-client"),
        pytest.param({"data": {"grant_type": "client_credentials"}, "auth": ("sandbox-client", "wrong-secret-4711")},
                     401, "invalid_client", id="basic-wrong-secret"),
    ],
)
def test_token_errors(sandbox: SandboxServer, request_kwargs: dict[str, Any], status: int, error: str) -> None:
    response = requests.post(f"{sandbox.base_url}/connect/token", timeout=5, **request_kwargs)

    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["error_description"]
    assert "wrong-secret-4711" not in response.text
    assert "sandbox-secret" not in response.text
    if status == 401:
        assert response.headers["WWW-Authenticate"] == 'Basic realm="surveysphere-sandbox"'
    assert sandbox.issued_tokens == []


def test_token_endpoint_failures_count_down(sandbox: SandboxServer) -> None:
    sandbox.config.token_endpoint_failures = 2
    url = f"{sandbox.base_url}/connect/token"

    statuses = [requests.post(url, data=FORM, timeout=5).status_code for _ in range(3)]

    assert statuses == [503, 503, 200]
    assert sandbox.config.token_endpoint_failures == 0
    assert sandbox.stats["token_requests"] == 3
    assert sandbox.stats["tokens_issued"] == 1


def test_token_endpoint_only_accepts_post(sandbox: SandboxServer) -> None:
    response = requests.get(f"{sandbox.base_url}/connect/token", timeout=5)

    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


# Bearer validation


def test_missing_bearer_token(sandbox: SandboxServer, session: requests.Session) -> None:
    response = get(session, sandbox, "/api/v1/surveys")

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="surveysphere-sandbox"'


def test_unknown_bearer_token(sandbox: SandboxServer, session: requests.Session) -> None:
    session.headers["Authorization"] = "Bearer not-a-token"

    response = get(session, sandbox, "/api/v1/surveys")

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert sandbox.stats["requests_by_token"] == {"unknown": 1}


def test_expired_bearer_token(sandbox: SandboxServer, session: requests.Session) -> None:
    sandbox.config.token_lifetime = 0  # expired the moment it is issued
    authed(sandbox, session)

    response = get(session, sandbox, "/api/v1/surveys")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert "expired" in response.json()["error_description"]


def test_token_lifetime_is_reported_and_enforced(sandbox: SandboxServer, session: requests.Session) -> None:
    sandbox.config.token_lifetime = 0.2
    response = session.post(f"{sandbox.base_url}/connect/token", data=FORM, timeout=5)
    assert response.json()["expires_in"] == 0.2
    session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    assert get(session, sandbox, "/api/v1/surveys").status_code == 200
    time.sleep(0.25)
    assert get(session, sandbox, "/api/v1/surveys").status_code == 401


def test_revoke_after(sandbox: SandboxServer, session: requests.Session) -> None:
    sandbox.config.revoke_after = 2
    authed(sandbox, session)

    statuses = [get(session, sandbox, "/api/v1/surveys").status_code for _ in range(3)]
    authed(sandbox, session)  # revoke_times defaults to 1: the second token lives on
    later = [get(session, sandbox, "/api/v1/surveys").status_code for _ in range(3)]

    assert statuses == [200, 200, 401]
    assert later == [200, 200, 200]
    assert sandbox.stats["tokens_revoked"] == 1


def test_revoke_times(sandbox: SandboxServer, session: requests.Session) -> None:
    sandbox.config.revoke_after = 1
    sandbox.config.revoke_times = 2
    statuses = []
    for _ in range(3):
        authed(sandbox, session)
        statuses += [get(session, sandbox, "/api/v1/surveys").status_code for _ in range(2)]

    assert statuses == [200, 401, 200, 401, 200, 200]


def test_revoke_all_tokens(sandbox: SandboxServer, session: requests.Session) -> None:
    authed(sandbox, session)
    sandbox.revoke_all_tokens()

    response = get(session, sandbox, "/api/v1/surveys")

    assert response.status_code == 401
    assert "revoked" in response.json()["error_description"]


def test_requests_by_token_uses_fingerprints(sandbox: SandboxServer, session: requests.Session) -> None:
    authed(sandbox, session)
    for _ in range(2):
        get(session, sandbox, "/api/v1/surveys")
    first = sandbox.issued_tokens[0]
    authed(sandbox, session)
    get(session, sandbox, "/api/v1/surveys")

    stats_text = requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).text
    assert sandbox.stats["requests_by_token"] == {
        token_fingerprint(first): 2,
        token_fingerprint(sandbox.issued_tokens[1]): 1,
    }
    assert all(token not in stats_text for token in sandbox.issued_tokens)


# Surveys and responses


def test_survey_listing_pagination() -> None:
    with SandboxServer(config=SandboxConfig(surveys=5, start=START)) as server, requests.Session() as http:
        authed(server, http)
        pages = [get(http, server, "/api/v1/surveys", page=p, pageSize=2).json() for p in (1, 2, 3, 4)]

    assert [s["id"] for p in pages for s in p["data"]] == [f"srv-000{n}" for n in range(1, 6)]
    assert all(p["totalPages"] == 3 and p["totalCount"] == 5 and p["pageSize"] == 2 for p in pages)
    assert pages[3]["data"] == []
    survey = pages[0]["data"][0]
    assert survey["title"] == "Survey 1"
    assert survey["status"] in ("open", "closed")
    assert survey["created_at"].endswith("Z")


def test_one_survey_and_unknown_ids(sandbox: SandboxServer, session: requests.Session) -> None:
    authed(sandbox, session)

    found = get(session, sandbox, "/api/v1/surveys/srv-0002")
    missing = [get(session, sandbox, f"/api/v1/surveys/{survey_id}") for survey_id in ("srv-0004", "srv-2", "x")]
    missing_responses = get(session, sandbox, "/api/v1/surveys/srv-0009/responses")

    assert found.status_code == 200
    assert found.json()["id"] == "srv-0002"
    assert [r.status_code for r in missing] == [404, 404, 404]
    assert missing[0].json()["error"] == "not_found"
    assert missing_responses.status_code == 404


def test_data_is_deterministic_per_seed() -> None:
    def first_page(seed: int) -> list[dict[str, Any]]:
        with SandboxServer(config=SandboxConfig(seed=seed, start=START)) as server, requests.Session() as http:
            authed(server, http)
            return get(http, server, "/api/v1/surveys/srv-0001/responses", pageSize=50).json()["data"]

    assert first_page(7) == first_page(7)
    assert first_page(7) != first_page(8)


def test_response_shape(sandbox: SandboxServer, session: requests.Session) -> None:
    authed(sandbox, session)

    body = get(session, sandbox, "/api/v1/surveys/srv-0003/responses", pageSize=2).json()

    assert body["totalCount"] == 1000 and body["totalPages"] == 500 and body["page"] == 1
    first, second = body["data"]
    assert first["id"] == "srv-0003-r0000001" and second["id"] == "srv-0003-r0000002"
    assert first["survey_id"] == "srv-0003"
    assert first["submitted_at"] == "2026-11-01T00:00:00Z"
    assert second["submitted_at"] == "2026-11-01T00:01:00Z"
    assert first["respondent"].startswith("resp-")
    assert 1 <= first["answers"]["q1"] <= 5
    assert isinstance(first["answers"]["q2"], str)
    assert isinstance(first["answers"]["q3"], bool)


def test_page_cache_answers_the_same_bytes_and_follows_the_data(
    sandbox: SandboxServer, session: requests.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[int] = []
    real_page = Dataset.response_page

    def counting_page(self: Dataset, number: int, page: int, *args: Any) -> Any:
        built.append(page)
        return real_page(self, number, page, *args)

    monkeypatch.setattr(Dataset, "response_page", counting_page)
    authed(sandbox, session)
    path = "/api/v1/surveys/srv-0001/responses"
    uncached = [get(session, sandbox, path, page=n, pageSize=10).content for n in (1, 2, 1)]
    assert built == [1, 2, 1]
    sandbox.config.update({"page_cache": 2})
    cached = [get(session, sandbox, path, page=n, pageSize=10).content for n in (1, 2, 1, 3, 2)]
    assert cached[:3] == uncached
    assert built[3:] == [1, 2, 3, 2]  # page 1 again from memory; page 2 left when 3 came in (2 pages kept)
    sandbox.config.update({"seed": 9})  # other data: page 2, still kept, is not answered stale
    assert get(session, sandbox, path, page=2, pageSize=10).content != cached[4]
    assert built[-1] == 2 and len(built) == 8


def test_since_until_window_is_half_open_and_paginated(sandbox: SandboxServer, session: requests.Session) -> None:
    authed(sandbox, session)
    since, until = "2026-11-01T00:10:00Z", "2026-11-01T00:20:00+00:00"

    pages = []
    for page in range(1, 6):
        body = get(session, sandbox, "/api/v1/surveys/srv-0001/responses",
                   page=page, pageSize=3, since=since, until=until).json()
        pages.append(body)
    records = [r for body in pages for r in body["data"]]

    assert [len(body["data"]) for body in pages] == [3, 3, 3, 1, 0]
    assert all(body["totalCount"] == 10 and body["totalPages"] == 4 for body in pages)
    ids = [r["id"] for r in records]
    assert ids == [f"srv-0001-r{n:07d}" for n in range(11, 21)]  # response 11 is at 00:10:00
    assert records[0]["submitted_at"] == since
    assert records[-1]["submitted_at"] == "2026-11-01T00:19:00Z"  # until itself excluded
    assert records == sorted(records, key=lambda r: (r["submitted_at"], r["id"]))


def test_adjacent_windows_partition_the_responses(sandbox: SandboxServer, session: requests.Session) -> None:
    authed(sandbox, session)
    bounds = [None, "2026-11-01T00:07:30Z", "2026-11-01T05:00:00+00:00", "2026-11-01T12:00:00+01:00", None]

    seen = []
    for since, until in pairwise(bounds):
        params = {k: v for k, v in (("since", since), ("until", until)) if v}
        page = 1
        while body := get(session, sandbox, "/api/v1/surveys/srv-0002/responses",
                          page=page, pageSize=128, **params).json()["data"]:
            seen += [r["id"] for r in body]
            page += 1

    assert seen == [f"srv-0002-r{n:07d}" for n in range(1, 1001)]


def test_dates_and_offsets_are_accepted(sandbox: SandboxServer, session: requests.Session) -> None:
    authed(sandbox, session)

    def count(**params: str) -> int:
        response = get(session, sandbox, "/api/v1/surveys/srv-0001/responses", **params)
        assert response.status_code == 200, response.text
        return response.json()["totalCount"]

    assert count(until="2026-11-01") == 0
    assert count(until="2026-11-02") == 1000  # 1000 minutes fit in the first day
    assert count(since="2026-11-01T01:00:00Z") == count(since="2026-11-01T02:00:00+01:00") == 940
    assert count(since="2026-11-01T00:00:30Z", until="2026-11-01T00:01:00.000001Z") == 1


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01"}, "until"),
        ({"until": ""}, "until"),
        ({"pageSize": "1001"}, "pageSize"),
        ({"pageSize": "0"}, "pageSize"),
        ({"pageSize": "ten"}, "pageSize"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
    ],
)
def test_bad_query_parameters(sandbox: SandboxServer, session: requests.Session,
                              params: dict[str, str], parameter: str) -> None:
    authed(sandbox, session)

    response = get(session, sandbox, "/api/v1/surveys/srv-0001/responses", **params)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.json()["parameter"] == parameter
    assert parameter in response.json()["error_description"]


def test_page_size_limit_applies_to_surveys(sandbox: SandboxServer, session: requests.Session) -> None:
    authed(sandbox, session)

    assert get(session, sandbox, "/api/v1/surveys", pageSize=1000).status_code == 200
    assert get(session, sandbox, "/api/v1/surveys", pageSize=1001).status_code == 400


def test_millions_of_responses_are_generated_lazily(session: requests.Session) -> None:
    config = SandboxConfig(start=START, responses_per_survey=5_000_000)
    with SandboxServer(config=config) as server:
        authed(server, session)
        last = get(session, server, "/api/v1/surveys/srv-0003/responses", page=5000, pageSize=1000).json()
        window = get(session, server, "/api/v1/surveys/srv-0003/responses", pageSize=1000,
                     since="2036-01-01T00:00:00Z").json()

    assert last["totalCount"] == 5_000_000 and last["totalPages"] == 5000
    assert len(last["data"]) == 1000
    assert last["data"][-1]["id"] == "srv-0003-r5000000"
    final_time = START + timedelta(minutes=4_999_999)
    assert last["data"][-1]["submitted_at"] == final_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert window["data"][0]["submitted_at"] == "2036-01-01T00:00:00Z"


def test_page_generation_memory_does_not_grow_with_size() -> None:
    dataset = SandboxConfig(start=START, responses_per_survey=50_000_000).dataset()
    tracemalloc.start()
    try:
        dataset.response_page(1, 49_999, 1000, since=START + timedelta(days=100))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < 5_000_000


def test_index_window_matches_a_scan() -> None:
    dataset = Dataset(seed=1, surveys=1, responses_per_survey=50, start=START, response_interval=90)
    times = [dataset.submitted_at(i) for i in range(50)]
    probes = [None, START - timedelta(days=1), START, START + timedelta(seconds=1), START + timedelta(seconds=90),
              START + timedelta(seconds=91), START + timedelta(seconds=4410), START + timedelta(days=1)]

    for since in probes:
        for until in probes:
            expected = [i for i, t in enumerate(times)
                        if (since is None or t >= since) and (until is None or t < until)]
            lo, hi = dataset.index_window(since, until)
            assert list(range(lo, hi)) == expected, (since, until)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01T10:00:00Z", datetime(2026, 11, 1, 10, tzinfo=timezone.utc)),
        ("2026-11-01T10:00:00+00:00", datetime(2026, 11, 1, 10, tzinfo=timezone.utc)),
        ("2026-11-01T10:00:00 00:00", datetime(2026, 11, 1, 10, tzinfo=timezone.utc)),  # unencoded "+"
        ("2026-11-01T12:00:00+02:00", datetime(2026, 11, 1, 10, tzinfo=timezone.utc)),
        ("2026-11-01T10:00:00.5Z", datetime(2026, 11, 1, 10, 0, 0, 500000, tzinfo=timezone.utc)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=timezone.utc)),
        ("2026-11-01 10:00", datetime(2026, 11, 1, 10, tzinfo=timezone.utc)),
        ("2026-11-01T10:00Z", datetime(2026, 11, 1, 10, tzinfo=timezone.utc)),
        ("2026-11-01T05:00:00-0500", datetime(2026, 11, 1, 10, tzinfo=timezone.utc)),
        ("2026-11-01T10:00:00.123456789Z", datetime(2026, 11, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)),
    ],
)
def test_parse_timestamp(text: str, expected: datetime) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize("text", ["", "2026-11", "2026-11-01T", "2026-11-01T25:00:00Z", "2026-02-30",
                                  "2026-11-01T10:00:00+25:00", "2026-11-01T10:00:00Zjunk", "now"])
def test_parse_timestamp_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)


# Failure knobs


def test_error_every(sandbox: SandboxServer, session: requests.Session) -> None:
    sandbox.config.error_every = 3
    authed(sandbox, session)

    statuses = [get(session, sandbox, "/api/v1/surveys").status_code for _ in range(6)]

    assert statuses == [200, 200, 500, 200, 200, 500]


def test_error_rate_is_reproducible(sandbox: SandboxServer, session: requests.Session) -> None:
    sandbox.config.error_rate = 0.5
    sandbox.config.seed = 42
    sandbox.reset()  # re-seeds the draws
    authed(sandbox, session)

    first = [get(session, sandbox, "/api/v1/surveys").status_code for _ in range(30)]
    sandbox.reset()
    second = [get(session, sandbox, "/api/v1/surveys").status_code for _ in range(30)]

    assert first == second
    assert set(first) == {200, 500}


def test_rate_limit_and_request_log(sandbox: SandboxServer, session: requests.Session) -> None:
    sandbox.config.rate_limit_every = 2
    authed(sandbox, session)

    assert get(session, sandbox, "/api/v1/surveys").status_code == 200
    limited = get(session, sandbox, "/api/v1/surveys")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    time.sleep(int(limited.headers["Retry-After"]))
    assert get(session, sandbox, "/api/v1/surveys").status_code == 200

    log = list(sandbox.request_log)
    assert [(r.method, r.status) for r in log] == [("POST", 200), ("GET", 200), ("GET", 429), ("GET", 200)]
    assert log[1].path == "/api/v1/surveys"
    assert log[3].time - log[2].time >= 1


def test_latency_is_added(sandbox: SandboxServer, session: requests.Session) -> None:
    authed(sandbox, session)
    sandbox.config.latency = 0.2

    began = time.monotonic()
    get(session, sandbox, "/api/v1/surveys")

    assert time.monotonic() - began >= 0.2


def test_drop_every_closes_the_connection(sandbox: SandboxServer, session: requests.Session) -> None:
    sandbox.config.drop_every = 2
    authed(sandbox, session)

    assert get(session, sandbox, "/api/v1/surveys").status_code == 200
    with pytest.raises(requests.ConnectionError):
        get(session, sandbox, "/api/v1/surveys")
    assert get(session, sandbox, "/api/v1/surveys").status_code == 200

    assert sandbox.stats["dropped"] == 1
    assert [r.status for r in sandbox.request_log][-2:] == [0, 200]


def test_request_log_is_bounded(session: requests.Session) -> None:
    with SandboxServer(request_log_size=3) as server:
        authed(server, session)
        for _ in range(5):
            get(session, server, "/api/v1/surveys")

        assert len(server.request_log) == 3


# Server behaviour


def test_keep_alive_reuses_one_connection(sandbox: SandboxServer, session: requests.Session) -> None:
    authed(sandbox, session)
    responses = [get(session, sandbox, "/api/v1/surveys") for _ in range(5)]

    assert all("Content-Length" in r.headers for r in responses)
    assert sandbox.stats["connections"] == 1
    assert sandbox.stats["max_concurrent"] == 1
    assert sandbox.stats["requests"] == 6


def test_concurrent_requests_are_served_in_parallel(sandbox: SandboxServer) -> None:
    token = token_for(sandbox)
    sandbox.config.latency = 0.3
    statuses: list[int] = []

    def call() -> None:
        response = requests.get(f"{sandbox.base_url}/api/v1/surveys",
                                headers={"Authorization": f"Bearer {token}"}, timeout=5)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * 4
    assert sandbox.stats["max_concurrent"] >= 2


def test_unknown_paths_and_methods(sandbox: SandboxServer, session: requests.Session) -> None:
    authed(sandbox, session)

    assert session.get(f"{sandbox.base_url}/api/v2/things", timeout=5).status_code == 404
    assert session.get(f"{sandbox.base_url}/api/v1/surveys/srv-0001/other", timeout=5).status_code == 404
    not_allowed = session.post(f"{sandbox.base_url}/api/v1/surveys", json={}, timeout=5)
    assert not_allowed.status_code == 405
    assert not_allowed.json()["error"] == "invalid_request"


def test_control_endpoints(sandbox: SandboxServer, session: requests.Session) -> None:
    authed(sandbox, session)
    get(session, sandbox, "/api/v1/surveys")
    control = f"{sandbox.base_url}/__sandbox"

    stats = requests.get(f"{control}/stats", timeout=5).json()
    assert stats["requests"] == 2 and stats["tokens_issued"] == 1 and stats["statuses"] == {"200": 2}
    assert requests.get(f"{control}/health", timeout=5).json() == {"status": "ok"}

    assert requests.post(f"{control}/reset", timeout=5).status_code == 200
    assert requests.get(f"{control}/stats", timeout=5).json()["requests"] == 0

    changed = requests.post(f"{control}/config", json={"error_every": 1, "latency": 0}, timeout=5)
    assert changed.status_code == 200
    assert changed.json()["error_every"] == 1
    assert "client_secret" not in changed.json()
    assert sandbox.config.error_every == 1
    assert get(session, sandbox, "/api/v1/surveys").status_code == 500


@pytest.mark.parametrize(
    "values",
    [{"no_such_knob": 1}, {"error_every": "3"}, {"error_every": 1.5}, {"error_rate": 2},
     {"drop_every": True}, {"start": 5}, [1, 2]],
)
def test_config_endpoint_rejects_bad_values(sandbox: SandboxServer, values: Any) -> None:
    before = sandbox.config.to_json()

    response = requests.post(f"{sandbox.base_url}/__sandbox/config", json=values, timeout=5)

    assert response.status_code == 400
    assert sandbox.config.to_json() == before


def test_config_endpoint_converts_values(sandbox: SandboxServer) -> None:
    response = requests.post(f"{sandbox.base_url}/__sandbox/config", timeout=5, json={
        "start": "2030-01-01T00:00:00Z", "surveys": 1, "token_lifetime": 0.5, "response_interval": 2})

    assert response.status_code == 200, response.text
    assert response.json()["start"] == "2030-01-01T00:00:00Z"
    assert sandbox.config.start == datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert (sandbox.config.surveys, sandbox.config.token_lifetime, sandbox.config.response_interval) == (1, 0.5, 2)


def test_stop_closes_idle_keep_alive_connections(session: requests.Session) -> None:
    server = SandboxServer().start()
    authed(server, session)
    url = server.base_url
    assert get(session, server, "/api/v1/surveys").status_code == 200

    server.stop()
    server.stop()  # idempotent

    with pytest.raises(requests.ConnectionError):
        session.get(f"{url}/api/v1/surveys", timeout=5)


def test_https_with_generated_ca(session: requests.Session) -> None:
    with SandboxServer(https=True) as server:
        ca_path = server.ca_cert_path
        assert server.base_url.startswith("https://127.0.0.1:")
        assert ca_path is not None and Path(ca_path).is_file()
        session.trust_env = False  # else REQUESTS_CA_BUNDLE in the environment overrides session.verify
        session.verify = ca_path
        authed(server, session)
        assert get(session, server, "/api/v1/surveys").status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{server.base_url}/__sandbox/health", timeout=5)  # default trust store

    assert not Path(ca_path).exists()
    assert server.ca_cert_path is None


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_https_with_openssl_fallback(monkeypatch: pytest.MonkeyPatch, session: requests.Session) -> None:
    monkeypatch.setattr(certificates_module, "_certificates_with_cryptography",
                        certificates_module._certificates_with_openssl)

    with SandboxServer(https=True) as server:
        assert server.ca_cert_path is not None
        session.trust_env = False
        session.verify = server.ca_cert_path
        assert session.get(f"{server.base_url}/__sandbox/health", timeout=5).status_code == 200


# Command line


def start_cli(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    port_file = tmp_path / "sandbox.url"
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_surveysphere.sandbox", "--port", "0",
         "--port-file", str(port_file), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the sandbox did not start: {process.communicate()}")
        time.sleep(0.05)
    return process, port_file.read_text().strip()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli(tmp_path: Path, stop_signal: signal.Signals) -> None:
    process, url = start_cli(tmp_path, "--surveys", "2", "--responses-per-survey", "10",
                             "--client-id", "cli-client", "--client-secret", "cli-secret")
    try:
        token = requests.post(f"{url}/connect/token", timeout=5, data={
            "grant_type": "client_credentials", "client_id": "cli-client", "client_secret": "cli-secret"})
        surveys = requests.get(f"{url}/api/v1/surveys", timeout=5,
                               headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    finally:
        process.send_signal(stop_signal)
        stdout, stderr = process.communicate(timeout=30)

    assert url.startswith("http://127.0.0.1:")
    assert surveys.json()["totalCount"] == 2
    assert process.returncode == 0, stderr
    lines = stdout.splitlines()
    assert f"SurveySphere sandbox listening on {url}" in lines
    assert "client_id: cli-client" in lines
    assert "client_secret: cli-secret" in lines
    assert token.json()["access_token"] not in stdout + stderr
    assert not (tmp_path / "sandbox.url").exists()


def test_cli_https(tmp_path: Path) -> None:
    process, url = start_cli(tmp_path, "--https")
    try:
        assert process.stdout is not None
        # Everything is printed before the port file is written, so these reads do not block.
        printed = [process.stdout.readline().strip() for _ in range(4)]
        ca_cert = printed[3].removeprefix("ca_cert: ")
        health = requests.get(f"{url}/__sandbox/health", verify=ca_cert, timeout=5)
    finally:
        process.terminate()
        process.communicate(timeout=30)

    assert url.startswith("https://127.0.0.1:")
    assert printed[0] == f"SurveySphere sandbox listening on {url}"
    assert health.json() == {"status": "ok"}
    assert process.returncode == 0
    assert not Path(ca_cert).exists()


def test_default_data_covers_yesterday_and_today() -> None:
    """A freshly scheduled daily export (yesterday's interval) finds a full day of responses."""
    dataset = SandboxConfig().dataset()
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)

    lo, hi = dataset.index_window(yesterday, today)
    assert hi - lo == 24 * 60  # one a minute, all day
    now = datetime.now(timezone.utc)
    lo, hi = dataset.index_window(now - timedelta(hours=1), now)
    assert hi - lo == 60  # and up to now


def test_default_data_ends_now_with_nothing_in_the_future() -> None:
    """The last response is at the current minute: an export of "yesterday" sits next to a run's own dates."""
    before = datetime.now(timezone.utc)
    dataset = SandboxConfig().dataset()
    after = datetime.now(timezone.utc)
    last = dataset.submitted_at(dataset.responses_per_survey - 1)
    assert before - timedelta(minutes=1) < last <= after
    later = after + timedelta(microseconds=1)
    assert dataset.index_window(later, later + timedelta(days=30)) == (dataset.responses_per_survey,) * 2


def test_default_start_ends_the_data_now_whatever_the_count() -> None:
    config = SandboxConfig(responses_per_survey=100, response_interval=30)
    last = config.dataset().submitted_at(99)
    now = datetime.now(timezone.utc)
    assert now - timedelta(minutes=1) < last <= now


def test_cli_default_start_ends_the_data_now_whatever_the_count(tmp_path: Path) -> None:
    process, url = start_cli(tmp_path, "--responses-per-survey", "100", "--response-interval", "30")
    try:
        config = requests.get(f"{url}/__sandbox/config", timeout=5).json()
    finally:
        process.terminate()
        process.communicate(timeout=30)
    last = parse_timestamp(config["start"]) + timedelta(seconds=30 * 99)
    now = datetime.now(timezone.utc)
    assert now - timedelta(minutes=2) < last <= now


def test_cli_sets_every_failure_and_waiting_knob(tmp_path: Path) -> None:
    process, url = start_cli(
        tmp_path, "--token-endpoint-failures", "1", "--error-rate", "0.25", "--error-every", "3",
        "--rate-limit-every", "4", "--drop-every", "5", "--revoke-after", "6", "--revoke-times", "2",
        "--close-survey", "srv-0002", "--close-at", "2026-11-01T12:00:00Z", "--live-survey", "srv-0001",
        "--live-visible", "7", "--page-cache", "8",
    )
    try:
        config = requests.get(f"{url}/__sandbox/config", timeout=5).json()
        first_token = requests.post(f"{url}/connect/token", data=FORM, timeout=5)
    finally:
        process.terminate()
        process.communicate(timeout=30)

    assert {name: config[name] for name in server_main.KNOBS} == {
        "token_endpoint_failures": 1, "error_rate": 0.25, "error_every": 3, "rate_limit_every": 4, "drop_every": 5,
        "revoke_after": 6, "revoke_times": 2, "close_survey": "srv-0002", "close_at": "2026-11-01T12:00:00Z",
        "live_survey": "srv-0001", "live_visible": 7,
    }
    assert first_token.status_code == 503  # the knob is live, not only stored
    assert config["page_cache"] == 8
