"""SurveySphereHook: the published token flow, the per-task-run cache, retries, errors and secrecy."""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import responses
from responses import matchers

from airflow_provider_surveysphere.exceptions import (
    SurveySphereAPIError,
    SurveySphereAuthError,
    SurveySphereClientError,
    SurveySphereConfigError,
    SurveySphereForeignHostError,
    SurveySphereRetryAfterTooLongError,
)
from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
from airflow_provider_surveysphere.throttle import Throttle
from airflow_provider_surveysphere.token import TokenCache

from tests.unit.conftest import BASE_URL, CLIENT_ID, CLIENT_SECRET, TOKEN_URL, token_answer, token_calls

SURVEYS = f"{BASE_URL}/api/v1/surveys"


def test_token_request_is_the_published_form_post(hook, mocked):
    mocked.post(TOKEN_URL, json=token_answer())
    assert hook.get_token() == "tok-1"
    request = mocked.calls[0].request
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.body) == {
        "grant_type": ["client_credentials"],
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
    }
    assert "Authorization" not in request.headers


def test_scope_and_token_url_path_come_from_extra(set_connection, token_cache, mocked):
    set_connection(extra={"scope": "surveys.read", "token_url": "/oauth/token"})
    mocked.post(f"{BASE_URL}/oauth/token", json=token_answer())
    SurveySphereHook(token_cache=token_cache).get_token()
    assert parse_qs(mocked.calls[0].request.body)["scope"] == ["surveys.read"]


def test_bearer_token_is_sent_and_one_token_serves_many_calls(hook, mocked):
    mocked.post(TOKEN_URL, json=token_answer("tok-A"))
    mocked.get(SURVEYS, json={"data": []}, match=[matchers.header_matcher({"Authorization": "Bearer tok-A"})])
    for _ in range(25):
        assert hook.request("GET", "api/v1/surveys").json() == {"data": []}
    assert len(token_calls(mocked)) == 1


def test_hook_instances_with_the_same_credentials_share_the_token(set_connection, token_cache, mocked):
    mocked.post(TOKEN_URL, json=token_answer())
    mocked.get(SURVEYS, json=[])
    for _ in range(5):
        SurveySphereHook(token_cache=token_cache).request("GET", "/api/v1/surveys")
    assert len(token_calls(mocked)) == 1


def test_other_credentials_get_their_own_token(set_connection, token_cache, mocked):
    set_connection("other", password="another-secret")
    mocked.post(TOKEN_URL, json=token_answer())
    SurveySphereHook(token_cache=token_cache).get_token()
    SurveySphereHook("other", token_cache=token_cache).get_token()
    assert len(token_calls(mocked)) == 2


def test_sixteen_threads_trigger_one_token_request(hook, mocked):
    gate = threading.Event()

    def slow_token(request):
        gate.wait(2)  # hold the first fetch until every thread is waiting for a token
        return 200, {}, '{"access_token": "tok-T", "token_type": "bearer", "expires_in": 3600}'

    mocked.add_callback(responses.POST, TOKEN_URL, callback=slow_token)
    mocked.get(SURVEYS, json=[])
    errors: list[BaseException] = []

    def call() -> None:
        try:
            hook.request("GET", "api/v1/surveys")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(16)]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert len(token_calls(mocked)) == 1
    assert len(mocked.calls) == 17


def test_token_renewed_before_expiry_with_leeway(hook, mocked, clock):
    mocked.post(TOKEN_URL, json=token_answer("tok-1", 3600))
    mocked.post(TOKEN_URL, json=token_answer("tok-2", 3600))
    assert hook.get_token() == "tok-1"
    clock.advance(3600 - 61)
    assert hook.get_token() == "tok-1"
    clock.advance(2)  # 59 s left: within the 60 s leeway
    assert hook.get_token() == "tok-2"


def test_leeway_is_capped_at_half_a_short_lifetime(hook, mocked, clock):
    mocked.post(TOKEN_URL, json=token_answer("short-1", 30))
    mocked.post(TOKEN_URL, json=token_answer("short-2", 30))
    assert hook.get_token() == "short-1"
    for _ in range(10):  # a 60 s leeway would make a 30 s token look expired on every call
        assert hook.get_token() == "short-1"
    clock.advance(14)
    assert hook.get_token() == "short-1"
    clock.advance(2)  # 14 s left: under half the lifetime
    assert hook.get_token() == "short-2"
    assert len(token_calls(mocked)) == 2


