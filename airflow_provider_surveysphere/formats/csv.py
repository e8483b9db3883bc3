"""CSV: a header row, then one row per record; RFC 4180 quoting (the ``excel`` dialect), UTF-8.

Values: ``None`` is an empty field, booleans ``true``/``false``, numbers as in JSON, lists (and anything
nested kept whole) as JSON text. With ``formula_safe``, a text value (or header cell) that a spreadsheet would
run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets a leading ``'``, as
OWASP's CSV-injection advice says; numbers are never touched (docs/formats.md has the trade-off).
"""

from __future__ import annotations

import csv
import io
import logging
import math
from typing import Any

from airflow_provider_surveysphere.formats.base import TabularEncoder
from airflow_provider_surveysphere.formats.errors import unencodable
from airflow_provider_surveysphere.formats.flatten import Flattener

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
DEFAULT_DIALECT = "excel"


def csv_text(value: Any, formula_safe: bool) -> Any:
    """One field's text; None stays None (the csv module writes it as an empty field)."""
    if isinstance(value, str):
        if formula_safe and value.startswith(FORMULA_STARTS):
            return "'" + value
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN and infinities, which JSON cannot hold: null, as JSON Lines writes them
    return value


class CsvEncoder(TabularEncoder):
    """Flat rows as CSV with a header row.

    :param flattener: how nested records become flat rows
    :param columns: declared column names, or None to take the first page's
    :param on_new_field: ``"extra"``, ``"error"`` or ``"ignore"``
    :param dialect: a :mod:`csv` dialect name or class (``"excel"``: comma, ``"`` quoting, CRLF line ends)
    :param formula_safe: prefix text that a spreadsheet would run as a formula with ``'``
    :param logger: where ignored fields are reported
    """

    name = "csv"

    def __init__(
        self,
        flattener: Flattener,
        columns: list[str] | None = None,
        on_new_field: str = "extra",
        *,
        dialect: str | type[csv.Dialect] = DEFAULT_DIALECT,
        formula_safe: bool = True,
        logger: logging.Logger | Any = None,
    ) -> None:
        super().__init__(flattener, columns, on_new_field, logger)
        self.dialect = dialect
        self.formula_safe = formula_safe
        self._header_written = False

    def encode_page(self, records: list[Any]) -> bytes:
        rows = self.rows(records)
        if not self.layout.fixed:
            return b""
        buffer = io.StringIO()
        writer = csv.writer(buffer, dialect=self.dialect)
        safe = self.formula_safe
        if not self._header_written:
            writer.writerow(self._header())
            self._header_written = True
        writer.writerows([csv_text(value, safe) for value in row] for row in rows)
        try:
            return buffer.getvalue().encode()
        except UnicodeEncodeError:
            raise unencodable(f"page {self.pages}", self.layout.header, rows) from None

    def finish(self) -> bytes:
        waiting = self.layout.close()  # records without a field, when no record of the export had one
        if not self.layout.header or (self._header_written and not waiting):
            return b""
        buffer = io.StringIO()
        writer = csv.writer(buffer, dialect=self.dialect)
        if not self._header_written:  # an export without records still has its header
            writer.writerow(self._header())
            self._header_written = True
        writer.writerows(waiting)
        return buffer.getvalue().encode()

    def _header(self) -> list[str]:
        """The header row: the names are the records' keys, as open to formula injection as any value."""
        return [csv_text(name, self.formula_safe) for name in self.layout.header]

    def schema(self) -> list[tuple[str, str | None]] | None:
        return [(name, None) for name in self.layout.header] if self.layout.fixed else None
