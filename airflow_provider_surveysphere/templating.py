"""What a templated field that rendered to a string means.

Airflow renders a Jinja template to a string unless the DAG sets ``render_template_as_native_obj``:
``query_params="{{ params.q }}"`` with ``params={"q": {"status": "open"}}`` becomes the text
``"{'status': 'open'}"``. Sent as is, that text is garbage (a query string of one odd key, a header
requests refuses), so each mapping field turns such a string back into the mapping it stands for, and
refuses any other string with an error naming the field and what it rendered to.

The rules, field by field:

- ``query_params`` and ``headers``: a string holding a JSON object or a Python dict literal is that
  mapping; any other string fails (the text of a header is not repeated: it may hold a credential).
- ``json``: a string holding a JSON object or array, or a Python dict or list literal, is that value;
  any other string fails (a raw text body belongs in ``data``).
- ``data``: a string is a legitimate raw body and is sent as is, with one exception: a string that
  is not JSON but is a Python dict literal (what a rendered dict looks like) is that mapping, sent
  form-encoded. JSON text stays raw text, as a user who wrote ``data='{"a": 1}'`` meant.

And a template that Jinja cannot render (an undefined name, a syntax error) fails the same way on every
try, so :func:`template_errors_are_permanent` fails the task at once, naming the task and the problem,
instead of waiting for its retries.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import jinja2

from airflow_provider_surveysphere.exceptions import SurveySphereArgumentError, SurveySphereTemplateError

#: How much of a rendered value an error message repeats.
SHOWN = 80


def _shown(field: str, text: str) -> str:
    if field == "headers":
        return f"a string of {len(text)} characters"
    return repr(text if len(text) <= SHOWN else text[: SHOWN - 1] + "…")


def _python_literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _parsed(text: str, kinds: tuple[type, ...]) -> Any:
    """``text`` as a JSON or Python-literal value of one of ``kinds``, or None."""
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return None
    for parse in (_json, _python_literal):
        value = parse(stripped)
        if isinstance(value, kinds):
            return value
    return None


def mapping_field(field: str, value: Any) -> Any:
    """A mapping field (``query_params``, ``headers``) after rendering: a string becomes its mapping or fails.

    :param field: the argument's name, for the error
    :param value: the rendered value; anything but a string is returned unchanged
    :raises SurveySphereArgumentError: a string that does not hold a mapping
    """
    if not isinstance(value, str):
        return value
    mapping = _parsed(value, (dict,))
    if mapping is None:
        raise SurveySphereArgumentError(
            field,
            f"rendered to {_shown(field, value)}, not a JSON object or Python dict literal; render a mapping "
            "(or set render_template_as_native_obj=True on the DAG)",
        )
    return mapping


def json_field(value: Any) -> Any:
    """The ``json`` body after rendering: a string holding an object or array becomes it, other strings fail."""
    if not isinstance(value, str):
        return value
    parsed = _parsed(value, (dict, list))
    if parsed is None:
        raise SurveySphereArgumentError(
            "json",
            f"rendered to {_shown('json', value)}, not a JSON object or array (nor a Python dict or list literal); "
            "pass a raw text body as data instead",
        )
    return parsed


def data_field(value: Any) -> Any:
    """The ``data`` body after rendering: raw text stays raw, a rendered Python dict becomes the form mapping."""
    if not isinstance(value, str) or not value.strip().startswith("{") or _json(value) is not None:
        return value
    mapping = _python_literal(value.strip())
    return mapping if isinstance(mapping, Mapping) else value


@contextmanager
def template_errors_are_permanent(task_id: str) -> Iterator[None]:
    """Turn a Jinja error raised inside the block into :class:`SurveySphereTemplateError`.

    :param task_id: the task being rendered, named in the error
    """
    try:
        yield
    except jinja2.TemplateError as exc:
        raise SurveySphereTemplateError(task_id, str(exc) or type(exc).__name__) from None
