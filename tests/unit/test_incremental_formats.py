"""The incremental export in CSV and Parquet: each part read back (its ids and marks) as exactly as JSON Lines,
so every record is exported once, ties at the mark and mark-less records included, across format changes."""

from __future__ import annotations

import csv
import io

import pyarrow.parquet as pq
import pytest

from airflow.providers.common.compat.sdk import ObjectStoragePath
from airflow_provider_surveysphere.exceptions import SurveySphereArgumentError
from airflow_provider_surveysphere.incremental import (
    SurveySphereCorruptPartError,
    export_new_records,
    parts_of,
    read_high_water_mark,
)

from tests.unit.incremental_fakes import FakeHook, Listing

T = "2026-11-30T10:00:00Z"


def ids_of(folder) -> list[str]:
    ids = []
    for part in parts_of(ObjectStoragePath(str(folder))):
        data = part.read_bytes()
        if part.name.endswith(".csv"):
            ids += [row["id"] for row in csv.DictReader(io.StringIO(data.decode(), newline=""))]
        elif part.name.endswith(".parquet"):
            ids += pq.read_table(io.BytesIO(data)).column("id").to_pylist()
        else:
            ids += [line.split('"id":"')[1].split('"')[0] for line in data.decode().splitlines()]
    return ids


def exporter(tmp_path, listing: Listing):
    hook = FakeHook(listing, page_size=2)
    folder = tmp_path / "parts"

    def run(output_format: str):
        return export_new_records(hook, "responses", str(folder), pagination=None, records_key=None,
                                  output_format=output_format)

    run.folder = folder  # type: ignore[attr-defined]
    return run


@pytest.mark.parametrize("output_format", ["csv", "parquet"])
def test_ties_at_the_mark_and_markless_records_are_exported_once(tmp_path, output_format):
    listing = Listing()
    export = exporter(tmp_path, listing)
    for record_id in ("=a", "00123", "c"):  # an id a spreadsheet would run, an id with leading zeros
        listing.add({"id": record_id, "submitted_at": T, "answers": {"q1": 1}})
        assert export(output_format)["records"] == 1
    listing.add({"id": "pending", "submitted_at": None})
    assert export(output_format)["records"] == 1
    assert export(output_format)["records"] == 0  # nothing new: no part written
    assert ids_of(export.folder) == ["=a", "00123", "c", "pending"]
    hwm = read_high_water_mark(ObjectStoragePath(str(export.folder)), "submitted_at", "id")
    assert hwm.ids_at_mark == {"=a", "00123", "c"} and hwm.mark == T and hwm.part == 4
    assert export.folder.joinpath(f"part-00000001.{output_format}").exists()


def test_a_folder_holding_parts_of_another_format_is_refused_before_any_request(tmp_path):
    listing = Listing()
    export = exporter(tmp_path, listing)
    listing.add({"id": "r1", "submitted_at": T})
    assert export("jsonl")["records"] == 1
    listing.add({"id": "r2", "submitted_at": "2026-11-30T10:00:01Z"})
    with pytest.raises(SurveySphereArgumentError, match="is 'csv' but .* holds jsonl parts; .* one format per folder"):
        export("csv")
    assert [p.name for p in export.folder.iterdir()] == ["part-00000001.jsonl"]
    assert export("jsonl")["records"] == 1  # the folder's own format goes on


def test_numeric_marks_survive_a_csv_part(tmp_path):
    listing = Listing()
    listing.add({"id": "a", "seq": 10})
    hook = FakeHook(listing, page_size=2)
    folder = tmp_path / "numeric"
    export_new_records(hook, "r", str(folder), pagination=None, records_key=None, time_key="seq", output_format="csv")
    hwm = read_high_water_mark(ObjectStoragePath(str(folder)), "seq", "id")
    assert hwm.mark == 10 and hwm.ids_at_mark == {"a"}


def test_an_unreadable_parquet_part_fails_naming_it(tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "part-00000001.parquet").write_bytes(b"not parquet")
    with pytest.raises(SurveySphereCorruptPartError, match=r"part-00000001\.parquet cannot be read back: line 1: not a Parquet"):
        read_high_water_mark(ObjectStoragePath(str(folder)), "submitted_at", "id")


def test_an_unknown_format_is_refused_before_any_request(tmp_path):
    with pytest.raises(SurveySphereArgumentError, match="output_format: is 'xml'"):
        exporter(tmp_path, Listing())("xml")


@pytest.mark.parametrize("output_format", ["csv", "parquet"])
def test_a_mark_field_first_seen_after_the_first_page_is_read_from_extra(tmp_path, output_format):
    """The part's columns come from its first page; a record without the mark field there puts it in _extra."""
    listing = Listing()
    export = exporter(tmp_path, listing)
    listing.add({"id": "pending"})  # first page (page size 2): no submitted_at column
    listing.add({"id": "x"})
    listing.add({"id": "dated", "submitted_at": T})
    assert export(output_format)["records"] == 3
    hwm = read_high_water_mark(ObjectStoragePath(str(export.folder)), "submitted_at", "id")
    assert hwm.mark == T and hwm.ids_at_mark == {"dated"}
    assert export(output_format)["records"] == 0


@pytest.mark.parametrize("later", ["2026-11-30T10:00:01", "2026-12-01", "20261130T100002Z", "2026-11-30T10:00:03.1234567Z"])
def test_a_parquet_part_takes_every_mark_spelling_the_export_accepts_after_its_first_row_group(later):
    """The mark field must not take a type a later record can fail: a part's first row group fixes its schema, and
    marks the incremental export accepts (no offset, a date, the basic form, seven fraction digits) are no
    Parquet timestamp. Kept as the API sent them, they also read back in their own spelling."""
    from airflow_provider_surveysphere.formats.parts import part_encoder
    from airflow_provider_surveysphere.incremental import part_records

    encoder = part_encoder("parquet", "submitted_at", "id")
    encoder.row_group_size = 1  # type: ignore[attr-defined]
    data = b"".join(
        encoder.encode_page(page)
        for page in ([{"id": "007", "submitted_at": T}], [{"id": "008", "submitted_at": later}])
    ) + encoder.finish()
    rows = [record for _, record in part_records("part-00000001.parquet", io.BytesIO(data), "submitted_at", "id")]
    assert rows == [{"id": "007", "submitted_at": T}, {"id": "008", "submitted_at": later}]


def test_numeric_marks_stay_numbers_in_a_parquet_part():
    from airflow_provider_surveysphere.formats.parts import part_encoder
    from airflow_provider_surveysphere.incremental import part_records

    encoder = part_encoder("parquet", "seq", "id")
    data = encoder.encode_page([{"id": 1, "seq": 5}, {"id": 2, "seq": 7}]) + encoder.finish()
    rows = [record for _, record in part_records("p.parquet", io.BytesIO(data), "seq", "id")]
    assert rows == [{"id": "1", "seq": 5}, {"id": "2", "seq": 7}]
