"""Nested records to flat rows: ``{"answers": {"q1": 5}}`` becomes the column ``answers.q1``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_surveysphere.codec import dumps
from airflow_provider_surveysphere.formats.errors import SurveySphereFormatError, first_unencodable, unencodable

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
        # A column is one field only if every record spells it the same way. Names whose keys hold no separator
        # cannot collide (splitting the name gives the keys back), so only the others keep their path; the rest
        # are remembered by name: cheaper per value than a path for every column.
        self._plain: set[str] = set()
        self._paths: dict[str, tuple[str, ...]] = {}

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
        self._walk(record, "", None, row, where)
        return row

    def _walk(
        self,
        node: Mapping[str, Any] | list[Any],
        prefix: str,
        path: tuple[str, ...] | None,
        row: dict[str, Any],
        where: str,
    ) -> None:
        """``path``: the keys so far when one of them holds the separator, else None."""
        items = node.items() if isinstance(node, Mapping) else enumerate(node)
        separator, plain, paths = self.separator, self._plain, self._paths
        for key, value in items:
            name = f"{prefix}{key}"
            odd = path
            if odd is None and type(key) is str and separator in key:
                odd = tuple(prefix.split(separator)[:-1]) if prefix else ()
            if odd is not None:
                odd = (*odd, str(key))
            if isinstance(value, Mapping) and value:
                self._walk(value, name + separator, odd, row, where)
                continue
            if isinstance(value, list) and value and self.lists == "index":
                self._walk(value, name + separator, odd, row, where)
                continue
            if isinstance(value, Mapping):
                continue  # an empty object: no field, no column
            if odd is None:
                plain.add(name)
                if paths and name in paths:
                    self._collision(name, paths[name], tuple(name.split(separator)), where)
            else:
                seen = paths.setdefault(name, odd)
                if seen != odd:
                    self._collision(name, seen, odd, where)
                if name in plain:
                    self._collision(name, tuple(name.split(separator)), odd, where)
            row[name] = _json_text(value, name, where) if isinstance(value, list) else value

    def _collision(self, name: str, first: tuple[str, ...], second: tuple[str, ...], where: str) -> None:
        raise SurveySphereFormatError(
            where,
            f"two fields flatten to the column {name!r} ({_spell(first)} and {_spell(second)}: a key with "
            f"{self.separator!r} in its name and a nested path); pick another flatten_separator",
        )


def _json_text(value: Any, name: str, where: str) -> str:
    try:
        return dumps(value).decode()
    except UnicodeEncodeError:
        raise unencodable(where, [name], [[first_unencodable(value)]]) from None



def _spell(path: tuple[str, ...]) -> str:
    return " -> ".join(repr(key) for key in path)


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
