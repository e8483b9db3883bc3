"""Template rendering errors become permanent task failures.

A template that Jinja cannot render (an undefined name, a syntax error) fails the same
way on every try, so the task fails at once with a message naming the task and the problem, instead of
waiting for its retries.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import jinja2

from airflow_provider_surveysphere.exceptions import SurveySphereTemplateError


@contextmanager
def template_errors_are_permanent(task_id: str) -> Iterator[None]:
    """Turn a Jinja error raised inside the block into :class:`SurveySphereTemplateError`.

    :param task_id: the task being rendered, named in the error
    """
    try:
        yield
    except jinja2.TemplateError as exc:
        raise SurveySphereTemplateError(task_id, str(exc) or type(exc).__name__) from None
