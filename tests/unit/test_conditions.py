"""Declarative conditions: each test, combinations, import paths, and the refusal of plain callables."""

from __future__ import annotations

import pytest

from airflow_provider_surveysphere.conditions import PLAIN_CALLABLE_REFUSED, Outcome, compile_condition, lookup
from airflow_provider_surveysphere.exceptions import SurveySphereArgumentError

SURVEY = {"id": "srv-0001", "status": "closed", "totalCount": 512, "data": [{"submitted_at": "2026-11-01T00:00:00Z"}]}


def is_closed(body):  # used through its import path
    return body.get("status") == "closed" and {"closed": True}


@pytest.mark.parametrize(
    ("spec", "met", "value"),
    [
        ({"key": "status", "equals": "closed"}, True, "closed"),
        ({"key": "status", "equals": "open"}, False, "closed"),
        ({"key": "status", "in": ["closed", "archived"]}, True, "closed"),
        ({"key": "status", "in": ["open"]}, False, "closed"),
        ({"key": "totalCount", "at_least": 500}, True, 512),
        ({"key": "totalCount", "at_least": 513}, False, 512),
        ({"key": "totalCount", "at_most": 512}, True, 512),
        ({"key": "totalCount", "at_most": 511}, False, 512),
        ({"key": "totalCount", "at_least": "500"}, True, 512),  # a rendered template gives text
        ({"key": "totalCount", "at_least": 500, "at_most": 600}, True, 512),
        ({"key": "totalCount", "at_least": 500, "at_most": 510}, False, 512),
        ({"key": "data.0.submitted_at", "at_least": "2026-11-01T00:00:00Z"}, True, "2026-11-01T00:00:00Z"),
        ({"key": "data.-1.submitted_at", "exists": True}, True, "2026-11-01T00:00:00Z"),
        ({"key": "data.5.submitted_at", "exists": True}, False, None),
        ({"key": "closed_at", "exists": False}, True, None),
        ({"key": "closed_at", "equals": None}, False, None),  # a missing key equals nothing
        ({"all": [{"key": "status", "equals": "closed"}, {"key": "totalCount", "at_least": 500}]}, True,
         {"status": "closed", "totalCount": 512}),
        ({"all": [{"key": "status", "equals": "closed"}, {"key": "totalCount", "at_least": 600}]}, False, None),
        ({"any": [{"key": "status", "equals": "open"}, {"key": "totalCount", "at_least": 500}]}, True, {"totalCount": 512}),
        ({"any": [{"key": "status", "equals": "open"}, {"key": "totalCount", "at_least": 600}]}, False, None),
        ({"callable": f"{__name__}.is_closed"}, True, {"closed": True}),
        ({"callable": f"{__name__}:is_closed"}, True, {"closed": True}),
    ],
)
def test_condition_outcomes(spec, met, value):
    assert compile_condition(spec).evaluate(SURVEY) == Outcome(met, value)


def test_callable_returning_true_matches_the_whole_answer():
    condition = compile_condition(lambda body: True, allow_plain_callable=True)
    assert condition.evaluate(SURVEY) == Outcome(True, SURVEY)


def test_plain_callable_is_refused_with_what_to_use_instead():
    with pytest.raises(SurveySphereArgumentError) as caught:
        compile_condition(lambda body: True)
    assert str(caught.value) == f"condition: {PLAIN_CALLABLE_REFUSED}"
    assert "{'callable': " in str(caught.value) and "'equals'" in str(caught.value)
    nested = {"any": [{"key": "status", "equals": "x"}, lambda body: True]}
    with pytest.raises(SurveySphereArgumentError, match="cannot be sent to the triggerer"):
        compile_condition(nested)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"key": "status", "equal": "closed"}, "unknown test(s) equal for key 'status'"),
        ({"key": "status"}, "key 'status' has no test"),
        ({"equals": "closed"}, "needs a 'key'"),
        ({"key": "status", "in": "closed"}, "'in' for key 'status' needs a list"),
        ({"key": "n", "at_least": True}, "'at_least' for key 'n' needs a number"),
        ({"all": []}, "'all' needs a non-empty list"),
        ({"all": [{"key": "a", "exists": True}], "key": "b"}, "'all' must stand alone"),
        ({"callable": "no_such_module_xyz.check"}, "cannot be imported"),
        ({"callable": "check"}, "is not an import path"),
        ("status == closed", "is not a condition"),
    ],
)
def test_malformed_conditions_name_the_part_at_fault(spec, message):
    with pytest.raises(SurveySphereArgumentError) as caught:
        compile_condition(spec)
    assert message in str(caught.value)


def test_comparing_text_with_a_number_fails_loudly():
    condition = compile_condition({"key": "status", "at_least": 5})
    with pytest.raises(SurveySphereArgumentError, match="'status' at_least 5: the answer holds str 'closed'"):
        condition.evaluate(SURVEY)


def test_lookup_follows_dotted_keys_and_list_indexes():
    assert lookup(SURVEY, "data.0.submitted_at") == "2026-11-01T00:00:00Z"
    assert lookup(SURVEY, "data.x", "absent") == "absent"
    assert lookup(SURVEY, "status.deeper", None) is None


