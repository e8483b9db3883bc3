"""Export only what is new since the last export, exactly once, whatever wakes it up and how often.

The high-water mark lives in the output itself: a folder of numbered JSON Lines parts
(``part-00000001.jsonl``, ...; see :mod:`airflow_provider_surveysphere.output.parts`), each published
atomically and create-only. The rules (docs/waiting.md; proofs in docs/guarantees.md):

* **Mark.** The mark is the greatest ``time_key`` value in the parts (compared as instants or numbers,
  see :mod:`airflow_provider_surveysphere.marks`); the next export asks for records from that moment on
  (``since``, inclusive, sent as the API wrote it) and keeps the records later than the mark, and those
  at the mark not exported yet.
* **Ties.** The ids already exported at the mark come from every part that holds the mark's value: parts
  are read newest first up to the first one holding a value below the mark (a part whose records are all
  at the mark, an empty one, or one holding no mark value does not stop the reading), however many exports
  that spans.
* **No mark value.** A record whose ``time_key`` is ``null`` or missing (an in-progress response) is
  exported when first seen and never moves the mark. Whether a ``since`` query returns it again is the
  API's business; if it does, its id is looked up among the mark-less records of the parts read back, and
  on a miss among those of all older parts (read once per export, only then), so it is exported once.
  The limit: such a record is recognised by its id only; if it later gets a mark value it is a new version
  and is exported again then.
* **Bad values.** A ``time_key`` value that is neither ISO 8601 text nor a number, or an instant compared
  with a number, fails the export (:class:`~airflow_provider_surveysphere.marks.SurveySphereMarkError`,
  permanent) naming the field and value; a record that is not an object or has no ``id_key`` fails it too.
* **Parts.** An empty part holds no mark and is read past; a part that cannot be read (not JSON Lines of
  objects with ``id_key``, or a bad mark value) fails the export with
  :class:`SurveySphereCorruptPartError` (permanent) naming the part and line: guessing what it held could
  export records twice or never. A storage error while listing or reading the parts is classified as the
  writer's are (:mod:`airflow_provider_surveysphere.output.errors`: permanent or transient), naming the
  path. Part numbers grow past eight digits and are ordered numerically; a part is published only under a
  name nothing has (:mod:`airflow_provider_surveysphere.output.sinks`), so none is ever rewritten.
* **Concurrent exports.** Two exports of one folder at once both pick the next number; the first to
  publish wins, the other fails with :class:`SurveySphereConcurrentExportError` (transient: its retry reads
  the new mark) and publishes nothing. On S3, where an export aborts the older incomplete uploads of its part
  (left by killed attempts; :mod:`~airflow_provider_surveysphere.output.stale_uploads`), the later of two
  exports writing parts of a part's size or more aborts the earlier one's upload: the earlier one fails the same
  way. ``max_active_runs=1`` avoids the wasted work; correctness does not depend on it.

Hence a wake-up with nothing new writes nothing; an export that fails publishes nothing and the next one
redoes it; no state outside the output can drift from it. Assumes what the sandbox guarantees: ``time_key``
never decreases in arrival order (a record that arrives later is never dated before one already exported),
and the listing is in arrival order, ties included (a record that arrives later is listed after every
record already there). A listing that orders ties otherwise (by id, say) breaks the second: a record
arriving mid-export at the newest timestamp can sort before the pages already read, so the next page
repeats a record (dropped: an export keeps a record once) and the newcomer is not on this export's pages
(the next export finds it at the mark, unless a later-dated record arrived during the same export too:
then it is below the next mark and lost, which no reading of the parts can detect).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import ObjectStoragePath
from airflow_provider_surveysphere.exceptions import (
    SurveySphereArgumentError,
    SurveySphereError,
    SurveySpherePermanentError,
)
from airflow_provider_surveysphere.executors import warn_if_local_output
from airflow_provider_surveysphere.formats import resolve_format
from airflow_provider_surveysphere.formats.parts import part_encoder, read_tabular_part
from airflow_provider_surveysphere.marks import Mark, SurveySphereMarkError, as_mark, mark_of
from airflow_provider_surveysphere.output import (
    AtomicJsonLinesWriter,
    SurveySphereOutputExistsError,
    SurveySphereOutputTransientError,
    as_storage_path,
)
from airflow_provider_surveysphere.output.errors import is_storage_error, is_upload_gone, output_error
from airflow_provider_surveysphere.output.parts import list_parts, part_name

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
    from airflow_provider_surveysphere.pagination import PaginationLike


class SurveySphereCorruptPartError(SurveySpherePermanentError):
    """A published part cannot be read back, so the mark is unknown; retrying reads the same bytes.

    :param part: the part
    :param problem: what is wrong, and where
    """

    def __init__(self, part: ObjectStoragePath | str, problem: str) -> None:
        self.part = str(part)
        super().__init__(
            f"incremental export part {self.part} cannot be read back: {problem}; repair or remove it "
            "(removing it exports its records again)"
        )


class SurveySphereConcurrentExportError(SurveySphereError):
    """Another export of the same folder published the part this one meant to; this one published nothing.

    :param part: the part's name
    :param folder: the export folder
    :param overtaken: the other export, started later, aborted this one's upload of the part (S3)
    """

    def __init__(self, part: str, folder: str, *, overtaken: bool = False) -> None:
        what = (
            f"started writing {part} after this one and aborted this one's upload of it (on S3 an export aborts the "
            "older incomplete uploads of its key, which killed attempts leave)"
            if overtaken
            else f"published {part} while this one ran"
        )
        super().__init__(
            f"another export of {folder} {what} (two exports of one folder at once; give the DAG "
            "max_active_runs=1); this export published nothing, and a retry continues from the new mark"
        )


@dataclass(frozen=True)
class PartSummary:
    """What one part tells the next export.

    :param greatest: its greatest mark value, None when it has none (empty, or only mark-less records)
    :param least: its least mark value, None when it has none
    :param ids_at_greatest: ids of its records at ``greatest``
    :param markless_ids: ids of its records without a mark value
    """

    greatest: Mark | None
    least: Mark | None
    ids_at_greatest: frozenset[str]
    markless_ids: frozenset[str]


def _id_of(record: Any, id_key: str) -> str:
    if not isinstance(record, Mapping):
        raise SurveySphereMarkError(id_key, f"a record is not an object: {str(record)[:80]!r}")
    if record.get(id_key) is None:
        raise SurveySphereMarkError(id_key, f"a record has no {id_key!r} (keys: {sorted(record)[:10]})")
    return str(record[id_key])


@contextmanager
def _storage_errors(where: ObjectStoragePath, doing: str) -> Iterator[None]:
    """Storage errors while reading the parts back, classified as the writer's are (permanent or transient)."""
    try:
        yield
    except SurveySphereError:
        raise
    except Exception as exc:
        if is_storage_error(exc):
            raise output_error(str(where), exc, doing) from exc
        raise