def test_missing_expires_in_means_the_documented_hour(hook, mocked, clock):
    body = token_answer()
    del body["expires_in"]
    mocked.post(TOKEN_URL, json=body)
    hook.get_token()
    clock.advance(3500)
    hook.get_token()
    assert len(token_calls(mocked)) == 1


def test_401_drops_the_token_fetches_a_new_one_and_resends_once(hook, mocked):
    mocked.post(TOKEN_URL, json=token_answer("old"))
    mocked.post(TOKEN_URL, json=token_answer("new"))
    mocked.get(SURVEYS, status=401, match=[matchers.header_matcher({"Authorization": "Bearer old"})])
    mocked.get(SURVEYS, json={"ok": 1}, match=[matchers.header_matcher({"Authorization": "Bearer new"})])
    response = hook.request("GET", "api/v1/surveys")
    assert response.json() == {"ok": 1}
    assert len(token_calls(mocked)) == 2
    assert hook.get_token() == "new"


def test_second_401_is_an_error_not_a_loop(hook, mocked):
    mocked.post(TOKEN_URL, json=token_answer("a"))
    mocked.post(TOKEN_URL, json=token_answer("b"))
    mocked.get(SURVEYS, status=401, json={"error": "invalid_token"})
    with pytest.raises(SurveySphereClientError) as caught:
        hook.request("GET", "api/v1/surveys")
    assert caught.value.http_status == 401
    assert len(token_calls(mocked)) == 2
    assert len(mocked.calls) == 4


def test_invalid_client_is_a_clear_error_and_not_retried(hook, mocked):
    mocked.post(
        TOKEN_URL, status=401, json={"error": "invalid_client", "error_description": "Client authentication failed"}
    )
    with pytest.raises(SurveySphereAuthError) as caught:
        hook.get_token()
    assert caught.value.error == "invalid_client"
    assert "invalid_client" in str(caught.value) and "Client authentication failed" in str(caught.value)
    assert "surveysphere_default" in str(caught.value)
    assert len(mocked.calls) == 1


def test_token_endpoint_5xx_is_retried(hook, mocked):
    mocked.post(TOKEN_URL, status=503)
    mocked.post(TOKEN_URL, json=token_answer("after-retry"))
    assert hook.get_token() == "after-retry"
    assert len(mocked.calls) == 2


def test_token_endpoint_5xx_after_retries_is_a_transient_error(hook, mocked):
    mocked.post(TOKEN_URL, status=502, body="bad gateway")
    with pytest.raises(SurveySphereAPIError) as caught:
        hook.get_token()
    assert not isinstance(caught.value, SurveySphereAuthError)
    assert caught.value.http_status == 502
    assert len(mocked.calls) == 3  # max_retries=2 in the test connection


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"body": "<html>login</html>", "content_type": "text/html"}, "not a JSON object"),
        ({"json": {"token_type": "Bearer", "expires_in": 3600}}, "without an access_token"),
        ({"json": token_answer(token_type="mac")}, "'mac'; only Bearer"),
        ({"json": token_answer(expires_in=-5)}, "must be positive"),
        ({"json": token_answer(expires_in="soon")}, "not a number"),
    ],
)
def test_unusable_token_answers_are_clear_errors(hook, mocked, answer, message):
    mocked.post(TOKEN_URL, **answer)
    with pytest.raises(SurveySphereAuthError, match=message):
        hook.get_token()


def test_token_type_is_case_insensitive(hook, mocked):
    mocked.post(TOKEN_URL, json=token_answer(token_type="bearer"))
    assert hook.get_token() == "tok-1"


def test_token_is_registered_with_the_secrets_masker(hook, mocked, monkeypatch):
    masked: list[str] = []
    monkeypatch.setattr("airflow_provider_surveysphere.token.mask_secret", masked.append)
    mocked.post(TOKEN_URL, json=token_answer("mask-me"))
    hook.get_token()
    assert masked == ["mask-me"]


def test_transient_statuses_are_retried_for_get(hook, mocked):
    mocked.post(TOKEN_URL, json=token_answer())
    mocked.get(SURVEYS, status=500)
    mocked.get(SURVEYS, status=429, headers={"Retry-After": "0"})
    mocked.get(SURVEYS, json={"ok": True})
    assert hook.request("GET", "api/v1/surveys").json() == {"ok": True}