@pytest.mark.parametrize(
    ("spec", "met"),
    [
        ({"key": "closed_at", "exists": "False"}, True),  # what a rendered template gives: False, not bool("False")
        ({"key": "status", "exists": "False"}, False),
        ({"key": "status", "exists": " TRUE "}, True),
        ({"key": "closed_at", "exists": "true"}, False),
    ],
)
def test_exists_reads_true_and_false_as_text(spec, met):
    assert compile_condition(spec).evaluate(SURVEY).met is met


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"key": "closed_at", "exists": "maybe"}, "'exists' for key 'closed_at' needs true or false, got str 'maybe'"),
        ({"key": "closed_at", "exists": 0}, "'exists' for key 'closed_at' needs true or false, got int 0"),
        ({"key": "closed_at", "exists": None}, "'exists' for key 'closed_at' needs true or false, got NoneType None"),
        ({"key": "n", "at_least": [5]}, "'at_least' for key 'n' needs a number or a string, got list [5]"),
        ({"key": "n", "at_most": {"v": 5}}, "'at_most' for key 'n' needs a number or a string, got dict {'v': 5}"),
        ({"key": "n", "at_most": float("nan")}, "'at_most' for key 'n' needs a number or a string, got float nan"),
        ({"key": "n", "at_least": None}, "'at_least' for key 'n' needs a number or a string, got NoneType None"),
        ({"key": "s", "in": [{1, 2}]}, "'in' for key 's' needs a list of JSON values, got list [{1, 2}]"),
        ({"key": "s", "equals": object}, "'equals' for key 's' needs a JSON value"),
        ({"any": [{"key": "s", "equals": "x"}, {"key": "t", "exists": "no"}]}, "'exists' for key 't'"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_key_and_value(spec, message):
    with pytest.raises(SurveySphereArgumentError) as caught:
        compile_condition(spec)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "spec",
    [
        {"key": "closed_at", "exists": "{{ params.flag }}"},
        {"all": [{"key": "status", "in": "{% if params.late %}{{ params.late }}{% endif %}"}]},
        {"callable": "{{ params.check }}"},
        "{{ params.condition }}",
    ],
)
def test_a_template_is_checked_after_rendering(spec):
    condition = compile_condition(spec, templated=True)  # at DAG parse time: not refused
    with pytest.raises(SurveySphereArgumentError):
        compile_condition(spec)  # once rendered, these texts are the wrong type (or not an import path)
    with pytest.raises(SurveySphereArgumentError, match="not rendered"):
        condition.evaluate(SURVEY)


def test_a_wrong_value_that_is_not_a_template_is_refused_even_when_templated():
    with pytest.raises(SurveySphereArgumentError, match="'exists' for key 'k' needs true or false"):
        compile_condition({"all": [{"key": "k", "exists": "{{ x }}"}, {"key": "k", "exists": "yes"}]}, templated=True)


@pytest.mark.parametrize(
    ("spec", "body", "met"),
    [
        ({"key": "closed", "equals": True}, {"closed": 1}, False),  # Python says True == 1; JSON does not
        ({"key": "count", "equals": 1}, {"count": True}, False),
        ({"key": "count", "equals": 0}, {"count": False}, False),
        ({"key": "count", "in": [1, 2]}, {"count": True}, False),
        ({"key": "flag", "in": [False, None]}, {"flag": 0}, False),
        ({"key": "tags", "equals": [1, {"a": True}]}, {"tags": [True, {"a": 1}]}, False),
        ({"key": "closed", "equals": True}, {"closed": True}, True),
        ({"key": "count", "equals": 1}, {"count": 1.0}, True),  # one JSON number
        ({"key": "count", "in": [0, 1]}, {"count": 1}, True),
        ({"key": "tags", "equals": [1, {"a": True}]}, {"tags": [1.0, {"a": True}]}, True),
        ({"key": "tags", "in": [[1, 2]]}, {"tags": [1, 2]}, True),
    ],
)
def test_equals_and_in_keep_json_true_and_false_apart_from_numbers(spec, body, met):
    assert compile_condition(spec).evaluate(body).met is met


@pytest.mark.parametrize("bound", ["nan", " NaN ", "inf", "-Infinity", "1e400"])
def test_a_bound_given_as_text_must_be_a_finite_number(bound):
    """As a rendered template gives it: "nan" used to pass and then blame the answer at every poll."""
    with pytest.raises(SurveySphereArgumentError, match=r"'at_least' for key 'n' needs a finite number"):
        compile_condition({"key": "n", "at_least": bound})
    assert compile_condition({"key": "n", "at_least": " 10 "}).evaluate({"n": 50}).met is True


def test_a_list_rendered_as_text_is_refused_with_the_way_out():
    """String rendering turns ``{{ params.states }}`` into "['closed', 'archived']": say how to get a list."""
    with pytest.raises(SurveySphereArgumentError, match="render_template_as_native_obj=True"):
        compile_condition({"key": "s", "in": "['closed', 'archived']"})


@pytest.mark.parametrize(
    ("spec", "body", "met"),
    [
        # the API's "Z" form against a rendered {{ data_interval_end }} ("+00:00"): the same instant
        ({"key": "t", "at_most": "2026-11-30T10:00:00+00:00"}, {"t": "2026-11-30T10:00:00Z"}, True),
        ({"key": "t", "at_least": "2026-11-30T10:00:00+00:00"}, {"t": "2026-11-30T09:59:59.5Z"}, False),
        ({"key": "t", "at_most": "2026-11-30T10:00:00Z"}, {"t": "2026-11-30T11:00:00+02:00"}, True),  # 09:00 UTC
        ({"key": "n", "at_most": "10"}, {"n": "9"}, True),  # numbers as text compare as numbers
        ({"key": "n", "at_least": "10"}, {"n": "9"}, False),
        ({"key": "s", "at_least": "b"}, {"s": "c"}, True),  # other text still compares as text
    ],
)
def test_texts_compare_as_instants_or_numbers_when_both_are(spec, body, met):
    assert compile_condition(spec).evaluate(body).met is met