def read_part(part: ObjectStoragePath, time_key: str, id_key: str) -> PartSummary:
    """Read one part back; an unreadable one raises :class:`SurveySphereCorruptPartError`.

    A storage error raises :class:`~airflow_provider_surveysphere.output.SurveySphereOutputError` (permanent)
    or :class:`~airflow_provider_surveysphere.output.SurveySphereOutputTransientError`, naming the part.
    """
    with _storage_errors(part, "reading it back"):
        return _read_part(part, time_key, id_key)


def _read_part(part: ObjectStoragePath, time_key: str, id_key: str) -> PartSummary:
    greatest: Mark | None = None
    least: Mark | None = None
    ids: set[str] = set()
    markless: set[str] = set()
    with part.open("rb") as lines:  # type: ignore[no-untyped-call, unused-ignore]
        for number, record in part_records(part.name, lines, time_key, id_key):
            try:
                if isinstance(record, Exception):
                    raise record
                record_id = _id_of(record, id_key)
                mark = mark_of(record, time_key)
                order = None if mark is None or greatest is None else mark.compare(greatest, time_key)
                if mark is not None and (least is None or mark.compare(least, time_key) < 0):
                    least = mark
            except (ValueError, SurveySphereMarkError) as exc:  # JSONDecodeError and UnicodeDecodeError too
                raise SurveySphereCorruptPartError(part, f"line {number}: {exc}") from None
            if mark is None:
                markless.add(record_id)
            elif order is None or order > 0:
                greatest, ids = mark, {record_id}
            elif order == 0:
                ids.add(record_id)
    return PartSummary(greatest, least, frozenset(ids), frozenset(markless))


