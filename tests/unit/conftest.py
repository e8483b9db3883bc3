"""Fixtures of the unit tests: a connection in the environment and a private token cache."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import responses

from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
from airflow_provider_surveysphere.token import TokenCache

BASE_URL = "https://api.surveysphere.test"
TOKEN_URL = f"{BASE_URL}/connect/token"
CLIENT_ID = "client-abc"
CLIENT_SECRET = "s3cr3t-Value-That-Must-Not-Leak"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def connection_json(**overrides: Any) -> str:
    conn: dict[str, Any] = {
        "conn_type": "surveysphere",
        "host": BASE_URL,
        "login": CLIENT_ID,
        "password": CLIENT_SECRET,
        "extra": {"max_retries": 2},
    }
    conn.update(overrides)
    return json.dumps(conn)


@pytest.fixture
def set_connection(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Define a connection through AIRFLOW_CONN_<ID>, as users do."""

    def define(conn_id: str = "surveysphere_default", **overrides: Any) -> None:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", connection_json(**overrides))

    define()
    return define


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def token_cache(clock: FakeClock) -> TokenCache:
    return TokenCache(clock=clock)


@pytest.fixture
def hook(set_connection: Callable[..., None], token_cache: TokenCache) -> Iterator[SurveySphereHook]:
    hook = SurveySphereHook(token_cache=token_cache, max_retry_wait=5)
    hook.backoff_factor = 0  # no sleeping between retries in unit tests
    hook.backoff_jitter = 0
    yield hook
    hook.close()


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def mocked_api(mocked: responses.RequestsMock) -> responses.RequestsMock:
    """The mock with the token endpoint answering: what every data-call test needs first."""
    mocked.post(TOKEN_URL, json=token_answer())
    return mocked


def token_answer(token: str = "tok-1", expires_in: Any = 3600, **extra: Any) -> dict[str, Any]:
    body = {"access_token": token, "token_type": "Bearer", "expires_in": expires_in}
    body.update(extra)
    return body


def token_calls(rsps: responses.RequestsMock) -> list[Any]:
    return [call for call in rsps.calls if call.request.url == TOKEN_URL]
