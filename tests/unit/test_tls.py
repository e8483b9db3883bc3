"""Transport security: HTTPS off loopback, certificate verification on by default, turning it off is logged.

Runs the sandbox over HTTPS with a certificate from a throwaway CA the system does not trust.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from airflow_provider_surveysphere.exceptions import SurveySphereConfigError, SurveySphereTLSError
from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
from airflow_provider_surveysphere.sandbox import SandboxConfig, SandboxServer
from airflow_provider_surveysphere.token import TokenCache

HOOK_LOGGER = "airflow.task.hooks.airflow_provider_surveysphere.hooks.surveysphere.SurveySphereHook"


@pytest.fixture(scope="module")
def https_sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(config=SandboxConfig(surveys=1, responses_per_survey=5), https=True) as server:
        yield server


@pytest.fixture
def https_hook(https_sandbox, set_connection, monkeypatch):
    """A hook on the HTTPS sandbox; pass the connection's extra to it."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # no environment trust store of the user's
        monkeypatch.delenv(name, raising=False)
    https_sandbox.reset()
    hooks: list[SurveySphereHook] = []

    def make(**extra) -> SurveySphereHook:
        set_connection(host=https_sandbox.base_url, login=https_sandbox.config.client_id,
                       password=https_sandbox.config.client_secret, extra={"max_retries": 0, **extra})
        hooks.append(SurveySphereHook(token_cache=TokenCache()))
        return hooks[-1]

    yield make
    for hook in hooks:
        hook.close()


def test_certificate_is_verified_by_default_and_a_failure_is_permanent(https_hook, https_sandbox):
    hook = https_hook(max_retries=3)
    assert hook.settings.verify is None  # nothing set: requests' default, which verifies
    with pytest.raises(SurveySphereTLSError, match="TLS certificate verification failed.*'surveysphere_default'"):
        hook.request("GET", "api/v1/surveys")
    stats = https_sandbox.stats
    assert stats["token_requests"] == 0 and stats["requests"] == 0  # the secret was never sent
    assert stats["connections"] == 1  # a certificate that fails verification is not retried


def test_a_ca_bundle_path_verifies_against_that_ca(https_hook, https_sandbox):
    hook = https_hook(verify=https_sandbox.ca_cert_path)
    assert hook.request("GET", "api/v1/surveys").json()["data"]
    assert https_sandbox.stats["tokens_issued"] == 1


def logged_warnings(caplog, capsys) -> list[str]:
    """Warning lines of the hook: from the logging records (Airflow 2) or structlog's output (Airflow 3)."""
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    captured = capsys.readouterr()
    lines += [line for line in (captured.out + captured.err).splitlines() if "[warning" in line]
    return [line for line in lines if "verification is OFF" in line]


def test_turning_verification_off_is_explicit_and_logged(https_hook, https_sandbox, caplog, capsys):
    with caplog.at_level(logging.WARNING):
        https_hook(verify=https_sandbox.ca_cert_path).request("GET", "api/v1/surveys")
        assert logged_warnings(caplog, capsys) == []  # verifying: nothing to warn about
        off = https_hook(verify="false")
        assert off.settings.verify is False  # only an explicit false turns it off
        off.request("GET", "api/v1/surveys")
        warnings = logged_warnings(caplog, capsys)
    assert len(warnings) == 1, warnings
    assert "TLS certificate verification is OFF for connection 'surveysphere_default'" in warnings[0]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"host": "http://api.surveysphere.test"}, "host (Base URL)"),
        ({"host": "http://10.0.0.5:8080"}, "host (Base URL)"),
        ({"extra": {"token_url": "http://auth.surveysphere.test/token"}}, "extra.token_url"),
    ],
)
def test_https_is_required_off_loopback(set_connection, fields, field):
    set_connection(**fields)
    with pytest.raises(SurveySphereConfigError, match="plain http:// is only allowed to a loopback host") as caught:
        SurveySphereHook(token_cache=TokenCache()).request("GET", "api/v1/surveys")
    assert caught.value.field == field


def test_a_ca_bundle_removed_after_parsing_names_the_setting(https_sandbox, https_hook, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text(open(https_sandbox.ca_cert_path).read())
    hook = https_hook(verify=str(ca))
    assert hook.settings.verify == str(ca)
    ca.unlink()
    with pytest.raises(SurveySphereConfigError) as caught:  # not requests' bare OSError
        hook.request("GET", "api/v1/surveys")
    assert caught.value.field == "extra.verify" and "cannot be read" in str(caught.value)


def test_a_missing_ca_bundle_from_the_environment_names_the_variables(https_hook, monkeypatch):
    hook = https_hook()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/no/such/bundle.pem")
    with pytest.raises(SurveySphereConfigError) as caught:
        hook.request("GET", "api/v1/surveys")
    assert caught.value.field == "verify (REQUESTS_CA_BUNDLE)"
