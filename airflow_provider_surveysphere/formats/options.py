"""The export's format and its options, checked when the DAG is parsed and again once paths are rendered."""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_surveysphere.exceptions import SurveySphereArgumentError
from airflow_provider_surveysphere.formats.base import RecordEncoder
from airflow_provider_surveysphere.formats.columns import NEW_FIELD_RULES
from airflow_provider_surveysphere.formats.flatten import LIST_MODES, Flattener
from airflow_provider_surveysphere.formats.parquet import DEFAULT_ROW_GROUP_SIZE
from airflow_provider_surveysphere.formats.types import TYPES, type_name

FORMATS = ("jsonl", "csv", "parquet")
#: The extension of each format; the text formats may add ``.gz`` or ``.zst``.
EXTENSIONS = {".jsonl": "jsonl", ".csv": "csv", ".parquet": "parquet"}
TEXT_COMPRESSION_SUFFIXES = (".gz", ".zst")
ColumnSpec = str | tuple[str, str]


def format_of_name(name: str) -> str | None:
    """The format a file name's extension says (``x.csv.gz`` is csv), or None for another extension.

    :raises SurveySphereArgumentError: ``.parquet`` with ``.gz``/``.zst`` (Parquet compresses inside the file)
    """
    stem, suffix = os.path.splitext(name.lower())
    compressed = suffix in TEXT_COMPRESSION_SUFFIXES
    if compressed:
        stem, suffix = os.path.splitext(stem)
    found = EXTENSIONS.get(suffix)
    if found == "parquet" and compressed:
        raise SurveySphereArgumentError(
            "output_path", f"{name!r}: Parquet compresses inside the file; drop the compression suffix"
        )
    return found


def resolve_format(output_format: str | None, name: str | None) -> str:
    """The export's format: ``output_format`` if given, else the one ``name``'s extension says, else JSON Lines.

    :param output_format: ``"jsonl"``, ``"csv"``, ``"parquet"`` or None
    :param name: the output file's name, or None while it is a template
    :raises SurveySphereArgumentError: an unknown format, or one the extension contradicts
    """
    if output_format is not None and output_format not in FORMATS:
        raise SurveySphereArgumentError("output_format", f"is {output_format!r}; use one of {FORMATS}")
    by_name = format_of_name(name) if name else None
    if output_format is not None and by_name is not None and by_name != output_format:
        raise SurveySphereArgumentError(
            "output_format", f"is {output_format!r} but the output path {name!r} says {by_name!r}; make them agree"
        )
    return output_format or by_name or "jsonl"


def literal_name(path: Any) -> str | None:
    """The file name of an output path as written in the DAG, or None while its extension is still a template."""
    if path is None:
        return None
    name = os.path.basename(os.fspath(path) if isinstance(path, (str, os.PathLike)) else str(path))
    return None if "{{" in os.path.splitext(name)[1] or "}}" in os.path.splitext(name)[1] else name