def test_post_is_not_retried(hook, mocked):
    mocked.post(TOKEN_URL, json=token_answer())
    mocked.post(SURVEYS, status=503)
    with pytest.raises(SurveySphereAPIError) as caught:
        hook.request("POST", "api/v1/surveys", json={"title": "x"})
    assert caught.value.http_status == 503
    assert len(mocked.calls) == 2


@pytest.mark.parametrize("status", [400, 403, 404])
def test_client_errors_are_permanent_and_not_retried(hook, mocked, status):
    mocked.post(TOKEN_URL, json=token_answer())
    mocked.get(SURVEYS, status=status, json={"error": "nope"})
    with pytest.raises(SurveySphereClientError) as caught:
        hook.request("GET", "api/v1/surveys", params={"q": "private"})
    message = str(caught.value)
    assert f"GET /api/v1/surveys answered {status}" in message and "nope" in message
    assert "private" not in message  # the query string stays out of messages
    assert len(mocked.calls) == 2


def test_error_excerpt_is_short_and_scrubbed(hook, mocked):
    mocked.post(TOKEN_URL, json=token_answer("tok-xyz"))
    mocked.get(SURVEYS, status=500, body=f"echo {CLIENT_SECRET} " + "x" * 5000)
    with pytest.raises(SurveySphereAPIError) as caught:
        hook.request("GET", "api/v1/surveys")
    assert CLIENT_SECRET not in str(caught.value)
    assert len(str(caught.value)) < 300


@pytest.fixture
def rate_limited_sandbox(set_connection):
    """The sandbox answering 429 with ``Retry-After`` to every second data request."""
    from airflow_provider_surveysphere.sandbox import SandboxConfig, SandboxServer

    with SandboxServer(config=SandboxConfig(surveys=1, responses_per_survey=1, rate_limit_every=2)) as sandbox:
        set_connection(host=sandbox.base_url, login=sandbox.config.client_id, password=sandbox.config.client_secret,
                       extra={"max_retries": 2})
        yield sandbox


class RecordingThrottle(Throttle):
    """The hook's throttle, recording each Retry-After wait instead of waiting it out."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def answered(self, status: int, retry_after: float | None) -> None:
        if retry_after:
            self.waits.append(retry_after)
        super().answered(status, None)


@pytest.mark.parametrize(("retry_after", "waits"), [(1, [1.0]), (3, [3.0])])
def test_retry_after_is_honoured_through_a_real_request(rate_limited_sandbox, token_cache, retry_after, waits):
    rate_limited_sandbox.config.update({"retry_after": retry_after})
    hook = SurveySphereHook(token_cache=token_cache, max_retry_wait=5)
    hook.throttle = RecordingThrottle()
    slept = hook.throttle.waits
    for _ in range(2):
        assert hook.request("GET", "api/v1/surveys").json()["data"]
    hook.close()
    assert slept == waits
    assert rate_limited_sandbox.stats["statuses"]["429"] == 1


def test_retry_after_longer_than_max_retry_wait_fails_at_once(rate_limited_sandbox, token_cache):
    rate_limited_sandbox.config.update({"retry_after": 6})
    hook = SurveySphereHook(token_cache=token_cache, max_retry_wait=5)
    hook.throttle = RecordingThrottle()
    slept = hook.throttle.waits
    hook.request("GET", "api/v1/surveys")
    with pytest.raises(SurveySphereRetryAfterTooLongError, match="retry after 6 s, longer than the 5 s"):
        hook.request("GET", "api/v1/surveys")
    hook.close()
    assert slept == []  # no wait, and no retry: the second request was the last
    assert rate_limited_sandbox.stats["data_requests"] == 2


class NotFoundIsEmptyHook(SurveySphereHook):
    """An override of check_response: a 404 is an answer, not an error."""

    def check_response(self, response: requests.Response) -> None:
        if response.status_code != 404:
            super().check_response(response)


def test_a_check_response_override_decides_which_answers_raise(set_connection, token_cache, mocked_api):
    from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator

    hook = NotFoundIsEmptyHook(token_cache=token_cache)
    mocked_api.get(f"{SURVEYS}/gone", status=404, json={"error": "not_found"})
    mocked_api.get(f"{SURVEYS}/broken", status=400, json={"error": "invalid_request"})
    assert hook.request("GET", "api/v1/surveys/gone").status_code == 404
    with pytest.raises(SurveySphereClientError, match="400"):
        hook.request("GET", "api/v1/surveys/broken")
    op = SurveySphereOperator(task_id="t", endpoint="api/v1/surveys/gone")
    op.hook = hook  # the operator goes through the same override
    assert op.execute({}) == {"error": "not_found"}


def test_retry_after_is_honoured_and_capped(hook):
    from contextlib import nullcontext

    from urllib3 import HTTPResponse

    class RecordingThrottle:
        """Stands in for the hook's throttle, whose gate makes every thread wait out Retry-After."""

        def __init__(self):
            self.answers = []

        def answered(self, status, retry_after):
            self.answers.append((status, retry_after))

        def released(self):
            return nullcontext()

    hook.throttle = RecordingThrottle()
    retry = hook.get_conn().get_adapter(BASE_URL).max_retries
    retry._sleep_backoff = lambda: pytest.fail("a Retry-After wait replaces the backoff")
    retry.sleep(HTTPResponse(status=429, headers={"Retry-After": "3"}))
    assert hook.throttle.answers == [(429, 3.0)]
    with pytest.raises(SurveySphereRetryAfterTooLongError, match="6 s"):
        retry.sleep(HTTPResponse(status=429, headers={"Retry-After": "6"}))  # the cap is 5 s here
    assert retry.respect_retry_after_header and 429 in retry.status_forcelist
    assert retry.new().max_wait == 5 and retry.new().throttle is hook.throttle