@dataclass(frozen=True)
class HighWaterMark:
    """Where the last export stopped.

    :param part: the greatest part number (0 when nothing was exported yet)
    :param mark: the greatest ``time_key`` value, as the API sent it; None when no part holds one
    :param ids_at_mark: ids of the records dated exactly ``mark``, across every part holding it
    :param markless_ids: ids of the records without a mark value in the parts read
    :param unread: the older parts not read (consulted only for a mark-less record not in ``markless_ids``)
    """

    part: int = 0
    mark: Any = None
    ids_at_mark: frozenset[str] = frozenset()
    markless_ids: frozenset[str] = frozenset()
    unread: Sequence[ObjectStoragePath] = field(default=(), compare=False)


def parts_of(folder: ObjectStoragePath) -> list[ObjectStoragePath]:
    """The published parts in ``folder``, oldest first (temporary files are hidden, so never listed)."""
    return [path for _, path in list_parts(folder)]


def read_high_water_mark(
    folder: ObjectStoragePath, time_key: str, id_key: str, output_format: str | None = None
) -> HighWaterMark:
    """The mark the parts in ``folder`` set: read newest first up to the first part holding a value below the mark.

    A part holding a value below the mark ends the reading: arrivals never go back in time, so every older
    part is entirely below the mark.

    :param output_format: the format the next part will have: a folder holding parts of another is refused
    """
    with _storage_errors(folder, "listing the parts"):
        parts = list_parts(folder)
    if output_format is not None:
        check_one_format(folder, [path for _, path in parts], output_format)
    if not parts:
        return HighWaterMark()
    mark: Mark | None = None
    ids: set[str] = set()
    markless: set[str] = set()
    read = 0
    for _, part in reversed(parts):
        summary = read_part(part, time_key, id_key)
        read += 1
        markless |= summary.markless_ids
        if summary.greatest is None:
            continue  # empty or mark-less only: says nothing about the mark
        order = 1 if mark is None else summary.greatest.compare(mark, time_key)
        if order > 0:  # the first part with a mark (or, against the assumption, an older part dated later)
            mark, ids = summary.greatest, set(summary.ids_at_greatest)
        elif order == 0:
            ids |= summary.ids_at_greatest
        if mark is not None and summary.least is not None and summary.least.compare(mark, time_key) < 0:
            break  # this part reaches below the mark: older parts are older still
    unread = [part for _, part in parts[: len(parts) - read]]
    return HighWaterMark(
        parts[-1][0], None if mark is None else mark.value, frozenset(ids), frozenset(markless), tuple(unread)
    )


class _ExportedMarkless:
    """Ids of mark-less records already exported: the parts read back, then (on a miss, once) all older ones."""

    def __init__(self, hwm: HighWaterMark, time_key: str, id_key: str) -> None:
        self.ids = set(hwm.markless_ids)
        self.unread = list(hwm.unread)
        self.time_key, self.id_key = time_key, id_key

    def __contains__(self, record_id: str) -> bool:
        if record_id not in self.ids and self.unread:
            for part in self.unread:
                self.ids |= read_part(part, self.time_key, self.id_key).markless_ids
            self.unread = []
        return record_id in self.ids


class NewRecords:
    """Picks the records after the mark, page by page, remembering across pages what this export kept.

    Kept: records later than the mark, records at it not yet exported, mark-less records not yet exported.

    :param hwm: where the last export stopped
    :param time_key: the mark field
    :param id_key: the id field
    """

    def __init__(self, hwm: HighWaterMark, time_key: str, id_key: str) -> None:
        self.hwm, self.time_key, self.id_key = hwm, time_key, id_key
        self.mark = as_mark(hwm.mark, time_key)
        self.exported_markless = _ExportedMarkless(hwm, time_key, id_key)
        self.newest: Mark | None = None  # the greatest mark value this export kept, and the ids kept at it
        self.ids_at_newest: set[str] = set()

    def __call__(self, records: Iterable[Any]) -> Iterator[Any]:
        for record in records:
            record_id = _id_of(record, self.id_key)
            value = mark_of(record, self.time_key)
            if value is None:
                if record_id not in self.exported_markless:
                    self.exported_markless.ids.add(record_id)  # once per export too
                    yield record
                continue
            order = 1 if self.mark is None else value.compare(self.mark, self.time_key)
            if (order > 0 or (order == 0 and record_id not in self.hwm.ids_at_mark)) and self._first_time(
                value, record_id
            ):
                yield record

    def _first_time(self, value: Mark, record_id: str) -> bool:
        """False for a record this export already kept: a listing whose ties are not in arrival order (by id,
        say) shifts its later pages when a record arrives at the newest timestamp mid-export, so the next page
        repeats one. Arrivals never go back in time, so only a record at the newest value kept can be repeated."""
        order = 1 if self.newest is None else value.compare(self.newest, self.time_key)
        if order > 0:
            self.newest, self.ids_at_newest = value, {record_id}
        elif order == 0:
            if record_id in self.ids_at_newest:
                return False
            self.ids_at_newest.add(record_id)
        return True


