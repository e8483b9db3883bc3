"""A wrong or unreachable host: the error names host, port and cause in words, fast, on the first attempt.

Real sockets on loopback, no ``responses``: a port that refuses (bound, then closed), a listening socket
that never answers (a timeout), and a ``.invalid`` host whose name resolution is made to fail at once
(``socket.getaddrinfo`` raises ``gaierror`` as a resolver does, so no network or DNS is needed).
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator

import pytest

from airflow_provider_surveysphere.exceptions import (
    SurveySphereConnectionError,
    SurveySpherePermanentError,
    SurveySphereTLSError,
)
from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
from airflow_provider_surveysphere.token import TokenCache

from tests.unit.conftest import CLIENT_SECRET


@pytest.fixture
def refused_port() -> int:
    """A loopback port nothing listens on: bound to learn a free one, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


@pytest.fixture
def unresolvable(monkeypatch: pytest.MonkeyPatch) -> str:
    """``nowhere.invalid`` fails to resolve at once, as RFC 6761 says it must, whatever the machine's DNS."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(host).endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return "nowhere.invalid"


def hook_for(set_connection: Callable[..., None], token_cache: TokenCache, host: str, **extra: object) -> SurveySphereHook:
    set_connection(host=host, extra={"max_retries": 2, **extra})
    hook = SurveySphereHook(token_cache=token_cache)
    hook.backoff_factor = 0
    hook.backoff_jitter = 0
    return hook


def test_a_refused_port_is_named_with_its_cause(set_connection, token_cache, refused_port):
    hook = hook_for(set_connection, token_cache, f"http://127.0.0.1:{refused_port}")
    with pytest.raises(SurveySphereConnectionError) as caught:
        hook.request("GET", "api/v1/surveys?token=abc")
    message = str(caught.value)
    assert f"cannot connect to 127.0.0.1:{refused_port}: connection refused" in message
    assert "POST /connect/token" in message  # the token request is the first to go there
    assert "abc" not in message and CLIENT_SECRET not in message
    assert not isinstance(caught.value, SurveySpherePermanentError)  # transient: the task's retries apply


def test_a_host_that_does_not_resolve_is_named_with_its_default_port(set_connection, token_cache, unresolvable):
    hook = hook_for(set_connection, token_cache, f"https://{unresolvable}")
    with pytest.raises(SurveySphereConnectionError) as caught:
        hook.get_token()
    assert caught.value.address == f"{unresolvable}:443"
    assert "the host name does not resolve" in str(caught.value) and "NameResolutionError" in str(caught.value)


def test_a_silent_server_times_out_with_the_cause_in_words(set_connection, token_cache, silent_port):
    hook = hook_for(set_connection, token_cache, f"http://127.0.0.1:{silent_port}", timeout=0.2, max_retries=0)
    with pytest.raises(SurveySphereConnectionError, match=f"127.0.0.1:{silent_port}: timed out"):
        hook.get_token()


def test_the_first_failed_attempt_is_logged_before_any_retry(set_connection, token_cache, unresolvable, caplog):
    hook = hook_for(set_connection, token_cache, f"https://{unresolvable}:8443")
    with caplog.at_level(logging.WARNING, logger="airflow_provider_surveysphere.session"):
        with pytest.raises(SurveySphereConnectionError):
            hook.get_token()
    lines = [r.getMessage() for r in caplog.records if r.name == "airflow_provider_surveysphere.session"]
    assert lines[0] == (
        f"SurveySphere POST /connect/token: cannot connect to {unresolvable}:8443: the host name does not resolve "
        "(check the Base URL for a typo) (NameResolutionError); retry 1 of 2"
    )
    assert len(lines) == 2  # one line per retry; the last attempt's failure is the raised error


def test_the_ui_test_makes_one_attempt_with_a_short_timeout_and_says_so(set_connection, token_cache, silent_port):
    hook = hook_for(set_connection, token_cache, f"http://127.0.0.1:{silent_port}", timeout=60, max_retries=5)
    hook.test_timeout = 0.3
    started = time.monotonic()
    ok, message = hook.test_connection()
    elapsed = time.monotonic() - started
    assert not ok and elapsed < 5, elapsed  # 60 s x 6 attempts without the cap
    assert f"cannot connect to 127.0.0.1:{silent_port}: timed out" in message
    assert message.endswith("[Test made one attempt, 0.3 s timeout; tasks retry up to max_retries times]")
    assert hook.token_client.settings.max_retries == 5  # the task's own client keeps its retries


def test_the_ui_test_of_a_refused_port_answers_at_once(set_connection, token_cache, refused_port, caplog):
    hook = hook_for(set_connection, token_cache, f"http://127.0.0.1:{refused_port}", max_retries=5)
    with caplog.at_level(logging.WARNING, logger="airflow_provider_surveysphere.session"):
        ok, message = hook.test_connection()
    assert not ok and "connection refused" in message and "one attempt" in message
    assert [r for r in caplog.records if "retry" in r.getMessage()] == []  # no retry was made


def test_tls_failures_name_the_host_and_port():
    import requests

    from airflow_provider_surveysphere.exceptions import transport_error

    error = transport_error("GET", "https://api.example.test:8443/x?k=1", "c", requests.exceptions.SSLError("bad"))
    assert isinstance(error, SurveySphereTLSError) and "with api.example.test:8443" in str(error)


def test_the_triggers_client_names_a_refused_port_in_the_same_words(set_connection, refused_port, caplog):
    """Deferrable mode meets the same host as poke mode: the same error class and words, each retry logged."""
    import asyncio

    from airflow_provider_surveysphere.async_client import SurveySphereAsyncClient, load_settings

    set_connection(host=f"http://127.0.0.1:{refused_port}", extra={"max_retries": 1})

    async def run() -> None:
        client = await asyncio.to_thread(SurveySphereAsyncClient, await load_settings("surveysphere_default"))
        client.backoff_factor = 0
        client.backoff_jitter = 0
        async with client:
            await client.get_json("api/v1/surveys?token=abc")

    with caplog.at_level(logging.WARNING), pytest.raises(SurveySphereConnectionError) as caught:
        asyncio.run(run())
    message = str(caught.value)
    assert f"cannot connect to 127.0.0.1:{refused_port}: connection refused" in message
    assert "abc" not in message and CLIENT_SECRET not in message
    assert not isinstance(caught.value, SurveySpherePermanentError)
    assert f"cannot connect to 127.0.0.1:{refused_port}: connection refused" in caplog.text
    assert "retry 1 of 1" in caplog.text


def _hook_request(set_connection: Callable[..., None], token_cache: TokenCache) -> None:
    hook_for(set_connection, token_cache, "https://api.example.com", max_retries=1).request("GET", "api/v1/surveys")


def _trigger_client_request(set_connection: Callable[..., None], token_cache: TokenCache) -> None:
    import asyncio

    from airflow_provider_surveysphere.async_client import SurveySphereAsyncClient, load_settings

    set_connection(host="https://api.example.com", extra={"max_retries": 1})

    async def run() -> None:
        client = await asyncio.to_thread(SurveySphereAsyncClient, await load_settings("surveysphere_default"))
        client.backoff_factor = 0
        client.backoff_jitter = 0
        async with client:
            await client.get_json("api/v1/surveys")

    asyncio.run(run())


@pytest.mark.parametrize("send", [_hook_request, _trigger_client_request], ids=["hook", "trigger"])
@pytest.mark.parametrize("proxy_host", ["127.0.0.1", "proxy.invalid"])
def test_through_a_proxy_the_proxy_is_named_not_the_base_url(
    set_connection, token_cache, refused_port, unresolvable, monkeypatch, caplog, proxy_host, send
):
    """A proxy that refuses or does not resolve is named as the proxy, by both clients: the Base URL is not
    at fault. The proxy's password never appears (its user info is left out).
    """
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://user:proxy-pass@{proxy_host}:{refused_port}")
    with caplog.at_level(logging.WARNING), pytest.raises(SurveySphereConnectionError) as caught:
        send(set_connection, token_cache)
    message = str(caught.value)
    assert f"cannot connect to api.example.com:443 through the proxy {proxy_host}:{refused_port}: " in message
    assert "Base URL" not in message and "proxy" in caught.value.cause
    assert caught.value.proxy == f"{proxy_host}:{refused_port}"
    assert f"through the proxy {proxy_host}:{refused_port}" in caplog.text  # the retry's log line too
    assert "proxy-pass" not in message + caplog.text


def test_the_retry_log_line_writes_an_ipv6_address_as_the_error_does(caplog):
    """``[::1]:8443``, not ``::1:8443`` (which reads as host ``::1:8443`` or port 1:8443)."""
    from urllib3 import HTTPConnectionPool

    from airflow_provider_surveysphere.session import CappedRetry

    pool = HTTPConnectionPool("::1", 8443)
    with caplog.at_level(logging.WARNING):
        CappedRetry(total=2, max_wait=1.0).increment("GET", "/api/v1/surveys", error=ConnectionRefusedError(), _pool=pool)
    assert "cannot connect to [::1]:8443: connection refused" in caplog.text
