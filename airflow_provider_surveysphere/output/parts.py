"""The numbered parts of an incremental export: ``part-00000001.jsonl``, ``part-00000002.jsonl``, ...

A part's extension is its format (``.jsonl``, ``.csv`` or ``.parquet``); a folder holds parts of one format (the
export refuses a folder holding another), since create-only publishing guards a name, and the name carries it.

Numbers have at least eight digits and grow past them (``part-99999999.jsonl`` is followed by
``part-100000000.jsonl``); parts are ordered by number, never by name, so a ninth digit changes nothing.
Only the canonical spelling of a number is a part (no leading zero beyond eight digits), so no two names
share a number. Anything else in the folder, hidden temporary files included, is not a part.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

PART_NAME = re.compile(r"part-(\d{8}|[1-9]\d{8,})\.(?:jsonl|csv|parquet)")


def part_name(number: int, extension: str = "jsonl") -> str:
    """The name of part ``number`` (1-based) in the format ``extension``."""
    return f"part-{number:08d}.{extension}"


def part_number(name: str) -> int | None:
    """The number of the part called ``name``, None for a name that is not a part."""
    match = PART_NAME.fullmatch(name)
    return int(match.group(1)) if match else None


def list_parts(folder: ObjectStoragePath) -> list[tuple[int, ObjectStoragePath]]:
    """The published parts in ``folder`` with their numbers, oldest (lowest number) first."""
    if not folder.exists():
        return []
    numbered = ((part_number(path.name), path) for path in folder.iterdir())
    return sorted(((number, path) for number, path in numbered if number is not None), key=lambda item: item[0])
