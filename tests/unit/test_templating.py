"""Templated fields rendered by Airflow itself: a mapping that rendered to a string, and strings that are not one.

Every test renders the operator's fields with Airflow's own ``render_template_fields`` (the DAG's
Jinja environment, its params), then executes it against the mocked API and looks at what was sent.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow.providers.common.compat.sdk import DAG
from airflow_provider_surveysphere.exceptions import SurveySphereArgumentError
from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator
from airflow_provider_surveysphere.pagination import PageNumberPagination

from tests.unit.conftest import BASE_URL, TOKEN_URL

SURVEYS = f"{BASE_URL}/api/v1/surveys"
PARAMS = {
    "filter": {"status": "open", "lang": "en"},
    "body": {"title": "a survey", "tags": ["x"]},
    "ids": [1, 2],
    "text": "plain words",
    "blank": "  ",
    "auth": "Bearer not-for-messages",
}


def rendered(hook, *, native: bool = False, **fields: Any) -> SurveySphereOperator:
    """The operator with its template fields rendered by Airflow, ready to execute with the test's hook."""
    with DAG(
        dag_id="templating",
        schedule=None,
        start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
        params=PARAMS,
        render_template_as_native_obj=native,
    ) as dag:
        op = SurveySphereOperator(task_id="call", **{"endpoint": "api/v1/surveys", **fields})
    op.render_template_fields({"params": dag.params.validate(), "ds": "2026-11-02"})
    op.hook = hook
    return op


def sent(mocked) -> Any:
    return next(call.request for call in mocked.calls if call.request.url != TOKEN_URL)


def test_query_params_rendered_to_a_dict_string_is_sent_as_that_mapping(hook, mocked_api):
    mocked_api.get(SURVEYS, json={"ok": 1})
    op = rendered(hook, query_params="{{ params.filter }}")
    assert op.query_params == "{'status': 'open', 'lang': 'en'}"  # what Airflow rendered: a str
    op.execute({})
    assert parse_qs(urlsplit(sent(mocked_api).url).query) == {"status": ["open"], "lang": ["en"]}


def test_query_params_rendered_to_json_is_that_mapping_and_values_inside_render_too(hook, mocked_api):
    mocked_api.get(SURVEYS, json={"ok": 1})
    rendered(hook, query_params="{{ params.filter | tojson }}").execute({})
    assert parse_qs(urlsplit(sent(mocked_api).url).query) == {"status": ["open"], "lang": ["en"]}
    mocked_api.calls.reset()
    rendered(hook, query_params={"since": "{{ ds }}"}).execute({})  # the usual form: a dict of templates
    assert parse_qs(urlsplit(sent(mocked_api).url).query) == {"since": ["2026-11-02"]}


def test_paginated_call_with_a_rendered_dict_string_filters_every_page(hook, mocked_api):
    mocked_api.get(SURVEYS, json={"data": [{"id": "a"}]})
    op = rendered(hook, query_params="{{ params.filter }}", pagination=PageNumberPagination(page_size=2),
                  records_key="data")
    assert op.execute({}) == [{"id": "a"}]
    query = parse_qs(urlsplit(sent(mocked_api).url).query)
    assert query["status"] == ["open"] and query["page"] == ["1"]


def test_native_rendering_passes_the_mapping_through(hook, mocked_api):
    mocked_api.get(SURVEYS, json={"ok": 1})
    op = rendered(hook, native=True, query_params="{{ params.filter }}")
    assert op.query_params == {"status": "open", "lang": "en"}
    op.execute({})
    assert parse_qs(urlsplit(sent(mocked_api).url).query) == {"status": ["open"], "lang": ["en"]}


@pytest.mark.parametrize(
    ("fields", "field", "shown"),
    [
        ({"query_params": "{{ params.text }}"}, "query_params", "'plain words'"),
        ({"query_params": "{{ params.ids }}"}, "query_params", "'[1, 2]'"),
        ({"query_params": "{{ params.blank }}"}, "query_params", "'  '"),
        ({"headers": "{{ params.auth }}"}, "headers", "a string of 23 characters"),
        ({"json": "{{ params.text }}", "method": "POST"}, "json", "'plain words'"),
        ({"json": "{{ params.filter.status }}", "method": "POST"}, "json", "'open'"),
    ],
)
def test_a_string_that_is_not_the_fields_kind_fails_before_any_request(hook, mocked, fields, field, shown):
    op = rendered(hook, **fields)
    with pytest.raises(SurveySphereArgumentError) as caught:
        op.execute({})
    message = str(caught.value)
    assert message.startswith(f"{field}: rendered to {shown}"), message
    assert "not-for-messages" not in message  # a header's text is never repeated
    assert len(mocked.calls) == 0


def test_headers_rendered_to_a_dict_string_are_sent(hook, mocked_api):
    mocked_api.get(SURVEYS, json={"ok": 1})
    rendered(hook, headers='{"X-Trace": "{{ ds }}"}').execute({})
    assert sent(mocked_api).headers["X-Trace"] == "2026-11-02"


@pytest.mark.parametrize("template", ["{{ params.body }}", "{{ params.body | tojson }}"])
def test_json_rendered_to_an_object_string_is_sent_as_that_object(hook, mocked_api, template):
    mocked_api.post(SURVEYS, json={"ok": 1})
    rendered(hook, method="POST", json=template).execute({})
    request = sent(mocked_api)
    assert json.loads(request.body) == {"title": "a survey", "tags": ["x"]}
    assert request.headers["Content-Type"] == "application/json"


def test_json_rendered_to_an_array_string_is_sent_as_that_array(hook, mocked_api):
    mocked_api.post(SURVEYS, json={"ok": 1})
    rendered(hook, method="POST", json="{{ params.ids }}").execute({})
    assert json.loads(sent(mocked_api).body) == [1, 2]


def test_data_rendered_from_a_dict_is_form_encoded(hook, mocked_api):
    mocked_api.post(SURVEYS, json={"ok": 1})
    rendered(hook, method="POST", data="{{ params.filter }}").execute({})
    request = sent(mocked_api)
    assert parse_qs(request.body) == {"status": ["open"], "lang": ["en"]}
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("template", "body"),
    [("{{ params.text }}", "plain words"), ("{{ params.filter | tojson }}", '{"lang": "en", "status": "open"}')],
)
def test_data_that_renders_to_text_or_json_text_is_sent_as_is(hook, mocked_api, template, body):
    mocked_api.post(SURVEYS, json={"ok": 1})
    rendered(hook, method="POST", data=template).execute({})
    assert sent(mocked_api).body == body


@pytest.mark.parametrize("field", ["endpoint", "output_path"])
def test_template_that_renders_to_nothing_is_a_clear_error(hook, mocked, tmp_path, field):
    fields = {"endpoint": "api/v1/surveys/s1/responses", "records_key": "data", "output_path": str(tmp_path / "x")}
    fields[field] = "{{ params.blank }}"
    op = rendered(hook, **fields)
    assert getattr(op, field) == "  "  # rendered by Airflow, not passed in
    with pytest.raises(SurveySphereArgumentError, match=f"{field}: .*render to nothing"):
        op.execute({})
    assert len(mocked.calls) == 0 and list(tmp_path.iterdir()) == []


def test_hook_paginate_refuses_a_string_of_params_instead_of_a_bare_value_error(hook, mocked):
    with pytest.raises(SurveySphereArgumentError, match="^params: rendered to 'status=open', not a JSON object"):
        hook.paginate("api/v1/surveys", params="status=open", pagination=PageNumberPagination())
    assert len(mocked.calls) == 0
