"""Errors carry neither the client secret nor a token in the local variables of the frames they passed through.

A traceback that shows locals prints them: Airflow 3.0's ``dags test`` renders a task's error so (structlog's
rich traceback, every frame's locals), and error trackers capture them. The scan reads every frame of the
error and of the errors it chains to, as such a traceback would, except this test module's own frames.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_surveysphere.exceptions import SurveySphereAuthError, SurveySphereConfigError

from tests.unit.conftest import BASE_URL, CLIENT_SECRET, TOKEN_URL, token_answer

TOKEN = "tok-Refused-Then-Gone-7c1e"
SURVEYS = f"{BASE_URL}/api/v1/surveys"


def secrets_in_locals(error: BaseException, *secrets: str) -> list[str]:
    """``function: variable`` for every local of the error's frames whose repr holds one of ``secrets``."""
    found: list[str] = []
    current: BaseException | None = error
    while current is not None:
        tb = current.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if Path(frame.f_code.co_filename) != Path(__file__):
                for name, value in frame.f_locals.items():
                    text = repr(value)
                    found += [f"{frame.f_code.co_name}: {name}" for secret in secrets if secret in text]
            tb = tb.tb_next
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return found


def test_a_refused_secret(hook, mocked):
    mocked.post(TOKEN_URL, status=401, json={"error": "invalid_client", "error_description": "bad credentials"})
    with pytest.raises(SurveySphereAuthError) as caught:
        hook.get_token()
    assert secrets_in_locals(caught.value, CLIENT_SECRET) == []


@pytest.mark.parametrize("answer", [{"token_type": "mac"}, {"expires_in": "soon"}], ids=["token type", "lifetime"])
def test_an_unusable_token_answer(hook, mocked, answer):
    mocked.post(TOKEN_URL, json=token_answer(TOKEN, **answer))
    with pytest.raises(SurveySphereAuthError) as caught:
        hook.get_token()
    assert secrets_in_locals(caught.value, CLIENT_SECRET, TOKEN) == []


def test_a_401_whose_renewal_is_refused(hook, mocked):
    mocked.post(TOKEN_URL, json=token_answer(TOKEN))
    mocked.post(TOKEN_URL, status=401, json={"error": "invalid_client"})
    mocked.get(SURVEYS, status=401)
    with pytest.raises(SurveySphereAuthError) as caught:
        hook.request("GET", "api/v1/surveys")
    assert secrets_in_locals(caught.value, CLIENT_SECRET, TOKEN) == []


def test_a_connection_refused_after_its_password_was_read(hook, set_connection):
    set_connection(extra={"timeout": "forever"})
    with pytest.raises(SurveySphereConfigError) as caught:
        hook.settings  # noqa: B018 - reading it validates the connection
    assert secrets_in_locals(caught.value, CLIENT_SECRET) == []


@pytest.mark.parametrize("failure", ["403", "connection dropped", "second 401"])
def test_the_triggers_client_keeps_the_token_out_of_its_frames(set_connection, failure):
    """The async client puts the token on the request in its httpx auth, never in a local of its own frames."""
    import asyncio

    import httpx

    from airflow_provider_surveysphere.async_client import SurveySphereAsyncClient, load_settings
    from airflow_provider_surveysphere.exceptions import SurveySphereError

    def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            return httpx.Response(200, json=token_answer(TOKEN))
        if failure == "connection dropped":
            raise httpx.ConnectError("dropped", request=request)
        return httpx.Response(403 if failure == "403" else 401, json={"error": "no"})

    async def no_sleep(seconds: float) -> None:
        pass

    async def get() -> None:
        settings = await load_settings("surveysphere_default")
        async with SurveySphereAsyncClient(settings, sleep=no_sleep, transport=httpx.MockTransport(handler)) as client:
            await client.get_json("api/v1/surveys")

    with pytest.raises(SurveySphereError) as caught:
        asyncio.run(get())
    assert secrets_in_locals(caught.value, CLIENT_SECRET, TOKEN) == []
