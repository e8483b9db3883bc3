"""Column types of a Parquet export: inferred from values, widened by one rule, checked when declared.

The types are ``bool``, ``int`` (64-bit), ``float`` (64-bit), ``timestamp`` (microseconds, UTC; an ISO 8601
string with a UTC offset or ``Z``) and ``string``. Widening: two types meet at the narrowest one that holds
both: ``int`` and ``float`` at ``float``, anything else that differs at ``string``. A null fits every type.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from airflow_provider_surveysphere.codec import dumps

TYPES = ("bool", "int", "float", "timestamp", "string")
ALIASES = {"boolean": "bool", "int64": "int", "integer": "int", "double": "float", "float64": "float", "str": "string"}
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def type_name(name: str) -> str | None:
    """The canonical type of a declared name (``"int64"`` is ``"int"``), or None for an unknown one."""
    name = ALIASES.get(name.lower(), name.lower()) if isinstance(name, str) else ""
    return name if name in TYPES else None


def parse_timestamp(text: str) -> datetime | None:
    """An ISO 8601 date-time with a UTC offset or ``Z``, in UTC; None for anything else (a naive time too)."""
    if len(text) < 16 or text[4:5] != "-" or text[10:11] not in ("T", " "):
        return None  # cheap refusal of most text before the parser runs
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        return None
    if moment.tzinfo is None:
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
    return kind == column_type or (column_type == "float" and kind == "int")


def convert(column_type: str, value: Any) -> Any:
    """``value`` as the column stores it (call :func:`fits` first)."""
    if value is None:
        return None
    if column_type == "string":
        if isinstance(value, str):
            return value
        return dumps(value).decode()  # true/false, numbers as JSON writes them
    if column_type == "float":
        return float(value)
    if column_type == "timestamp":
        return parse_timestamp(value)
    return value