def test_backoff_has_jitter_and_a_cap(set_connection, token_cache):
    retry = SurveySphereHook(token_cache=token_cache).get_conn().get_adapter(BASE_URL).max_retries
    assert retry.backoff_jitter > 0 and retry.backoff_max <= 30 and retry.total == 2


def test_absolute_url_to_another_host_is_refused_before_any_request(hook, mocked):
    with pytest.raises(SurveySphereForeignHostError, match="evil.example"):
        hook.request("GET", "https://evil.example/api/v1/surveys")
    assert len(mocked.calls) == 0


def test_absolute_url_on_the_same_host_is_accepted(hook, mocked):
    mocked.post(TOKEN_URL, json=token_answer())
    mocked.get(SURVEYS, json=[])
    hook.request("GET", f"{SURVEYS}")


def test_session_refuses_to_send_the_token_elsewhere(hook, mocked):
    with pytest.raises(SurveySphereForeignHostError):
        hook.get_conn().get("https://evil.example/")


def test_connection_timeout_and_verify_apply_even_with_a_ca_bundle_in_the_environment(
    set_connection, token_cache, mocked, monkeypatch
):
    set_connection(extra={"timeout": 7, "verify": "false"})
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    seen: dict[str, object] = {}
    real_send = requests.adapters.HTTPAdapter.send

    def spy(adapter, request, **kwargs):
        seen.update(timeout=kwargs.get("timeout"), verify=kwargs.get("verify"))
        return real_send(adapter, request, **kwargs)

    mocked.post(TOKEN_URL, json=token_answer())
    mocked.get(SURVEYS, json=[])
    with monkeypatch.context() as patch:  # undone before responses stops mocking
        patch.setattr(requests.adapters.HTTPAdapter, "send", spy)
        SurveySphereHook(token_cache=token_cache).get_conn().get(SURVEYS)
    assert seen == {"timeout": 7.0, "verify": False}


def test_default_timeout_is_always_set(hook, mocked, monkeypatch):
    seen: list[object] = []
    real_send = requests.adapters.HTTPAdapter.send

    def spy(adapter, request, **kwargs):
        seen.append(kwargs.get("timeout"))
        return real_send(adapter, request, **kwargs)

    mocked.post(TOKEN_URL, json=token_answer())
    mocked.get(SURVEYS, json=[])
    with monkeypatch.context() as patch:  # undone before responses stops mocking
        patch.setattr(requests.adapters.HTTPAdapter, "send", spy)
        hook.request("GET", "api/v1/surveys")
    assert seen and all(timeout == 60.0 for timeout in seen)


def test_test_connection_reports_success_and_failure_without_secrets(hook, mocked):
    mocked.post(TOKEN_URL, json=token_answer())
    assert hook.test_connection()[0] is True
    mocked.replace(responses.POST, TOKEN_URL, status=401, json={"error": "invalid_client"})
    ok, message = hook.test_connection()
    assert ok is False and "invalid_client" in message and CLIENT_SECRET not in message


def test_secret_is_absent_from_every_error_message(hook, mocked):
    mocked.post(TOKEN_URL, status=400, json={"error": "invalid_request", "error_description": f"bad {CLIENT_SECRET}"})
    with pytest.raises(SurveySphereAuthError) as caught:
        hook.get_token()
    assert CLIENT_SECRET not in str(caught.value) and CLIENT_SECRET not in repr(hook.settings)


