"""Values of an incremental export's mark field (``submitted_at``): which are usable and how they compare.

* An ISO 8601 text is an instant: ``Z``, ``+00:00``, ``-00:00`` and no offset at all (taken as UTC, the
  API's convention) are the same zone; any number of fraction digits (``.5``, ``.500000``; past six the
  rest is dropped), a ``,`` fraction, the basic form (``20261130T100000Z``) and a bare date (midnight UTC)
  parse the same on every supported Python. ``...00Z`` and ``...00.000+00:00`` are the same instant.
* A number (not a bool) is a number: for sequence-like mark fields.
* ``null`` or a missing field is no mark value (:func:`mark_of` returns None); what the export does with
  such a record: :mod:`airflow_provider_surveysphere.incremental`.
* Anything else (text that is not ISO 8601, a bool, a list, ...) is refused, naming the field and value,
  and so is comparing an instant with a number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pendulum

from airflow_provider_surveysphere.exceptions import SurveySpherePermanentError


class SurveySphereMarkError(SurveySpherePermanentError):
    """A record's mark or id field holds a value an incremental export cannot use; a retry reads it again.

    :param field: the field (``time_key`` or ``id_key``)
    :param problem: what is wrong, naming the value
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"incremental export, field {field!r}: {problem}")


def parse_instant(text: str) -> datetime:
    """The instant an ISO 8601 text names, always offset-aware (no offset means UTC).

    Pendulum (a dependency of every supported Airflow) rather than ``datetime.fromisoformat``: on
    Python 3.10 the latter refuses ``Z`` and fractions of other than 3 or 6 digits.

    :param text: the text
    :raises ValueError: if ``text`` is not an ISO 8601 date or timestamp
    """
    parsed = pendulum.parse(text, tz="UTC")  # strict: ISO 8601 and RFC 3339 forms only
    if not isinstance(parsed, datetime):  # a duration or an interval ("P1D", "2026-01/2026-02")
        raise ValueError(f"{text!r} is not a date or timestamp")
    return parsed


@dataclass(frozen=True)
class Mark:
    """A usable mark value.

    :param value: the value as the API sent it (sent back as the ``since`` parameter)
    :param key: what compares: an offset-aware instant, or a number
    """

    value: Any
    key: datetime | int | float

    def compare(self, other: Mark, field: str) -> int:
        """-1, 0 or 1 as this mark is before, at or after ``other``."""
        if isinstance(self.key, datetime) != isinstance(other.key, datetime):
            raise SurveySphereMarkError(
                field, f"{self.value!r} and {other.value!r} cannot be compared: one is a timestamp, the other a number"
            )
        return (self.key > other.key) - (self.key < other.key)  # type: ignore[operator]


def as_mark(value: Any, field: str) -> Mark | None:
    """``value`` as a mark; None for ``null`` (no mark value).

    :param value: the field's value
    :param field: the field's name, for the error
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return Mark(value, parse_instant(value))
        except ValueError:
            raise SurveySphereMarkError(field, f"{value!r} is not an ISO 8601 date or timestamp") from None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return Mark(value, value)
    raise SurveySphereMarkError(field, f"{value!r} is neither an ISO 8601 timestamp nor a number")


def mark_of(record: Mapping[str, Any], field: str) -> Mark | None:
    """The mark value of ``record``; None when the field is ``null`` or missing."""
    return as_mark(record.get(field), field)
