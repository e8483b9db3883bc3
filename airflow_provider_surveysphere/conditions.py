"""Conditions a sensor waits for, in a form that crosses into the triggerer.

A condition is plain JSON, so that the deferrable path can serialize it with the trigger:

* a test on one value, found by a dotted key (``"status"``, ``"data.0.submitted_at"``; a number picks
  a list item)::

      {"key": "status", "equals": "closed"}
      {"key": "status", "in": ["closed", "archived"]}
      {"key": "totalCount", "at_least": 500}
      {"key": "totalCount", "at_most": 10}
      {"key": "closed_at", "exists": True}

  Several tests in one leaf must all hold (``{"key": "n", "at_least": 1, "at_most": 9}``).
* a combination: ``{"all": [...]}`` or ``{"any": [...]}``;
* a function named by its import path, called with the answer's JSON: ``{"callable": "pkg.mod.func"}``
  (``"pkg.mod:func"`` works too). The function must be importable where the trigger runs.

A plain Python callable is accepted by :func:`compile_condition` only when ``allow_plain_callable`` is
set: the sensor allows it in poke and reschedule modes and refuses it in deferrable mode.

Each test's value has a type, checked when the condition is compiled, and a value of another type is refused
naming the key, the test and the value: ``exists`` takes ``true``/``false`` (or the text ``"true"``/``"false"``
in any case, what a rendered template gives); ``in`` a list (``equals`` and ``in`` compare as JSON:
``true`` is not ``1``); ``at_least``/``at_most`` a finite number or a text (a number as text, or an ISO 8601
timestamp, compared as instants whatever their offsets); ``equals`` any JSON value. A value that is still a Jinja
template (``"{{ params.n }}"``) is checked once it has been rendered (``templated=True``, the sensor's check
when the DAG is parsed; the task checks the rendered condition again when it runs).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from airflow_provider_surveysphere.exceptions import SurveySphereArgumentError
from airflow_provider_surveysphere.marks import parse_instant

ConditionSpec = Mapping[str, Any] | Callable[[Any], Any]

TESTS = ("equals", "in", "at_least", "at_most", "exists")
_MISSING = object()


@dataclass(frozen=True)
class Outcome:
    """Whether a condition holds, and the value it matched (for XCom).

    :param met: the condition holds
    :param value: a leaf's value at its key; a combination's ``{key: value}`` of its leaves that held;
        a callable's return value (the whole answer when it returned ``True``)
    """

    met: bool
    value: Any = None


def lookup(body: Any, key: str, default: Any = _MISSING) -> Any:
    """The value at dotted ``key`` in ``body``, or ``default``; numeric parts index lists."""
    value = body
    for part in key.split("."):
        if isinstance(value, Mapping):
            if part not in value:
                return default
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(value) <= index < len(value):
                return default
            value = value[index]
        else:
            return default
    return value


class Condition:
    """A compiled condition: call :meth:`evaluate` with an answer's JSON."""

    def evaluate(self, body: Any) -> Outcome:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class _Leaf(Condition):
    key: str
    tests: tuple[tuple[str, Any], ...]

    def evaluate(self, body: Any) -> Outcome:
        value = lookup(body, self.key)
        for test, expected in self.tests:
            if not self._holds(test, expected, value):
                return Outcome(False, None if value is _MISSING else value)
        return Outcome(True, None if value is _MISSING else value)

    def _holds(self, test: str, expected: Any, value: Any) -> bool:
        if test == "exists":
            return (value is not _MISSING and value is not None) == bool(expected)
        if value is _MISSING:
            return False
        if test == "equals":
            return json_equal(value, expected)
        if test == "in":
            return any(json_equal(value, item) for item in expected)
        if value is None:
            return False
        value, bound = _comparable(self.key, test, expected, value)
        return bool(value >= bound if test == "at_least" else value <= bound)


