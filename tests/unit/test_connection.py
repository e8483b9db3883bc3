"""The surveysphere connection: every field's rules and the errors that name them."""

from __future__ import annotations

import json
import logging

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


def test_every_extra_is_read(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    s = settings(
        host="https://eu.example.org",
        extra='{"token_url": "https://auth.example.org/token", "scope": "read", "timeout": "12.5", '
        f'"verify": "{ca}", "max_retries": "3", "token_refresh_leeway": 30}}',
    )
    assert s.token_url == "https://auth.example.org/token"
    assert (s.scope, s.timeout, s.verify, s.max_retries, s.token_refresh_leeway) == ("read", 12.5, str(ca), 3, 30.0)


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


# -- verify: words or an existing CA bundle, checked before any request ------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("TRUE", True), ("Yes", True), ("on", True), ("1", True), (1, True), (True, True),
     ("false", False), ("No", False), ("OFF", False), ("0", False), (0, False), (False, False)],
)
def test_verify_accepts_the_usual_words_in_any_case(value, expected):
    assert settings(extra=json.dumps({"verify": value})).verify is expected


def test_verify_accepts_an_existing_ca_file_or_directory(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    assert settings(extra=json.dumps({"verify": str(ca)})).verify == str(ca)
    assert settings(extra=json.dumps({"verify": str(tmp_path)})).verify == str(tmp_path)


@pytest.mark.parametrize("value", ["of", "nope", "/no/such/ca-bundle.pem", "  "])
def test_verify_that_is_neither_a_word_nor_a_path_names_the_field(value):
    with pytest.raises(SurveySphereConfigError) as caught:
        settings(extra=json.dumps({"verify": value}))
    assert caught.value.field == "extra.verify" and "existing CA bundle" in str(caught.value)


def test_bad_verify_fails_at_connection_parsing_not_as_an_output_error(set_connection, mocked, tmp_path):
    """From the hook and from an exporting operator: the field is named, no request is sent, no file blamed."""
    from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator

    set_connection(extra={"verify": "of"})
    with pytest.raises(SurveySphereConfigError, match="extra.verify"):
        SurveySphereHook(token_cache=TokenCache()).request("GET", "api/v1/surveys")
    op = SurveySphereOperator(task_id="t", endpoint="api/v1/surveys", output_path=str(tmp_path / "out.jsonl"))
    op.hook = SurveySphereHook(token_cache=TokenCache())
    with pytest.raises(SurveySphereConfigError) as caught:
        op.execute({})
    assert caught.value.field == "extra.verify" and "output_path" not in str(caught.value)
    assert len(mocked.calls) == 0 and list(tmp_path.iterdir()) == []


# -- the host, port and schema: every value the user set is used or refused -------------------------------


def test_ipv6_host_from_a_uri(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SS_V6", "surveysphere://id:pw-long-enough@[::1]:8443/")
    s = SurveySphereHook("ss_v6", token_cache=TokenCache()).settings
    assert s.base_url == "https://[::1]:8443" and s.origin == "https://[::1]:8443"
    assert s.token_url == "https://[::1]:8443/connect/token"


@pytest.mark.parametrize(("host", "port", "expected"), [
    ("::1", 8443, "https://[::1]:8443"),
    ("2001:db8::5", None, "https://[2001:db8::5]"),
    ("https://[2001:db8::5]:9443/base", 9443, "https://[2001:db8::5]:9443/base"),
])
def test_ipv6_hosts(host, port, expected):
    assert settings(host=host, port=port).base_url == expected


def test_port_equal_to_the_hosts_port_or_filling_a_host_without_one_is_used_silently(caplog):
    with caplog.at_level(logging.WARNING, logger="airflow_provider_surveysphere.connection"):
        assert settings(host="https://h.example:8443", port=8443).base_url == "https://h.example:8443"
        assert settings(host="https://h.example", port=8443).base_url == "https://h.example:8443"
        assert settings(host="https://h.example", port=443).origin == "https://h.example"
    assert caplog.records == []


def test_the_base_urls_port_wins_over_a_different_port_field_with_a_warning(caplog):
    """A Port filled in once (as Airflow 3.3.0-3.3.2's Test needs) must not break a later Base URL change."""
    with caplog.at_level(logging.WARNING, logger="airflow_provider_surveysphere.connection"):
        moved = settings(host="https://h.example:8443/api", port=443)
    assert moved.base_url == "https://h.example:8443/api" and moved.token_url == "https://h.example:8443/api/connect/token"
    (record,) = caplog.records
    assert record.getMessage() == (
        "SurveySphere connection 'ss': Port 443 differs from the port 8443 in the Base URL "
        "'https://h.example:8443/api'; using 8443 (the Base URL's port wins; clear the Port field or make it equal)"
    )


def test_schema_is_refused_instead_of_ignored(monkeypatch):
    with pytest.raises(SurveySphereConfigError) as caught:
        settings(host="https://h.example", schema="api")
    assert caught.value.field == "schema" and "https://host/api" in str(caught.value)
    monkeypatch.setenv("AIRFLOW_CONN_SS_PATH", "surveysphere://id:pw-long-enough@h.example/api")
    with pytest.raises(SurveySphereConfigError, match="schema"):
        SurveySphereHook("ss_path", token_cache=TokenCache()).settings  # noqa: B018


@pytest.mark.parametrize(("value", "expected"), [(2.0, 2), ("2.0", 2), ("3", 3), (0, 0)])
def test_max_retries_accepts_whole_numbers_written_as_floats(value, expected):
    assert settings(extra=json.dumps({"max_retries": value})).max_retries == expected


@pytest.mark.parametrize("value", [2.5, "2.5", True, "inf", "nan"])
def test_max_retries_refuses_fractions_and_booleans(value):
    with pytest.raises(SurveySphereConfigError, match="extra.max_retries.*whole number"):
        settings(extra=json.dumps({"max_retries": value}))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"host": "https://user:pa55word-x@h.example"}, "host (Base URL)"),
        ({"host": "user:pa55word-x@h.example"}, "host (Base URL)"),
        ({"host": "https://user:pa55word-x@h.example:99999"}, "host (Base URL)"),
        ({"extra": json.dumps({"token_url": "https://user:pa55word-x@auth.example/t"})}, "extra.token_url"),
    ],
)
def test_credentials_in_a_url_are_refused_without_being_repeated(fields, field):
    with pytest.raises(SurveySphereConfigError) as caught:
        settings(**fields)
    assert caught.value.field == field
    assert "pa55word" not in str(caught.value) and "pa55word" not in repr(caught.value)


