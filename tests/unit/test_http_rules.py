"""One set of HTTP rules for both clients: the same table of cases through the hook (requests) and the
triggers' client (httpx), against the sandbox over HTTPS with a private CA on loopback.

The rules (``http_rules.py``): the connection's ``verify`` wins; unset, ``REQUESTS_CA_BUNDLE`` then
``CURL_CA_BUNDLE`` name the CA bundle (an empty one is skipped), as requests reads them; else the default
bundle. An endpoint is absolute only when it starts with ``scheme://`` or ``//``; the token goes to the
connection's origin only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_surveysphere.async_client import SurveySphereAsyncClient, load_settings
from airflow_provider_surveysphere.exceptions import (
    SurveySphereArgumentError,
    SurveySphereConfigError,
    SurveySphereForeignHostError,
    SurveySphereTLSError,
)
from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
from airflow_provider_surveysphere.sandbox import SandboxConfig, SandboxServer
from airflow_provider_surveysphere.sandbox.certificates import _write_certificates
from airflow_provider_surveysphere.token import TokenCache

Get = Callable[[str], Any]


def sync_get(endpoint: str) -> Any:
    """GET through the hook, as poke mode does."""
    hook = SurveySphereHook(token_cache=TokenCache())
    try:
        return hook.request("GET", endpoint).json()
    finally:
        hook.close()


def async_get(endpoint: str) -> Any:
    """GET through the triggers' client, built as a trigger builds it (settings read, client made in a thread)."""

    async def run() -> Any:
        settings = await load_settings("surveysphere_default")
        client = await asyncio.to_thread(SurveySphereAsyncClient, settings, max_retry_wait=5)
        async with client:
            return await client.get_json(endpoint)

    return asyncio.run(run())


CLIENTS = [pytest.param(sync_get, id="hook (requests)"), pytest.param(async_get, id="trigger (httpx)")]


@pytest.fixture(scope="module")
def https_sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(config=SandboxConfig(surveys=1, responses_per_survey=5), https=True) as server:
        yield server


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A CA bundle of another private CA: valid, but not the one that signed the sandbox's certificate."""
    return str(_write_certificates(tmp_path_factory.mktemp("other-ca"), "localhost")[0])


