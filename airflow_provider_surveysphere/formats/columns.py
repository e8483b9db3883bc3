"""Which columns a CSV or Parquet export has, and what happens to a field that is not one of them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from airflow_provider_surveysphere.codec import dumps
from airflow_provider_surveysphere.formats.errors import SurveySphereFormatError, first_unencodable, unencodable

log = logging.getLogger(__name__)

EXTRA_COLUMN = "_extra"
NEW_FIELD_RULES = ("extra", "error", "ignore")


class ColumnLayout:
    """The export's columns, fixed by ``columns`` or by the first page with a field, in order of first appearance.

    Records before that page have no field at all (``{}``): they wait, as a count, and become rows of nulls once
    the columns are known (or at the end, :meth:`close`), so that an empty first page does not fix empty columns.

    A field outside them is handled by ``on_new_field``:

    - ``"extra"``: the record's unknown fields go, as one JSON object, into the column :data:`EXTRA_COLUMN`
      (last in every file, empty when a record has none);
    - ``"error"``: the export fails naming the field and its page;
    - ``"ignore"``: the field is dropped, counted in :attr:`ignored` and logged once per field.

    :param columns: declared column names, in order; None to take the first page's
    :param on_new_field: ``"extra"``, ``"error"`` or ``"ignore"``
    :param logger: where an ignored field is reported
    """

    def __init__(
        self, columns: Sequence[str] | None, on_new_field: str = "extra", logger: logging.Logger | Any = log
    ) -> None:
        self.on_new_field = on_new_field
        self.logger = logger
        self.names: list[str] | None = None
        self._index: dict[str, int] = {}
        self.ignored: dict[str, int] = {}
        self._waiting = 0
        if columns is not None:
            self._fix(list(columns))

    @property
    def fixed(self) -> bool:
        return self.names is not None

    @property
    def header(self) -> list[str]:
        """Every column of the file: the data columns, then ``_extra`` with ``on_new_field="extra"``."""
        names = self.names or []
        return [*names, EXTRA_COLUMN] if self.on_new_field == "extra" else list(names)

    def _fix(self, names: list[str]) -> None:
        if EXTRA_COLUMN in names and self.on_new_field == "extra":
            raise SurveySphereFormatError(
                "columns", f"{EXTRA_COLUMN!r} is the column of new fields (on_new_field='extra'); rename the field"
            )
        self.names = names
        self._index = {name: position for position, name in enumerate(names)}

    def rows(self, flat: list[dict[str, Any]], page: int) -> list[list[Any]]:
        """The page's flat records as rows in :attr:`header` order (after any that waited for the columns); the
        first page with a field fixes the columns.

        :param flat: the page's records, flattened
        :param page: the page's number, for errors
        """
        if self.names is None:
            names = list(dict.fromkeys(name for row in flat for name in row))
            if not names:
                self._waiting += len(flat)
                return []
            self._fix(names)
        index, width = self._index, len(self._index)
        extra_mode = self.on_new_field == "extra"
        rows = self._waited()
        for record in flat:
            row: list[Any] = [None] * width
            unknown: dict[str, Any] | None = None
            for name, value in record.items():
                position = index.get(name)
                if position is not None:
                    row[position] = value
                else:
                    if unknown is None:
                        unknown = {}
                    unknown[name] = value
            if unknown:
                self._new_fields(unknown, page)
            if extra_mode:
                row.append(self._extra_text(unknown, page) if unknown else None)
            rows.append(row)
        return rows

    @staticmethod
    def _extra_text(unknown: dict[str, Any], page: int) -> str:
        try:
            return dumps(unknown).decode()
        except UnicodeEncodeError:
            raise unencodable(f"page {page}", [EXTRA_COLUMN], [[first_unencodable(unknown)]]) from None

    def close(self) -> list[list[Any]]:
        """At the end of the export: fix the columns if no record had a field, and return the rows still waiting."""
        if self.names is None:
            self.names, self._index = [], {}  # no field anywhere: only _extra, or no column at all
        return self._waited()

    def _waited(self) -> list[list[Any]]:
        count, self._waiting = self._waiting, 0
        return [[None] * len(self.header) for _ in range(count)]

    def _new_fields(self, unknown: dict[str, Any], page: int) -> None:
        if self.on_new_field == "error":
            name = next(iter(unknown))
            raise SurveySphereFormatError(
                f"page {page}",
                f"the field {name!r} is not one of the export's columns (on_new_field='error'); add it to columns, "
                "or use on_new_field='extra' or 'ignore'",
            )
        if self.on_new_field == "ignore":
            for name in unknown:
                if name not in self.ignored:
                    self.ignored[name] = 0
                    self.logger.warning(
                        "Page %d: the field %r is not one of the export's columns; dropped (on_new_field='ignore')",
                        page, name,
                    )
                self.ignored[name] += 1