def test_missing_connection_names_the_id(token_cache):
    with pytest.raises(SurveySphereConfigError, match="'nowhere'.*not defined"):
        SurveySphereHook("nowhere", token_cache=token_cache).get_token()


# Permanent errors are tried once and transient ones use the task's retries: tests/e2e/test_task_runs.py.


def test_shared_process_cache_is_the_default(set_connection):
    from airflow_provider_surveysphere.token import PROCESS_TOKEN_CACHE

    assert SurveySphereHook().token_cache is PROCESS_TOKEN_CACHE


def test_expired_tokens_of_finished_task_runs_are_dropped(clock):
    from airflow_provider_surveysphere.token import AccessToken

    cache = TokenCache(clock=clock)
    cache.get("run-1", lambda: AccessToken("t1", 60, clock.now + 60), leeway=0)
    clock.advance(61)
    cache.get("run-2", lambda: AccessToken("t2", 60, clock.now + 60), leeway=0)
    assert "run-1" not in cache._tokens and cache._tokens["run-2"].value == "t2"


def test_expired_task_runs_leave_no_lock_behind(clock):
    from airflow_provider_surveysphere.token import AccessToken

    cache = TokenCache(clock=clock)
    for run in range(100):
        cache.get(f"run-{run}", lambda: AccessToken("t", 60, clock.now + 60), leeway=0)
        clock.advance(61)
    assert len(cache._tokens) == 1 and len(cache._locks) == 1  # the last run's; not one per run


def test_close_closes_the_token_clients_session_too(hook, mocked_api, monkeypatch):
    mocked_api.get(SURVEYS, json=[])
    hook.request("GET", "api/v1/surveys")
    closed: list[object] = []
    sessions = {id(hook.get_conn()): "data", id(hook.token_client.session): "token"}
    monkeypatch.setattr(requests.Session, "close", lambda self: closed.append(sessions.get(id(self))))
    hook.close()
    assert sorted(closed) == ["data", "token"]


def test_ui_test_message_does_not_name_the_temporary_connection_id(set_connection, token_cache, mocked):
    """Airflow's Test button tests the form under a random connection id the user never saw."""
    temporary = "tmpq8x2kz0f"
    set_connection(temporary)
    mocked.post(TOKEN_URL, json=token_answer())
    ok, message = SurveySphereHook(temporary, token_cache=token_cache).test_connection()
    assert ok and temporary not in message
    mocked.replace(responses.POST, TOKEN_URL, status=401, json={"error": "invalid_client"})
    ok, message = SurveySphereHook(temporary, token_cache=token_cache).test_connection()
    assert not ok and "invalid_client" in message and temporary not in message
    set_connection(temporary, extra={"verify": "of"})
    ok, message = SurveySphereHook(temporary, token_cache=token_cache).test_connection()
    assert not ok and message.startswith("SurveySphere connection: extra.verify:") and temporary not in message