def new_records(records: Iterable[Any], hwm: HighWaterMark, time_key: str, id_key: str) -> Iterator[Any]:
    """The records after the mark (see :class:`NewRecords`)."""
    return NewRecords(hwm, time_key, id_key)(records)


class _NothingNew(Exception):
    """Leaves the writer's block so that it discards its (empty) temporary file."""


def part_records(name: str, file: Any, time_key: str, id_key: str) -> Iterator[tuple[int, Any]]:
    """``(line or row number, record)`` of a part, by its format; a record that cannot be parsed is a ValueError
    in its place. CSV and Parquet parts give back ``id_key`` and ``time_key`` only (all a reader needs)."""
    if name.endswith(".jsonl"):
        for number, line in enumerate(iter(file.readline, b""), 1):  # Airflow 2.11's file wrapper cannot be iterated
            if line.strip():
                try:
                    yield number, json.loads(line)
                except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError too
                    yield number, exc
        return
    try:
        rows = read_tabular_part(name, file, (id_key, time_key), numbers=(time_key,))
    except ValueError as exc:
        yield 1, exc
        return
    yield from enumerate(rows, 2 if name.endswith(".csv") else 1)  # a CSV's row 1 is its header


def check_one_format(folder: ObjectStoragePath, parts: Iterable[ObjectStoragePath], output_format: str) -> None:
    """Refuse a folder holding parts of another format: create-only publishing keeps two exports from writing one
    part *name*, and a part's name carries its format, so one folder holds one format (a new format, a new folder).
    """
    others = sorted({path.name.rsplit(".", 1)[1] for path in parts} - {output_format})
    if others:
        raise SurveySphereArgumentError(
            "output_format",
            f"is {output_format!r} but {folder} holds {' and '.join(others)} parts; an incremental export keeps "
            "one format per folder: export the new format to a new folder",
        )


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
    output_format: str = "jsonl",
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
    :param output_format: the format of the parts: ``"jsonl"``, ``"csv"`` or ``"parquet"`` (docs/formats.md);
        one per folder (a folder holding parts of another format is refused)
    """
    encoder = part_encoder(resolve_format(output_format, None), time_key, id_key)
    folder = as_storage_path(folder)
    hwm = read_high_water_mark(folder, time_key, id_key, encoder.name)
    params = dict(query_params or {})
    if hwm.mark is not None:
        params[since_param] = hwm.mark
    name = part_name(hwm.part + 1, encoder.name)
    part = folder / name
    paginator = hook.paginate(endpoint, params=params, pagination=pagination, records_key=records_key)
    writer = AtomicJsonLinesWriter(part, overwrite=False, encoder=encoder)
    warn_if_local_output(writer.location, log)
    try:
        with writer:
            fresh = NewRecords(hwm, time_key, id_key)
            for page in paginator.iter_pages():
                writer.write_records(list(fresh(page.records)))
            if not writer.records:
                raise _NothingNew
    except _NothingNew:
        return {"path": None, "records": 0, "since": hwm.mark, "pages": paginator.pages}
    except SurveySphereOutputExistsError:
        raise SurveySphereConcurrentExportError(name, str(folder)) from None
    except SurveySphereOutputTransientError as exc:
        if is_upload_gone(exc):
            raise SurveySphereConcurrentExportError(name, str(folder), overtaken=True) from exc
        raise
    return {"path": str(part), "records": writer.records, "since": hwm.mark, "pages": paginator.pages}
