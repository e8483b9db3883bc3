"""Parquet through pyarrow (the ``[parquet]`` extra): typed columns, row groups, compressed inside the file.

Memory stays bounded: rows wait in a buffer of at most ``row_group_size`` rows, which is then written as one
row group; the bytes pyarrow writes go straight to the export's sink (a local temporary file or an S3 multipart
upload), so the file is published atomically like every other format.

Types come from ``columns`` (declared) or from the values (inferred: the first page's, widened by later pages
while the schema is still open, see :mod:`.types`). The first row group fixes the file's schema; after it, a
value that does not fit its column fails the export naming the column, the value and the page.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from airflow_provider_surveysphere.exceptions import SurveySphereArgumentError
from airflow_provider_surveysphere.formats.base import TabularEncoder
from airflow_provider_surveysphere.formats.columns import EXTRA_COLUMN
from airflow_provider_surveysphere.formats.errors import SurveySphereFormatError, unencodable
from airflow_provider_surveysphere.formats.flatten import Flattener
from airflow_provider_surveysphere.formats.types import convert, exact_as_float, fits, kind_of, widen

DEFAULT_ROW_GROUP_SIZE = 10_000
SHOWN = 60


def pyarrow_modules() -> tuple[Any, Any]:
    """``(pyarrow, pyarrow.parquet)``, or an error naming the extra that installs them."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise SurveySphereArgumentError(
            "output_format",
            "parquet needs pyarrow, which the provider installs as an extra: "
            "pip install 'airflow-provider-surveysphere[parquet]'",
        ) from None
    return pyarrow, pyarrow.parquet


def _text_kind(value: Any) -> str | None:
    return "string" if isinstance(value, str) else kind_of(value)


class _Drain:
    """The file object pyarrow writes to: it keeps the bytes until the encoder hands them to the sink."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._position = 0
        self.closed = False

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


class ParquetEncoder(TabularEncoder):
    """Flat rows as a Parquet file, ``row_group_size`` rows per row group.

    :param flattener: how nested records become flat rows
    :param columns: declared column names, or None to take the first page's
    :param on_new_field: ``"extra"``, ``"error"`` or ``"ignore"``
    :param types: declared types by column (``"int"``, ``"float"``, ``"bool"``, ``"timestamp"``, ``"string"``);
        a value that does not fit a declared type fails the export
    :param keep_text: inferred columns whose text is stored as text, never parsed as a timestamp (an incremental
        part's mark field: it must read back as the API sent it, and take any spelling a later record uses)
    :param row_group_size: rows per row group: with one page, what the encoder holds in memory
    :param compression: the codec inside the file: ``"zstd"``, ``"gzip"`` or None
    :param logger: where ignored fields are reported
    """

    name = "parquet"
    compresses_itself = True

    def __init__(
        self,
        flattener: Flattener,
        columns: list[str] | None = None,
        on_new_field: str = "extra",
        *,
        types: dict[str, str] | None = None,
        keep_text: Iterable[str] = (),
        row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
        compression: str | None = "zstd",
        logger: logging.Logger | Any = None,
    ) -> None:
        super().__init__(flattener, columns, on_new_field, logger)
        self._pa, self._pq = pyarrow_modules()
        self.declared = dict(types or {})
        self.declared[EXTRA_COLUMN] = "string"
        self.types: dict[str, str | None] = dict(self.declared)
        self.keep_text = frozenset(keep_text)
        self._inexact: set[str] = set()
        self.row_group_size = row_group_size
        self.compression = compression
        self._buffer: list[list[Any]] = []
        self._drain = _Drain()
        self._writer: Any = None

    def encode_page(self, records: list[Any]) -> bytes:
        rows = self.rows(records)
        if rows:
            self._check(rows)
            self._buffer.extend(rows)
        size = self.row_group_size
        while len(self._buffer) >= size:
            self._write_group(self._buffer[:size])
            del self._buffer[:size]
        return self._drain.take()

    def _check(self, rows: list[list[Any]]) -> None:
        """Infer or widen the open columns' types; refuse a value outside a declared or fixed type."""
        page, frozen = self.pages, self._writer is not None
        for name, values in zip(self.layout.header, zip(*rows, strict=True), strict=True):
            current = self.types.get(name)
            if name in self.declared or frozen:
                if current is None or current == "string":
                    continue
                for value in values:
                    if not fits(current, value):
                        self._refuse(name, current, value, page, declared=name in self.declared)
                continue
            kind = _text_kind if name in self.keep_text else kind_of
            for value in values:
                current = widen(current, kind_of_value := kind(value))
                if kind_of_value == "int" and not exact_as_float(value):
                    self._inexact.add(name)  # a float column would round it: int and float then meet at string
            if current == "float" and name in self._inexact:
                current = "string"
            self.types[name] = current

    def _refuse(self, name: str, column_type: str, value: Any, page: int, *, declared: bool) -> None:
        shown = repr(value) if len(repr(value)) <= SHOWN else repr(value)[: SHOWN - 1] + "…"
        why = (
            "its declared type"
            if declared
            else f"the type the first row group fixed ({self.row_group_size} rows; declare it in columns)"
        )
        raise SurveySphereFormatError(f"page {page}", f"column {name!r}: {shown} does not fit {column_type}, {why}")

    def _arrow_type(self, column_type: str | None) -> Any:
        pa = self._pa
        return {
            "bool": pa.bool_(),
            "int": pa.int64(),
            "float": pa.float64(),
            "timestamp": pa.timestamp("us", tz="UTC"),
        }.get(column_type or "string", pa.string())

    def _open(self) -> None:
        """Fix the schema (a column with only nulls so far is text) and start the file."""
        header = self.layout.header
        for name in header:
            if self.types.get(name) is None:
                self.types[name] = "string"
        self.arrow_schema = self._pa.schema([(name, self._arrow_type(self.types[name])) for name in header])
        self._writer = self._pq.ParquetWriter(self._drain, self.arrow_schema, compression=self.compression or "none")

    def _write_group(self, rows: list[list[Any]]) -> None:
        if self._writer is None:
            self._open()
        pa = self._pa
        arrays = []
        for name, values in zip(self.layout.header, zip(*rows, strict=True), strict=True):
            column_type = self.types[name] or "string"
            converted = [convert(column_type, value) for value in values]
            try:
                arrays.append(pa.array(converted, type=self._arrow_type(column_type)))
            except UnicodeEncodeError:
                raise unencodable(f"a row group up to page {self.pages}", self.layout.header, rows) from None
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self.arrow_schema), row_group_size=len(rows))

    def finish(self) -> bytes:
        self._buffer.extend(self.layout.close())  # records without a field, when no record of the export had one
        if self._writer is None:
            self._open()  # an export without records is still a valid file, with its columns
        size = self.row_group_size
        while self._buffer:
            self._write_group(self._buffer[:size])
            del self._buffer[:size]
        self._writer.close()
        return self._drain.take()

    def schema(self) -> list[tuple[str, str | None]] | None:
        if not self.layout.fixed:
            return None
        return [(name, self.types.get(name) or "string") for name in self.layout.header]
