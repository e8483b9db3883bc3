"""What the export writer asks of a format: bytes for each page, bytes for the end, and what was written."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from airflow_provider_surveysphere.formats.columns import ColumnLayout
from airflow_provider_surveysphere.formats.errors import record_position
from airflow_provider_surveysphere.formats.flatten import Flattener


class RecordEncoder(Protocol):
    """Turns pages of records into the bytes of one file.

    :attr name: the format's name (``"jsonl"``, ``"csv"``, ``"parquet"``)
    :attr compresses_itself: True when the format compresses inside the file (Parquet): the writer then
        adds no stream compression
    :attr takes_raw_records: True when the format writes records unchanged (JSON Lines): an export then reads
        them as raw JSON bytes (:class:`msgspec.Raw`) instead of decoding them, and :meth:`encode_page` gets those
    """

    name: str
    compresses_itself: bool
    takes_raw_records: bool

    def encode_page(self, records: list[Any]) -> bytes:
        """The bytes of one page of records, in order (possibly none, while a format buffers)."""

    def finish(self) -> bytes:
        """The file's last bytes (a header of an empty export, buffered rows, a footer)."""

    def schema(self) -> list[tuple[str, str | None]] | None:
        """The file's columns and their types (None where a format has no type), or None without columns."""

    def summary(self) -> dict[str, Any]:
        """What the export result should say about the format (``{"format": ...}``, ignored fields, ...)."""


class TabularEncoder:
    """Shared by CSV and Parquet: records flattened, then laid out in the export's columns.

    :param flattener: how nested records become flat rows
    :param columns: declared column names, or None to take the first page's
    :param on_new_field: ``"extra"``, ``"error"`` or ``"ignore"``, see :class:`~.columns.ColumnLayout`
    :param logger: where ignored fields are reported
    """

    name = "tabular"
    compresses_itself = False
    takes_raw_records = False  # flattening needs the values

    def __init__(
        self,
        flattener: Flattener,
        columns: list[str] | None,
        on_new_field: str,
        logger: logging.Logger | Any = None,
    ) -> None:
        self.flattener = flattener
        self.layout = ColumnLayout(columns, on_new_field, logger or logging.getLogger(__name__))
        self.pages = 0
        self.records = 0

    def rows(self, records: list[Any]) -> list[list[Any]]:
        """The next page's records as rows in the layout's column order."""
        self.pages += 1
        page, before, flatten = self.pages, self.records, self.flattener.flatten
        flat = [flatten(record, record_position(page, index, before)) for index, record in enumerate(records)]
        self.records += len(records)
        return self.layout.rows(flat, page)

    def summary(self) -> dict[str, Any]:
        result: dict[str, Any] = {"format": self.name}
        if self.layout.on_new_field == "ignore":
            result["ignored_fields"] = dict(self.layout.ignored)
        return result
