"""Export only what is new since the last export, exactly once, whatever wakes it up and how often.

The high-water mark lives in the output itself: a folder of numbered JSON Lines parts
(``part-00000001.jsonl``, ...), each published atomically. The newest part's greatest ``time_key`` value
is the mark; the next export asks for records from that moment on (``since``, inclusive, so that records
sharing the mark's timestamp are not skipped) and drops the ones the newest part already holds (by
``id_key``). Hence:

* a wake-up with nothing new writes nothing; two wake-ups for one change export it once;
* an export that fails before its part is published leaves no trace, and the next one redoes it;
* a part, once published, is never rewritten; no state outside the output can drift from it.

Assumes what the sandbox guarantees: ``time_key`` never decreases in arrival order (a record that
arrives later is never dated before one already exported), and one export runs at a time
(``max_active_runs=1``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import ObjectStoragePath
from airflow_provider_surveysphere.output import AtomicJsonLinesWriter, as_storage_path

if TYPE_CHECKING:
    from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
    from airflow_provider_surveysphere.pagination import PaginationLike

PART = re.compile(r"part-(\d{8})\.jsonl")


@dataclass(frozen=True)
class HighWaterMark:
    """Where the last export stopped.

    :param part: the newest part's number (0 when nothing was exported yet)
    :param mark: the greatest ``time_key`` value in it, None when nothing was exported yet
    :param ids_at_mark: ids of its records dated exactly ``mark`` (to skip when asking ``since=mark``)
    """

    part: int = 0
    mark: Any = None
    ids_at_mark: frozenset[str] = frozenset()


def _order(value: Any) -> Any:
    """A comparable form of a mark: ISO 8601 texts compare as instants (``...00Z`` vs ``...00.5Z``)."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return value


def parts_of(folder: ObjectStoragePath) -> list[ObjectStoragePath]:
    """The published parts in ``folder``, oldest first (temporary files are hidden, so never listed)."""
    if not folder.exists():
        return []
    return sorted((p for p in folder.iterdir() if PART.fullmatch(p.name)), key=lambda p: p.name)


def read_high_water_mark(folder: ObjectStoragePath, time_key: str, id_key: str) -> HighWaterMark:
    """The mark the newest part in ``folder`` sets."""
    parts = parts_of(folder)
    if not parts:
        return HighWaterMark()
    newest = parts[-1]
    mark: Any = None
    ids: set[str] = set()
    with newest.open("rb") as part:  # type: ignore[no-untyped-call, unused-ignore]
        for line in iter(part.readline, b""):  # Airflow 2.11's file wrapper cannot be iterated itself
            record = json.loads(line)
            value = record[time_key]
            if mark is None or _order(value) > _order(mark):
                mark, ids = value, set()
            if _order(value) == _order(mark):
                ids.add(str(record[id_key]))
    return HighWaterMark(int(PART.fullmatch(newest.name).group(1)), mark, frozenset(ids))  # type: ignore[union-attr]


def new_records(records: Iterable[Mapping[str, Any]], hwm: HighWaterMark, time_key: str, id_key: str) -> Iterator[Any]:
    """The records after the mark: later than it, or at it and not yet exported."""
    mark = _order(hwm.mark)
    for record in records:
        value = _order(record[time_key])
        if hwm.mark is None or value > mark or (value == mark and str(record[id_key]) not in hwm.ids_at_mark):
            yield record


class _NothingNew(Exception):
    """Leaves the writer's block so that it discards its (empty) temporary file."""


def export_new_records(
    hook: SurveySphereHook,
    endpoint: str,
    folder: str | os.PathLike[str] | ObjectStoragePath,
    *,
    pagination: PaginationLike | None,
    records_key: str | None,
    time_key: str = "submitted_at",
    id_key: str = "id",
    since_param: str = "since",
    query_params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the records not yet in ``folder`` to its next part; return what was done (for XCom).

    :param hook: the hook that reads the records
    :param endpoint: the listing of records, oldest first
    :param folder: where the parts are (local path or object storage URL)
    :param pagination: how to follow the listing's pages
    :param records_key: dotted path to the records in a page
    :param time_key: the record field that orders arrivals (the high-water mark)
    :param id_key: the record field that identifies a record
    :param since_param: the query parameter asking for records at or after a ``time_key`` value
    :param query_params: other query parameters
    """
    folder = as_storage_path(folder)
    hwm = read_high_water_mark(folder, time_key, id_key)
    params = dict(query_params or {})
    if hwm.mark is not None:
        params[since_param] = hwm.mark
    part = folder / f"part-{hwm.part + 1:08d}.jsonl"
    paginator = hook.paginate(endpoint, params=params, pagination=pagination, records_key=records_key)
    writer = AtomicJsonLinesWriter(part)
    try:
        with writer:
            for page in paginator.iter_pages():
                writer.write_records(list(new_records(page.records, hwm, time_key, id_key)))
            if not writer.records:
                raise _NothingNew
    except _NothingNew:
        return {"path": None, "records": 0, "since": hwm.mark, "pages": paginator.pages}
    return {"path": str(part), "records": writer.records, "since": hwm.mark, "pages": paginator.pages}
