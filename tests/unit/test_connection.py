"""The surveysphere connection: every field's rules and the errors that name them."""

from __future__ import annotations

import pytest

from airflow.providers.common.compat.sdk import Connection
from airflow_provider_surveysphere.connection import SurveySphereConnectionSettings
from airflow_provider_surveysphere.exceptions import SurveySphereConfigError
from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
from airflow_provider_surveysphere.token import TokenCache


def settings(**fields) -> SurveySphereConnectionSettings:
    values = {"conn_id": "ss", "conn_type": "surveysphere", "login": "id", "password": "secret"}
    values.update(fields)
    return SurveySphereConnectionSettings.from_connection(Connection(**values))


def test_defaults_point_at_surveysphere():
    s = settings()
    assert s.base_url == "https://app.surveysphere.co.uk"
    assert s.token_url == "https://app.surveysphere.co.uk/connect/token"
    assert (s.timeout, s.max_retries, s.token_refresh_leeway, s.verify, s.scope) == (60.0, 5, 60.0, None, None)


def test_every_extra_is_read():
    s = settings(
        host="https://eu.example.org",
        extra='{"token_url": "https://auth.example.org/token", "scope": "read", "timeout": "12.5", '
        '"verify": "/etc/ca.pem", "max_retries": "3", "token_refresh_leeway": 30}',
    )
    assert s.token_url == "https://auth.example.org/token"
    assert (s.scope, s.timeout, s.verify, s.max_retries, s.token_refresh_leeway) == ("read", 12.5, "/etc/ca.pem", 3, 30.0)


def test_bare_host_means_https_and_port_is_kept():
    assert settings(host="app.surveysphere.co.uk").base_url == "https://app.surveysphere.co.uk"
    assert settings(host="127.0.0.1", port=8443).base_url == "https://127.0.0.1:8443"


def test_port_zero_is_no_port_and_the_form_s_port_reaches_the_same_origin():
    """Airflow 3.3's UI tests a connection with port 0 when its port is empty: 0 means "no port"."""
    assert settings(host="https://app.surveysphere.co.uk", port=0).base_url == "https://app.surveysphere.co.uk"
    assert settings(host="app.surveysphere.co.uk", port=443).origin == "https://app.surveysphere.co.uk"
    assert settings(host="http://127.0.0.1:8765", port=8765).base_url == "http://127.0.0.1:8765"


@pytest.mark.parametrize("host", ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9"])
def test_plain_http_is_allowed_to_loopback(host):
    assert settings(host=host).base_url == host


@pytest.mark.parametrize(
    ("fields", "field", "text"),
    [
        ({"login": ""}, "login (Client ID)", "empty"),
        ({"login": None}, "login (Client ID)", "empty"),
        ({"password": ""}, "password (Client Secret)", "empty"),
        ({"password": "   "}, "password (Client Secret)", "empty"),
        ({"host": "ftp://files.example.org"}, "host (Base URL)", "not an http(s) URL"),
        ({"host": "https://"}, "host (Base URL)", "not an http(s) URL"),
        ({"host": "not a url"}, "host (Base URL)", "not an http(s) URL"),
        ({"host": "http://app.surveysphere.co.uk"}, "host (Base URL)", "plain http:// is only allowed"),
        ({"extra": '{"timeout": "soon"}'}, "extra.timeout", "not a number"),
        ({"extra": '{"timeout": 0}'}, "extra.timeout", "greater than 0"),
        ({"extra": '{"max_retries": "many"}'}, "extra.max_retries", "whole number"),
        ({"extra": '{"token_refresh_leeway": -1}'}, "extra.token_refresh_leeway", "negative"),
        ({"extra": '{"token_url": "http://auth.example.org/t"}'}, "extra.token_url", "plain http://"),
        ({"extra": '{"timout": 5}'}, "extra", "unknown key(s) timout"),
        ({"extra": "[1, 2]"}, "extra", "not a JSON object"),
    ],
)
def test_bad_values_name_the_connection_and_the_field(fields, field, text):
    with pytest.raises(SurveySphereConfigError) as caught:
        settings(**fields)
    assert caught.value.conn_id == "ss" and caught.value.field == field
    assert "'ss'" in str(caught.value) and field in str(caught.value) and text in str(caught.value)
    assert "secret" not in str(caught.value).replace("Client Secret", "").replace("client secret", "")


def test_connection_from_a_uri_environment_variable(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SS_URI",
        "surveysphere://my-id:my%2Fsecret@app.surveysphere.co.uk/?timeout=30&max_retries=1",
    )
    s = SurveySphereHook("ss_uri", token_cache=TokenCache()).settings
    assert (s.client_id, s.client_secret, s.base_url, s.timeout, s.max_retries) == (
        "my-id", "my/secret", "https://app.surveysphere.co.uk", 30.0, 1
    )


def test_connection_from_a_json_environment_variable(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SS_JSON",
        '{"conn_type": "surveysphere", "host": "http://127.0.0.1:8080", "login": "a", "password": "b",'
        ' "extra": {"verify": false}}',
    )
    s = SurveySphereHook("ss_json", token_cache=TokenCache()).settings
    assert (s.base_url, s.verify) == ("http://127.0.0.1:8080", False)


def test_airflow_2_form_field_names_are_understood():
    s = settings(extra='{"extra__surveysphere__timeout": "9"}')
    assert s.timeout == 9.0


def test_settings_repr_hides_the_secret():
    assert "secret" not in repr(settings(password="secret")).lower().replace("client_secret", "")