def test_relative_endpoint_with_a_url_in_its_query_stays_relative(hook):
    url = hook.url_for("api/v1/surveys?source=https://example.org/form")
    assert url == "https://api.surveysphere.test/api/v1/surveys?source=https://example.org/form"
    assert hook.url_for("https://api.surveysphere.test/x?next=https://a.example/") == (
        "https://api.surveysphere.test/x?next=https://a.example/"
    )


@pytest.mark.parametrize(("host", "port", "field", "words"), [
    ("https://h.example", 70000, "port", "70000 is not a TCP port (1-65535)"),
    ("https://h.example", -1, "port", "-1 is not a TCP port (1-65535)"),
    ("https://h.example:0", None, "host (Base URL)", "has port 0"),
])
def test_a_port_out_of_range_is_refused_naming_the_field(host, port, field, words):
    """Not a raw ``ValueError`` from urllib when the origin is computed: the field and value are named."""
    with pytest.raises(SurveySphereConfigError) as caught:
        settings(host=host, port=port)
    assert caught.value.field == field and words in str(caught.value)


def test_a_base_url_ending_in_a_colon_takes_the_port_field():
    """``https://h.example:`` has no port: the Port field fills it in (it used to give ``h.example::8443``)."""
    filled = settings(host="https://h.example:", port=8443)
    assert filled.base_url == "https://h.example:8443" and filled.origin == "https://h.example:8443"
    assert settings(host="https://h.example:").base_url == "https://h.example"