def test_the_environment_proxy_settings_are_read_once_per_origin_and_still_apply(hook, mocked_api, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    lookups: list[str] = []
    real_lookup = requests.sessions.get_environ_proxies

    def counting_lookup(url, no_proxy=None):
        lookups.append(url)
        return real_lookup(url, no_proxy=no_proxy)

    seen: list[object] = []
    real_send = requests.adapters.HTTPAdapter.send

    def spy(adapter, request, **kwargs):
        seen.append(kwargs.get("proxies"))
        return real_send(adapter, request, **kwargs)

    mocked_api.get(SURVEYS, json=[])
    with monkeypatch.context() as patch:
        patch.setattr(requests.sessions, "get_environ_proxies", counting_lookup)
        patch.setattr(requests.adapters.HTTPAdapter, "send", spy)
        for page in range(5):
            hook.request("GET", "api/v1/surveys", params={"page": page})
        hook.get_conn().get(SURVEYS, proxies={"https": "http://other.internal:8080"})  # the caller's own
    assert len([url for url in lookups if url.startswith(SURVEYS)]) == 2  # once for the five, once for the call
    assert seen[-6:-1] == [{"https": "http://proxy.internal:3128"}] * 5  # seen[0]: the token request
    assert seen[-1] == {"https": "http://other.internal:8080"}


def test_the_page_sender_sends_nothing_once_the_paging_stopped(hook, mocked_api):
    from airflow_provider_surveysphere.exceptions import SurveySpherePagingStopped
    from airflow_provider_surveysphere.page import PageRequest
    from airflow_provider_surveysphere.stopping import Stop

    mocked_api.get(f"{BASE_URL}/api/items", json=[{"id": 1}])
    send_page = hook.paginate("api/items").send
    stop = Stop()
    assert send_page(PageRequest("api/items"), stop).json() == [{"id": 1}]
    stop.set()
    with pytest.raises(SurveySpherePagingStopped):
        send_page(PageRequest("api/items"), stop)
    assert len([call for call in mocked_api.calls if call.request.url.startswith(f"{BASE_URL}/api/")]) == 1


def test_a_401_is_not_re_sent_once_the_paging_stopped_while_the_new_token_was_fetched(hook, mocked):
    from airflow_provider_surveysphere.exceptions import SurveySpherePagingStopped
    from airflow_provider_surveysphere.page import PageRequest
    from airflow_provider_surveysphere.stopping import Stop

    stop = Stop()

    def new_token(request: Any) -> tuple[int, dict[str, str], str]:
        stop.set()  # the consumer leaves while the refused token is being replaced
        return 200, {}, json.dumps(token_answer("new"))

    mocked.post(TOKEN_URL, json=token_answer("old"))
    mocked.add_callback(responses.POST, TOKEN_URL, callback=new_token)
    mocked.get(f"{BASE_URL}/api/items", status=401)
    send_page = hook.paginate("api/items").send
    with pytest.raises(SurveySpherePagingStopped):
        send_page(PageRequest("api/items"), stop)
    assert len([call for call in mocked.calls if call.request.url.startswith(f"{BASE_URL}/api/")]) == 1


def test_the_token_request_is_not_retried_once_the_paging_stopped(hook, mocked):
    from airflow_provider_surveysphere.exceptions import SurveySpherePagingStopped
    from airflow_provider_surveysphere.page import PageRequest
    from airflow_provider_surveysphere.stopping import Stop

    stop = Stop()

    def unavailable(request: Any) -> tuple[int, dict[str, str], str]:
        stop.set()  # the consumer leaves while the token endpoint asks to come back later
        return 503, {"Retry-After": "1"}, "{}"

    mocked.add_callback(responses.POST, TOKEN_URL, callback=unavailable)
    mocked.get(f"{BASE_URL}/api/items", json=[{"id": 1}])
    send_page = hook.paginate("api/items").send
    with pytest.raises(SurveySpherePagingStopped):
        send_page(PageRequest("api/items"), stop)
    assert len(token_calls(mocked)) == 1  # no retry after the stop (nor a wait for Retry-After)
    assert not [call for call in mocked.calls if call.request.url.startswith(f"{BASE_URL}/api/")]


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE_URL}.evil.example/api",  # the origin's text, then more host
        f"{BASE_URL}@evil.example/api",  # the origin's text as user info
        f"{BASE_URL}:8443/api",  # another port
        f"{BASE_URL.replace('https', 'http', 1)}/api",  # another scheme
    ],
)
def test_the_token_goes_only_to_urls_under_the_origin_and_a_slash(hook, mocked, url):
    """The auth accepts a URL that starts with its origin and "/" without parsing it: nothing else passes as one."""
    mocked.post(TOKEN_URL, json=token_answer())
    with pytest.raises(SurveySphereForeignHostError):
        hook.get_conn().get(url)
    assert not [call for call in mocked.calls if call.request.url != TOKEN_URL]


def test_the_endpoint_kept_from_the_last_request_is_the_one_asked_for(hook, set_connection):
    """The hook keeps the last endpoint it resolved (every page of an export asks for the same one)."""
    assert hook.url_for("api/v1/surveys") == SURVEYS
    assert hook.url_for("api/v1/other") == f"{BASE_URL}/api/v1/other"
    assert hook.url_for("api/v1/other") == f"{BASE_URL}/api/v1/other"
    assert hook.url_for("api/v1/surveys") == SURVEYS
    with pytest.raises(SurveySphereForeignHostError):
        hook.url_for("https://evil.example/api/v1/surveys")
    assert hook.url_for("api/v1/surveys") == SURVEYS
    set_connection(host="https://elsewhere.test")
    del hook.settings  # the connection read again (a new hook would do the same)
    assert hook.url_for("api/v1/surveys") == "https://elsewhere.test/api/v1/surveys"
