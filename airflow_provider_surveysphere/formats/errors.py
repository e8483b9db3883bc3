"""The error a record raises when it cannot become a row of a CSV or Parquet file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_surveysphere.exceptions import SurveySpherePermanentError


class SurveySphereFormatError(SurveySpherePermanentError, ValueError):
    """A record does not fit the export's columns (not an object, a name collision, a new field with
    ``on_new_field="error"``, a value outside its declared type).

    Permanent: the same records fail the same way on every retry.

    :param where: which record or page (``record 3 of page 2``)
    :param problem: what is wrong, naming the column and, where it helps, the value
    """

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        super().__init__(f"{where}: {problem}")


def record_position(page: int, index: int, before: int) -> str:
    """``record 3 of page 2 (record 1003 of the export)``; every number 1-based.

    :param page: the page's number in the export
    :param index: the record's 0-based index on its page
    :param before: records of the export before this page
    """
    return f"record {index + 1} of page {page} (record {before + index + 1} of the export)"


def unencodable(where: str, header: list[str], rows: list[list[Any]]) -> SurveySphereFormatError:
    """The error for rows that UTF-8 cannot encode: the first column name or text holding a lone surrogate.

    JSON may escape half of a UTF-16 surrogate pair (``"\\ud800"``) and the parser keeps it; no UTF-8 file can.

    :param where: which page or row group
    :param header: the file's columns
    :param rows: the rows that failed, in ``header`` order
    """
    problem = "holds a lone surrogate (half of a UTF-16 pair, \\ud800-\\udfff in the JSON), which UTF-8 cannot encode"
    for name in header:
        if not _utf8(name):
            return SurveySphereFormatError(where, f"column {name!r}: the name {problem}")
    for row in rows:
        for name, value in zip(header, row, strict=False):
            if isinstance(value, str) and not _utf8(value):
                shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:59] + "…"
                return SurveySphereFormatError(where, f"column {name!r}: {shown} {problem}")
    return SurveySphereFormatError(where, f"a value {problem}")


def first_unencodable(value: Any) -> Any:
    """The first text inside ``value`` (a list or object, at any depth) that UTF-8 cannot encode."""
    stack = [value]
    while stack:
        item = stack.pop(0)
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return item
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
