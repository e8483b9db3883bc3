"""Incremental exports keep their high-water mark in their own output: every record exactly once."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from airflow.providers.common.compat.sdk import AirflowFailException, ObjectStoragePath
from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
from airflow_provider_surveysphere.incremental import (
    HighWaterMark,
    SurveySphereConcurrentExportError,
    SurveySphereCorruptPartError,
    export_new_records,
    new_records,
    parts_of,
    read_high_water_mark,
)
from airflow_provider_surveysphere.marks import SurveySphereMarkError, parse_instant
from airflow_provider_surveysphere.pagination import PageNumberPagination
from airflow_provider_surveysphere.sandbox import SandboxConfig, SandboxServer

from tests.unit.incremental_fakes import FakeHook, Listing

RESPONSES = "api/v1/surveys/srv-0001/responses"


@pytest.fixture
def sandbox():
    config = SandboxConfig(surveys=1, responses_per_survey=500, live_survey="srv-0001", live_visible=0)
    with SandboxServer(config=config) as server:
        yield server


@pytest.fixture
def export(sandbox, set_connection, token_cache, tmp_path):
    set_connection(host=sandbox.base_url, login=sandbox.config.client_id, password=sandbox.config.client_secret, extra={})
    hook = SurveySphereHook(token_cache=token_cache)
    folder = tmp_path / "new"

    def run():
        return export_new_records(hook, RESPONSES, str(folder), records_key="data",
                                  pagination=PageNumberPagination(page_param="page", size_param="pageSize", page_size=7))

    run.folder = folder  # type: ignore[attr-defined]
    yield run
    hook.close()


def arrive(sandbox, count: int) -> None:
    sandbox.config.update({"live_visible": sandbox.config.live_visible + count})


def exported_ids(folder) -> list[str]:
    return [json.loads(line)["id"] for part in parts_of(ObjectStoragePath(str(folder)))
            for line in part.read_bytes().splitlines()]


def test_each_export_writes_only_what_arrived_since_the_last(sandbox, export):
    assert export()["records"] == 0
    assert list(export.folder.iterdir()) == []  # nothing yet: no empty part, no temporary file
    arrive(sandbox, 20)
    first = export()
    assert first["records"] == 20 and first["path"].endswith("part-00000001.jsonl") and first["since"] is None
    assert export()["records"] == 0  # a second wake-up for the same change writes nothing
    arrive(sandbox, 15)
    second = export()
    assert second["records"] == 15 and second["path"].endswith("part-00000002.jsonl")
    assert second["since"] == sandbox.config.dataset().response(1, 19)["submitted_at"]
    ids = exported_ids(export.folder)
    assert ids == [f"srv-0001-r{i:07d}" for i in range(1, 36)]  # complete, in order, each once


def test_a_failed_export_publishes_nothing_and_the_next_one_redoes_it(sandbox, export, monkeypatch):
    arrive(sandbox, 10)
    export()
    arrive(sandbox, 10)
    from airflow_provider_surveysphere import output

    real = output.AtomicJsonLinesWriter.write_records
    calls = {"n": 0}

    def fail_on_second_page(self, records):
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("worker died mid-export")
        real(self, records)

    monkeypatch.setattr(output.AtomicJsonLinesWriter, "write_records", fail_on_second_page)
    with pytest.raises(ConnectionError):
        export()
    monkeypatch.setattr(output.AtomicJsonLinesWriter, "write_records", real)
    assert [p.name for p in export.folder.iterdir()] == ["part-00000001.jsonl"]  # no partial part, no temp file
    assert export()["records"] == 10
    assert exported_ids(export.folder) == [f"srv-0001-r{i:07d}" for i in range(1, 21)]


def test_records_sharing_the_marks_timestamp_are_neither_lost_nor_repeated():
    hwm = HighWaterMark(part=3, mark="2026-11-01T00:01:00Z", ids_at_mark=frozenset({"a"}))
    records = [
        {"id": "old", "t": "2026-11-01T00:00:59Z"},
        {"id": "a", "t": "2026-11-01T00:01:00Z"},  # exported already
        {"id": "b", "t": "2026-11-01T00:01:00Z"},  # arrived later with the same timestamp
        {"id": "c", "t": "2026-11-01T00:01:00.500000Z"},  # a fraction: later, though it sorts before as text
    ]
    assert [r["id"] for r in new_records(records, hwm, "t", "id")] == ["b", "c"]


# The rules of the mark (docs/guarantees.md, "Incremental export"), over an in-memory listing: no HTTP needed.

T = "2026-11-30T10:00:00Z"


def listing_export(tmp_path, listing: Listing, page_size: int = 2):
    hook = FakeHook(listing, page_size=page_size)
    folder = tmp_path / "parts"

    def run():
        return export_new_records(hook, RESPONSES, str(folder), pagination=None, records_key=None)

    run.folder, run.hook = folder, hook  # type: ignore[attr-defined]
    return run


def test_ids_at_the_mark_come_from_every_part_that_holds_it(tmp_path):
    """Defect 1: three records share one timestamp and arrive over three exports."""
    listing = Listing()
    export = listing_export(tmp_path, listing)
    for record_id in ("a", "b", "c"):
        listing.add({"id": record_id, "submitted_at": T})
        assert export()["records"] == 1
    assert export()["records"] == 0  # a wake-up with nothing new rewrites nothing
    assert exported_ids(export.folder) == ["a", "b", "c"]
    hwm = read_high_water_mark(ObjectStoragePath(str(export.folder)), "submitted_at", "id")
    assert hwm.ids_at_mark == {"a", "b", "c"} and hwm.part == 3


def test_reading_back_stops_at_the_first_part_below_the_mark(tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    contents = [[("old", "2026-11-30T09:00:00Z")], [("x", "2026-11-30T09:30:00Z")], [("y", "2026-11-30T09:40:00Z"),
                ("a", T)], [("b", T)], [("n", None)], [("c", T)], []]
    for number, records in enumerate(contents, 1):
        (folder / f"part-{number:08d}.jsonl").write_text(
            "".join(json.dumps({"id": i, "submitted_at": t}) + "\n" for i, t in records))
    hwm = read_high_water_mark(ObjectStoragePath(str(folder)), "submitted_at", "id")
    # parts 7 (empty), 6 (all at the mark), 5 (no mark value), 4 (all at the mark), 3 (the mark and below)
    assert (hwm.part, hwm.mark, hwm.ids_at_mark, hwm.markless_ids) == (7, T, {"a", "b", "c"}, {"n"})
    assert [p.name for p in hwm.unread] == ["part-00000001.jsonl", "part-00000002.jsonl"]


@pytest.mark.parametrize("markless_in_since", [True, False], ids=["api-returns-them-again", "sql-null-semantics"])
def test_records_without_a_mark_value_are_exported_once_and_never_move_the_mark(tmp_path, markless_in_since):
    listing = Listing(markless_in_since=markless_in_since)
    export = listing_export(tmp_path, listing)
    listing.add({"id": "a", "submitted_at": T})
    listing.add({"id": "null", "submitted_at": None})  # an in-progress response
    listing.add({"id": "missing"})
    assert export()["records"] == 3
    for n in range(1, 4):  # later exports push the mark-less records' part out of the parts read back
        listing.add({"id": f"later{n}", "submitted_at": f"2026-11-30T1{n}:00:00Z"})
        result = export()
        assert result["records"] == 1 and result["since"] == f"2026-11-30T1{n - 1}:00:00Z"
    assert export()["records"] == 0
    assert sorted(exported_ids(export.folder)) == ["a", "later1", "later2", "later3", "missing", "null"]


def test_an_empty_part_is_read_past_and_its_number_is_not_reused(tmp_path):
    listing = Listing()
    export = listing_export(tmp_path, listing)
    listing.add({"id": "a", "submitted_at": T})
    export()
    (export.folder / "part-00000002.jsonl").write_bytes(b"")
    assert export()["records"] == 0  # the mark is still a's, nothing is re-exported
    listing.add({"id": "b", "submitted_at": "2026-11-30T11:00:00Z"})
    assert export()["path"].endswith("part-00000003.jsonl")
    assert exported_ids(export.folder) == ["a", "b"]


@pytest.mark.parametrize(("line", "problem"), [
    (b'{"id": "a", "submitted_at": "2026-11-30T1', "line 2: "),
    (b'["not", "an", "object"]', "line 2: incremental export, field 'id': a record is not an object"),
    (b'{"submitted_at": "2026-11-30T10:00:00Z"}', "line 2: incremental export, field 'id': a record has no 'id'"),
    (b'{"id": "b", "submitted_at": "yesterday"}', "'yesterday' is not an ISO 8601 date or timestamp"),
], ids=["truncated-json", "not-an-object", "no-id", "bad-mark"])
def test_a_corrupt_part_fails_permanently_naming_the_part_and_line(tmp_path, line, problem):
    listing = Listing()
    export = listing_export(tmp_path, listing)
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "part-00000001.jsonl").write_bytes(b'{"id": "a", "submitted_at": "2026-11-30T10:00:00Z"}\n' + line + b"\n")
    with pytest.raises(SurveySphereCorruptPartError) as caught:
        export()
    assert isinstance(caught.value, AirflowFailException)
    assert "part-00000001.jsonl cannot be read back" in str(caught.value) and problem in str(caught.value)
    assert export.hook.queries == []  # nothing was asked of the API
    assert [p.name for p in folder.iterdir()] == ["part-00000001.jsonl"]


def test_timestamp_forms_compare_as_instants(tmp_path):
    """Naive (UTC), Z, +00:00, another offset, 1 to 9 fraction digits: the same rules on every Python."""
    listing = Listing()
    export = listing_export(tmp_path, listing)
    listing.add({"id": "a", "submitted_at": "2026-11-30T10:00:00+00:00"})
    export()
    for same in ("2026-11-30T10:00:00", "2026-11-30T10:00:00Z", "2026-11-30T11:00:00+01:00",
                 "2026-11-30T10:00:00.0Z", "2026-11-30T10:00:00.000000000-00:00"):
        listing.records[0]["submitted_at"] = same  # the API may write the same moment differently
        assert export()["records"] == 0, same
    listing.add({"id": "b", "submitted_at": "2026-11-30T10:00:00.5+00:00"})  # fromisoformat on 3.10 refuses this
    listing.add({"id": "c", "submitted_at": "2026-11-30T10:00:01"})  # naive, after an aware mark
    assert export()["records"] == 2
    listing.add({"id": "d", "submitted_at": "2026-11-30T10:00:00.9Z"})  # before the mark: not returned by since
    assert export()["records"] == 0
    assert exported_ids(export.folder) == ["a", "b", "c"]


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-30T10:00:00.5+00:00", datetime(2026, 11, 30, 10, 0, 0, 500000, timezone.utc)),
    ("2026-11-30T10:00:00Z", datetime(2026, 11, 30, 10, tzinfo=timezone.utc)),
    ("2026-11-30T10:00:00", datetime(2026, 11, 30, 10, tzinfo=timezone.utc)),
    ("2026-11-30T10:00:00.123456789Z", datetime(2026, 11, 30, 10, 0, 0, 123456, timezone.utc)),
    ("2026-11-30T10:00:00,25Z", datetime(2026, 11, 30, 10, 0, 0, 250000, timezone.utc)),
    ("2026-11-30T12:30:00+02:30", datetime(2026, 11, 30, 10, tzinfo=timezone.utc)),
    ("20261130T100000Z", datetime(2026, 11, 30, 10, tzinfo=timezone.utc)),
    ("2026-11-30", datetime(2026, 11, 30, tzinfo=timezone.utc)),
])
def test_every_iso_8601_form_parses_to_the_same_instant(text, expected):
    assert parse_instant(text) == expected and parse_instant(text).utcoffset() is not None


@pytest.mark.parametrize(("value", "problem"), [
    ("yesterday", "'yesterday' is not an ISO 8601 date or timestamp"),
    ("P1D", "'P1D' is not an ISO 8601 date or timestamp"),
    (True, "True is neither an ISO 8601 timestamp nor a number"),
    ({"at": T}, "is neither an ISO 8601 timestamp nor a number"),
    (1700000000, "cannot be compared: one is a timestamp, the other a number"),
])
def test_an_unusable_mark_value_from_the_api_fails_naming_field_and_value(tmp_path, value, problem):
    listing = Listing()
    export = listing_export(tmp_path, listing)
    listing.add({"id": "a", "submitted_at": T})
    export()
    listing.add({"id": "b", "submitted_at": T})
    listing.records[-1]["submitted_at"] = value
    listing.query = lambda since: listing.records  # an API that ignores since: the value reaches the filter
    with pytest.raises(SurveySphereMarkError) as caught:
        export()
    assert isinstance(caught.value, AirflowFailException)
    assert "field 'submitted_at'" in str(caught.value) and problem in str(caught.value)
    assert exported_ids(export.folder) == ["a"]


def test_part_numbers_grow_past_eight_digits_and_no_part_is_rewritten(tmp_path):
    listing = Listing()
    export = listing_export(tmp_path, listing)
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "part-99999999.jsonl").write_text(json.dumps({"id": "a", "submitted_at": T}) + "\n")
    (folder / "part-000000005.jsonl").write_text("not a part: a non-canonical name\n")
    listing.add({"id": "a", "submitted_at": T})
    for n, record_id in enumerate(("b", "c"), 1):
        listing.add({"id": record_id, "submitted_at": f"2026-11-30T1{n}:00:00Z"})
        assert export()["path"].endswith(f"part-{99999999 + n}.jsonl")
    assert [p.name for p in parts_of(ObjectStoragePath(str(folder)))] == [
        "part-99999999.jsonl", "part-100000000.jsonl", "part-100000001.jsonl"]
    assert exported_ids(folder) == ["a", "b", "c"]


def test_an_export_racing_another_publishes_nothing_and_fails_clearly(tmp_path):
    listing = Listing()
    export = listing_export(tmp_path, listing)
    listing.add({"id": "a", "submitted_at": T})
    export()
    for n in range(5):
        listing.add({"id": f"r{n}", "submitted_at": f"2026-11-30T11:0{n}:00Z"})
    other = listing_export(tmp_path, listing)  # a second run of the same DAG, same folder

    def the_other_export_runs(page: int) -> None:
        if page == 2:
            export.hook.before_page = lambda page: None
            assert other()["path"].endswith("part-00000002.jsonl")

    export.hook.before_page = the_other_export_runs
    with pytest.raises(SurveySphereConcurrentExportError, match=r"published part-00000002\.jsonl while this one ran"):
        export()
    assert not isinstance(SurveySphereConcurrentExportError("p", "f"), AirflowFailException)  # a retry is safe
    assert [p.name for p in sorted(export.folder.iterdir())] == ["part-00000001.jsonl", "part-00000002.jsonl"]
    assert export()["records"] == 0  # the retry continues from the winner's mark
    assert exported_ids(export.folder) == ["a", "r0", "r1", "r2", "r3", "r4"]
