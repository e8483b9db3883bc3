"""Nested records to flat rows: ``{"answers": {"q1": 5}}`` becomes the column ``answers.q1``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_surveysphere.codec import dumps
from airflow_provider_surveysphere.formats.errors import SurveySphereFormatError

LIST_MODES = ("json", "index")


class Flattener:
    """Turns one JSON object into ``{column: scalar}``.

    Nested objects become columns joined by ``separator``; an empty object has no field, so adds no column.
    Lists are kept whole as JSON text (``lists="json"``), or spread over one column per position
    (``lists="index"``: ``tags.0``, ``tags.1``; an empty list is then JSON text ``[]``).

    :param separator: joins the names of nested fields (``"."`` by default)
    :param lists: ``"json"`` or ``"index"``
    """

    def __init__(self, separator: str = ".", lists: str = "json") -> None:
        self.separator = separator
        self.lists = lists

    def flatten(self, record: Any, where: str) -> dict[str, Any]:
        """The flat row of ``record``.

        :param record: one record as parsed from the page
        :param where: the record's position, for errors
        :raises SurveySphereFormatError: the record is not an object, or two fields flatten to one name
        """
        if not isinstance(record, Mapping):
            raise SurveySphereFormatError(
                where, f"is a JSON {_json_kind(record)}, not an object; CSV and Parquet need one object per record"
            )
        row: dict[str, Any] = {}
        self._walk(record, "", row, where)
        return row

    def _walk(self, node: Mapping[str, Any] | list[Any], prefix: str, row: dict[str, Any], where: str) -> None:
        items = node.items() if isinstance(node, Mapping) else enumerate(node)
        for key, value in items:
            name = f"{prefix}{key}"
            if isinstance(value, Mapping) and value:
                self._walk(value, name + self.separator, row, where)
                continue
            if isinstance(value, list) and value and self.lists == "index":
                self._walk(value, name + self.separator, row, where)
                continue
            if isinstance(value, Mapping):
                continue  # an empty object: no field, no column
            if name in row:
                raise SurveySphereFormatError(
                    where,
                    f"two fields flatten to the column {name!r} (a key with {self.separator!r} in its name and a "
                    "nested path); pick another flatten_separator",
                )
            row[name] = dumps(value).decode() if isinstance(value, list) else value


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return type(value).__name__