@pytest.fixture
def connect(https_sandbox, set_connection, monkeypatch) -> Callable[..., None]:
    """Point the default connection at the HTTPS sandbox, with ``extra`` and exactly ``environ`` set."""

    def define(extra: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> None:
        for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
            monkeypatch.delenv(name, raising=False)
        for name, value in (environ or {}).items():
            monkeypatch.setenv(name, value)
        set_connection(host=https_sandbox.base_url, login=https_sandbox.config.client_id,
                       password=https_sandbox.config.client_secret, extra={"max_retries": 0, **(extra or {})})

    return define


CA, OTHER = "<the sandbox's CA>", "<another CA>"

#: (verify extra, environment, outcome): "ok", "tls" (the certificate does not verify), or the field a
#: missing CA bundle is blamed on.
TLS_CASES = {
    "nothing set: the default bundle, which does not hold the private CA": (None, {}, "tls"),
    "REQUESTS_CA_BUNDLE": (None, {"REQUESTS_CA_BUNDLE": CA}, "ok"),
    "CURL_CA_BUNDLE": (None, {"CURL_CA_BUNDLE": CA}, "ok"),
    "REQUESTS_CA_BUNDLE before CURL_CA_BUNDLE": (None, {"REQUESTS_CA_BUNDLE": OTHER, "CURL_CA_BUNDLE": CA}, "tls"),
    "an empty REQUESTS_CA_BUNDLE is skipped": (None, {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": CA}, "ok"),
    "SSL_CERT_FILE is not a requests variable": (None, {"SSL_CERT_FILE": CA}, "tls"),
    "the connection's CA bundle wins": (CA, {"REQUESTS_CA_BUNDLE": OTHER}, "ok"),
    "the connection's other CA wins": (OTHER, {"REQUESTS_CA_BUNDLE": CA}, "tls"),
    "the connection's verify=true means the default bundle": ("true", {"REQUESTS_CA_BUNDLE": CA}, "tls"),
    "the connection's verify=false wins": ("false", {"REQUESTS_CA_BUNDLE": OTHER}, "ok"),
    "a missing REQUESTS_CA_BUNDLE is named": (None, {"REQUESTS_CA_BUNDLE": "/no/such.pem"}, "verify (REQUESTS_CA_BUNDLE)"),
    "a missing CURL_CA_BUNDLE is named": (None, {"CURL_CA_BUNDLE": "/no/such.pem"}, "verify (CURL_CA_BUNDLE)"),
}


@pytest.mark.parametrize("get", CLIENTS)
@pytest.mark.parametrize(("verify", "environ", "outcome"), list(TLS_CASES.values()), ids=list(TLS_CASES))
def test_tls_rules_are_the_same_in_both_clients(get: Get, connect, https_sandbox, other_ca, verify, environ, outcome):
    def resolve(value: str) -> str:
        return {CA: https_sandbox.ca_cert_path, OTHER: other_ca}.get(value, value)

    connect(extra={} if verify is None else {"verify": resolve(verify)},
            environ={name: resolve(value) for name, value in environ.items()})
    if outcome == "ok":
        assert get("api/v1/surveys")["data"]
    elif outcome == "tls":
        with pytest.raises(SurveySphereTLSError, match="TLS certificate verification failed"):
            get("api/v1/surveys")
    else:
        with pytest.raises(SurveySphereConfigError, match="cannot be read") as caught:
            get("api/v1/surveys")
        assert caught.value.field == outcome


def test_a_ca_directory_works_in_both_clients(connect, https_sandbox, tmp_path):
    """``verify`` may name a directory of hashed CA certificates (OpenSSL's capath), as requests allows."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("naming a certificate by its subject hash takes the openssl command")
    digest = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", https_sandbox.ca_cert_path],
                            check=True, capture_output=True, text=True).stdout.strip()
    (tmp_path / f"{digest}.0").write_bytes(Path(https_sandbox.ca_cert_path).read_bytes())
    connect(extra={"verify": str(tmp_path)})
    assert sync_get("api/v1/surveys")["data"] and async_get("api/v1/surveys")["data"]


#: endpoint (with {base} for the sandbox's base URL) -> "ok" or the foreign host named
URL_CASES = {
    "a relative path": ("api/v1/surveys", "ok"),
    "a leading slash": ("/api/v1/surveys", "ok"),
    "a URL in the query stays relative": ("api/v1/surveys?source=https://example.org/form", "ok"),
    "an absolute URL on the origin": ("{base}/api/v1/surveys", "ok"),
    "an absolute URL in upper case": ("{BASE}/api/v1/surveys", "ok"),
    "another host": ("https://elsewhere.example/api/v1/surveys", "elsewhere.example"),
    "a scheme-relative URL": ("//elsewhere.example/api/v1/surveys", "elsewhere.example"),
    "another port on the same host": ("{scheme_host}:1/api/v1/surveys", ":1"),
    "plain http to the same host and port": ("{http}/api/v1/surveys", None),
    # requests goes to elsewhere.example, httpx and urllib to the sandbox: both clients refuse it alike
    "a backslash before @": ("https://elsewhere.example\\@{hostport}/api/v1/surveys", "backslash"),
}


@pytest.mark.parametrize("get", CLIENTS)
@pytest.mark.parametrize(("endpoint", "outcome"), list(URL_CASES.values()), ids=list(URL_CASES))
def test_endpoint_rules_are_the_same_in_both_clients(get: Get, connect, https_sandbox, endpoint, outcome):
    connect(extra={"verify": https_sandbox.ca_cert_path})
    base = https_sandbox.base_url
    scheme_host = base.rsplit(":", 1)[0]
    endpoint = endpoint.format(base=base, BASE=base.upper(), scheme_host=scheme_host,
                               http=base.replace("https://", "http://"), hostport=base.removeprefix("https://"))
    before = https_sandbox.stats["requests"]
    if outcome == "ok":
        assert get(endpoint)["data"]
        return
    with pytest.raises(SurveySphereForeignHostError, match="only https://.* may receive the token") as caught:
        get(endpoint)
    if outcome:
        assert outcome in str(caught.value)
    assert https_sandbox.stats["requests"] == before  # refused before anything was sent


#: endpoint -> (the error, what its message names); the message must hold none of the URL's secrets
SECRET_URL_CASES = {
    "user info": ("https://user:s3cret@elsewhere.example/x?api_key=k1", "https://elsewhere.example"),
    "a scheme without a host": ("http:/x?api_key=k1", "a http: URL without a host"),
    "another scheme": ("mailto:x?api_key=k1", "a mailto: URL without a host"),
    "a port out of range": ("https://elsewhere.example:99999/x?api_key=k1", "https://elsewhere.example has an invalid port"),
}


@pytest.mark.parametrize("get", CLIENTS)
@pytest.mark.parametrize(("endpoint", "named"), list(SECRET_URL_CASES.values()), ids=list(SECRET_URL_CASES))
def test_a_refused_endpoint_is_named_without_its_secrets(get: Get, connect, https_sandbox, endpoint, named):
    """The refusal reaches logs and the trigger's events: user info, path and query stay out of it."""
    connect(extra={"verify": https_sandbox.ca_cert_path})
    before = https_sandbox.stats["requests"]
    with pytest.raises((SurveySphereForeignHostError, SurveySphereArgumentError)) as caught:
        get(endpoint)
    message = str(caught.value)
    assert named in message
    assert "s3cret" not in message and "k1" not in message and "user" not in message
    assert https_sandbox.stats["requests"] == before