def json_equal(left: Any, right: Any) -> bool:
    """Equality of JSON values: ``true`` is not ``1`` and ``false`` is not ``0`` (Python's ``True == 1`` says they
    are), at any depth of lists and objects; ``1`` and ``1.0`` are the same JSON number."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, (list, tuple, Mapping)) or isinstance(right, (list, tuple, Mapping)):
        return False
    return bool(left == right)


def _comparable(key: str, test: str, bound: Any, value: Any) -> tuple[Any, Any]:
    """``(value, bound)`` as one type; a rendered template gives ``"500"`` for 500.

    Two texts compare as numbers when both read as numbers (``"9" < "10"``), as instants when both are ISO
    8601 timestamps (``...00Z`` and ``...00+00:00``, the form a rendered ``{{ data_interval_end }}`` takes, are
    the same instant; other offsets are converted), and as text otherwise.
    """
    if _is_number(value):
        if isinstance(bound, str):
            try:
                bound = float(bound)
            except ValueError:
                pass
        if _is_number(bound):
            return value, bound
    elif isinstance(value, str) and isinstance(bound, str):
        return _texts_comparable(value, bound)
    raise SurveySphereArgumentError(
        "condition",
        f"{key!r} {test} {bound!r}: the answer holds {type(value).__name__} {str(value)[:40]!r}, "
        "which cannot be compared with it",
    )


def _texts_comparable(value: str, bound: str) -> tuple[Any, Any]:
    try:
        as_numbers = float(value), float(bound)
    except ValueError:
        pass
    else:
        if all(math.isfinite(number) for number in as_numbers):
            return as_numbers
    try:
        return parse_instant(value), parse_instant(bound)
    except (ValueError, OverflowError):  # pendulum's ParserError is a ValueError
        return value, bound


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not (
        isinstance(value, float) and math.isnan(value)
    )


@dataclass(frozen=True)
class _Combination(Condition):
    mode: str  # "all" or "any"
    parts: tuple[Condition, ...]

    def evaluate(self, body: Any) -> Outcome:
        matched: dict[str, Any] = {}
        for part in self.parts:
            outcome = part.evaluate(body)
            if outcome.met:
                if isinstance(part, _Leaf):
                    matched[part.key] = outcome.value
                elif isinstance(outcome.value, dict):
                    matched.update(outcome.value)
                if self.mode == "any":
                    return Outcome(True, matched)
            elif self.mode == "all":
                return Outcome(False, None)
        return Outcome(self.mode == "all", matched if self.mode == "all" else None)


@dataclass(frozen=True)
class _Function(Condition):
    function: Callable[[Any], Any]

    def evaluate(self, body: Any) -> Outcome:
        result = self.function(body)
        if not result:
            return Outcome(False, None)
        return Outcome(True, body if result is True else result)


@dataclass(frozen=True)
class _Unrendered(Condition):
    """A part still holding a template: checked, and evaluated, only after rendering."""

    spec: Any

    def evaluate(self, body: Any) -> Outcome:
        raise SurveySphereArgumentError("condition", f"{self.spec!r} holds a template that was not rendered")


def import_callable(path: str) -> Callable[[Any], Any]:
    """Import ``pkg.mod.func`` or ``pkg.mod:func``; a clear error when it cannot."""
    module_name, _, name = path.partition(":") if ":" in path else path.rpartition(".")
    if not module_name or not name:
        raise SurveySphereArgumentError("condition", f"callable {path!r} is not an import path such as pkg.mod.func")
    try:
        function = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise SurveySphereArgumentError(
            "condition", f"callable {path!r} cannot be imported ({type(exc).__name__}: {exc})"
        ) from None
    if not callable(function):
        raise SurveySphereArgumentError("condition", f"{path!r} is not callable")
    return cast("Callable[[Any], Any]", function)


PLAIN_CALLABLE_REFUSED = (
    "a plain Python callable cannot be sent to the triggerer, so it does not work with deferrable=True; "
    "use a declarative condition such as {'key': 'status', 'equals': 'closed'}, or name an importable "
    "function: {'callable': 'my_package.checks.is_ready'} (or set deferrable=False to poke)"
)


def compile_condition(
    spec: ConditionSpec, *, allow_plain_callable: bool = False, templated: bool = False
) -> Condition:
    """Check a condition and turn it into something that evaluates answers.

    :param spec: the declarative form (see the module's documentation) or, when allowed, a callable
    :param allow_plain_callable: accept a Python callable (poke and reschedule modes only)
    :param templated: ``spec`` may not be rendered yet: a value that is a Jinja template is left to be
        checked after rendering (everything else is checked now); the result is for checking only
    :raises SurveySphereArgumentError: the condition is malformed, naming the part at fault
    """
    if templated and is_template(spec):
        return _Unrendered(spec)
    if callable(spec) and not isinstance(spec, Mapping):
        if not allow_plain_callable:
            raise SurveySphereArgumentError("condition", PLAIN_CALLABLE_REFUSED)
        return _Function(spec)
    if not isinstance(spec, Mapping):
        raise SurveySphereArgumentError(
            "condition", f"{type(spec).__name__} {str(spec)[:60]!r} is not a condition; see {__name__}"
        )
    keys = set(spec)
    for mode in ("all", "any"):
        if mode in keys:
            if keys != {mode}:
                raise SurveySphereArgumentError("condition", f"{mode!r} must stand alone, found {sorted(keys)}")
            parts = spec[mode]
            if isinstance(parts, (str, bytes, Mapping)) or not isinstance(parts, Sequence) or not parts:
                raise SurveySphereArgumentError("condition", f"{mode!r} needs a non-empty list of conditions")
            return _Combination(
                mode,
                tuple(
                    compile_condition(p, allow_plain_callable=allow_plain_callable, templated=templated)
                    for p in parts
                ),
            )
    if "callable" in keys:
        path = spec["callable"]
        if keys != {"callable"} or not isinstance(path, str):
            raise SurveySphereArgumentError("condition", "{'callable': 'pkg.mod.func'} takes one import path string")
        return _Unrendered(spec) if templated and is_template(path) else _Function(import_callable(path))
    key = spec.get("key")
    if not isinstance(key, str) or not key.strip():
        raise SurveySphereArgumentError(
            "condition", f"{dict(spec)!r} needs a 'key' (a dotted path such as 'status'), 'all', 'any' or 'callable'"
        )
    unknown = sorted(keys - {"key", *TESTS})
    if unknown:
        raise SurveySphereArgumentError(
            "condition", f"unknown test(s) {', '.join(unknown)} for key {key!r}; use {', '.join(TESTS)}"
        )
    tests = tuple((test, spec[test]) for test in TESTS if test in spec)
    if not tests:
        raise SurveySphereArgumentError("condition", f"key {key!r} has no test; add one of {', '.join(TESTS)}")
    if templated and any(is_template(expected) for _, expected in tests):
        return _Unrendered(spec)
    return _Leaf(key.strip(), tuple((test, _checked(key, test, expected)) for test, expected in tests))


def is_template(value: Any) -> bool:
    """Tell whether ``value`` is text holding Jinja markup, which only rendering turns into the real value."""
    return isinstance(value, str) and any(marker in value for marker in ("{{", "{%", "{#"))


_BOOLEAN_WORDS = {"true": True, "false": False}


def _checked(key: str, test: str, expected: Any) -> Any:
    """``expected`` as the test uses it; a value of the wrong type is refused, naming key, test and value."""

    def refuse(needed: str) -> SurveySphereArgumentError:
        return SurveySphereArgumentError(
            "condition", f"{test!r} for key {key!r} needs {needed}, got {type(expected).__name__} {expected!r}"
        )

    if test == "exists":
        if isinstance(expected, bool):
            return expected
        # A rendered template gives text; bool("False") would be True, the opposite of what was written.
        if isinstance(expected, str) and expected.strip().lower() in _BOOLEAN_WORDS:
            return _BOOLEAN_WORDS[expected.strip().lower()]
        raise refuse("true or false")
    if test == "in":
        if isinstance(expected, (str, bytes, Mapping)) or not isinstance(expected, Sequence):
            hint = " (a template renders to text: set render_template_as_native_obj=True on the DAG)"
            raise refuse("a list" + (hint if isinstance(expected, str) else ""))
        if not all(_is_json(item) for item in expected):
            raise refuse("a list of JSON values")
        return expected
    if test in ("at_least", "at_most"):
        if isinstance(expected, str):
            try:
                as_number = float(expected)
            except ValueError:
                return expected  # a timestamp, compared as text
            if not math.isfinite(as_number):  # "nan" never compares true, "inf" is a bound nothing reaches
                raise refuse("a finite number")
            return expected
        if _is_number(expected) and math.isfinite(expected):
            return expected
        raise refuse("a number or a string")
    if not _is_json(expected):  # equals
        raise refuse("a JSON value (text, number, true/false, null, list or object)")
    return expected


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_is_json(item) for item in value)
    return False


def jsonable(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a declarative condition with tuples turned into lists (JSON-safe kwargs)."""

    def convert(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): convert(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        return value

    return cast("dict[str, Any]", convert(spec))