@dataclass(frozen=True)
class FormatOptions:
    """How CSV and Parquet lay records out (JSON Lines ignores them; see docs/formats.md).

    :param columns: column names in order, each optionally ``(name, type)`` (types: Parquet only); None to take
        the first page's
    :param flatten_separator: joins nested field names (``answers.q1``)
    :param lists: ``"json"`` (a list is one column of JSON text) or ``"index"`` (one column per position)
    :param on_new_field: ``"extra"``, ``"error"`` or ``"ignore"``
    :param csv_dialect: a :mod:`csv` dialect name or class
    :param csv_formula_safe: prefix text a spreadsheet would run as a formula with ``'``
    :param row_group_size: Parquet rows per row group
    """

    columns: Sequence[ColumnSpec] | None = None
    flatten_separator: str = "."
    lists: str = "json"
    on_new_field: str = "extra"
    csv_dialect: str | type[csv.Dialect] = "excel"
    csv_formula_safe: bool = True
    row_group_size: int = DEFAULT_ROW_GROUP_SIZE
    names: list[str] | None = field(init=False, default=None)
    types: dict[str, str] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.flatten_separator, str) or not self.flatten_separator:
            raise SurveySphereArgumentError(
                "flatten_separator", f"is {self.flatten_separator!r}; use a non-empty string"
            )
        if self.lists not in LIST_MODES:
            raise SurveySphereArgumentError("lists", f"is {self.lists!r}; use one of {LIST_MODES}")
        if self.on_new_field not in NEW_FIELD_RULES:
            raise SurveySphereArgumentError("on_new_field", f"is {self.on_new_field!r}; use one of {NEW_FIELD_RULES}")
        if isinstance(self.csv_dialect, str) and self.csv_dialect not in csv.list_dialects():
            raise SurveySphereArgumentError("csv_dialect", f"is {self.csv_dialect!r}; use one of {csv.list_dialects()}")
        if isinstance(self.row_group_size, bool) or not isinstance(self.row_group_size, int) or self.row_group_size < 1:
            raise SurveySphereArgumentError("row_group_size", f"is {self.row_group_size!r}; use a positive integer")
        if self.columns is not None:
            names, types = _parse_columns(self.columns)
            if not names and self.on_new_field != "extra":
                raise SurveySphereArgumentError(
                    "columns", f"is empty: with on_new_field={self.on_new_field!r} no field could be written"
                )
            object.__setattr__(self, "names", names)
            object.__setattr__(self, "types", types)

    def check_for(self, output_format: str) -> None:
        """Refuse options that the format cannot use, rather than ignore them."""
        if output_format == "jsonl" and self.columns is not None:
            raise SurveySphereArgumentError("columns", "apply to csv and parquet; JSON Lines keeps records as they are")
        if output_format == "csv" and self.types:
            raise SurveySphereArgumentError("columns", "types apply to parquet only; give CSV column names")

    def encoder(
        self, output_format: str, compression: str | None, logger: logging.Logger | Any = None
    ) -> RecordEncoder:
        """A new encoder of ``output_format`` (one per export file).

        :param compression: for Parquet, its codec inside the file (``"infer"`` means zstd)
        """
        self.check_for(output_format)
        if output_format == "jsonl":
            from airflow_provider_surveysphere.formats.jsonl import JsonLinesEncoder

            return JsonLinesEncoder()
        flattener = Flattener(self.flatten_separator, self.lists)
        if output_format == "csv":
            from airflow_provider_surveysphere.formats.csv import CsvEncoder

            return CsvEncoder(
                flattener, self.names, self.on_new_field,
                dialect=self.csv_dialect, formula_safe=self.csv_formula_safe, logger=logger,
            )
        from airflow_provider_surveysphere.formats.parquet import ParquetEncoder

        return ParquetEncoder(
            flattener, self.names, self.on_new_field, types=self.types, row_group_size=self.row_group_size,
            compression="zstd" if compression == "infer" else compression, logger=logger,
        )


def _parse_columns(columns: Sequence[ColumnSpec]) -> tuple[list[str], dict[str, str]]:
    if isinstance(columns, str) or not isinstance(columns, Sequence):
        raise SurveySphereArgumentError("columns", f"is {columns!r}; give a list of names or (name, type) pairs")
    names: list[str] = []
    types: dict[str, str] = {}
    for spec in columns:
        name, declared = (spec, None) if isinstance(spec, str) else (*tuple(spec), None)[:2]
        if not isinstance(name, str) or not name or (not isinstance(spec, str) and len(spec) != 2):
            raise SurveySphereArgumentError("columns", f"{spec!r} is neither a name nor a (name, type) pair")
        if name in names:
            raise SurveySphereArgumentError("columns", f"{name!r} is listed twice")
        names.append(name)
        if declared is not None:
            canonical = type_name(declared)
            if canonical is None:
                raise SurveySphereArgumentError("columns", f"{name!r} has the type {declared!r}; use one of {TYPES}")
            types[name] = canonical
    return names, types
