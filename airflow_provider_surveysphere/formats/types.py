"""Column types of a Parquet export: inferred from values, widened by one rule, checked when declared.

The types are ``bool``, ``int`` (64-bit), ``float`` (64-bit), ``timestamp`` (microseconds, UTC; an ISO 8601
string with a UTC offset or ``Z``) and ``string``. Widening: two types meet at the narrowest one that holds
both: ``int`` and ``float`` at ``float`` (at ``string`` when one of the ints is beyond what a float holds exactly),
anything else that differs at ``string``. A null fits every type.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_surveysphere.codec import dumps

TYPES = ("bool", "int", "float", "timestamp", "string")
ALIASES = {"boolean": "bool", "int64": "int", "integer": "int", "double": "float", "float64": "float", "str": "string"}
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def type_name(name: str) -> str | None:
    """The canonical type of a declared name (``"int64"`` is ``"int"``), or None for an unknown one."""
    name = ALIASES.get(name.lower(), name.lower()) if isinstance(name, str) else ""
    return name if name in TYPES else None


# The one date-time form a timestamp column takes, matched by hand rather than by datetime.fromisoformat, whose
# forms differ between Python 3.10 and 3.11+ (fraction digits, +HHMM, week dates): the same page must give the same
# schema on every supported Python. At most six fraction digits: a column of microseconds must not drop a seventh.
TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6}))?)?(?:[Zz]|([+-])(\d{2}):?(\d{2}))"
)


def parse_timestamp(text: str) -> datetime | None:
    """An ISO 8601 date-time with a UTC offset or ``Z`` (at most six fraction digits), in UTC; None for anything
    else (a naive time, a date alone, a week or ordinal date too)."""
    if len(text) < 16 or text[4:5] != "-" or text[10:11] not in ("T", " "):
        return None  # cheap refusal of most text before the expression runs
    match = TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, sign, off_hours, off_minutes = match.groups()
    try:
        offset = timedelta(hours=int(off_hours), minutes=int(off_minutes)) if sign else timedelta(0)
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
            int((fraction or "0").ljust(6, "0")), tzinfo=timezone(-offset if sign == "-" else offset),
        )
    except ValueError:  # a month 13, an hour 24, an offset of a day or more
        return None
    return moment.astimezone(timezone.utc)


def kind_of(value: Any) -> str | None:
    """The narrowest type that holds ``value``; None for a null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if INT64_MIN <= value <= INT64_MAX else "string"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str) and parse_timestamp(value) is not None:
        return "timestamp"
    return "string"


def widen(current: str | None, kind: str | None) -> str | None:
    """The type that holds values of both ``current`` and ``kind`` (the widening rule)."""
    if current is None or current == kind:
        return kind
    if kind is None:
        return current
    if {current, kind} == {"int", "float"}:
        return "float"
    return "string"


def fits(column_type: str, value: Any) -> bool:
    """Whether ``value`` can be stored in a column of ``column_type`` without changing its meaning."""
    if value is None or column_type == "string":
        return True
    kind = kind_of(value)
    return kind == column_type or (column_type == "float" and kind == "int" and exact_as_float(value))


def exact_as_float(value: int) -> bool:
    """Whether a float holds the int ``value`` exactly (every int up to 2**53 does, 2**60 + 1 does not)."""
    return float(value) == value


def convert(column_type: str, value: Any) -> Any:
    """``value`` as the column stores it (call :func:`fits` first)."""
    if value is None:
        return None
    if column_type == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, float) and not math.isfinite(value):
            return None  # NaN and infinities: null, as JSON Lines writes them (not the text "null")
        return dumps(value).decode()  # true/false, numbers as JSON writes them
    if column_type == "float":
        return float(value)
    if column_type == "timestamp":
        return parse_timestamp(value)
    return value
