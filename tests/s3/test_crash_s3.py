"""Crash-only on S3 (moto's server): an export killed (``kill -9``) at a chosen point leaves an incomplete
multipart upload behind; the next attempt of the same key aborts it before its first part and publishes the exact
object, and no upload of the key remains. A live older attempt whose upload was aborted fails, transiently, saying
why, and publishes nothing."""

from __future__ import annotations

import json
import logging

import pytest

from airflow.providers.common.compat.sdk import AirflowFailException
from airflow_provider_surveysphere.incremental import SurveySphereConcurrentExportError, export_new_records
from airflow_provider_surveysphere.output import AtomicJsonLinesWriter, SurveySphereOutputTransientError, stale_uploads

from tests.s3.conftest import CONN_ID
from tests.support.killable import PART, PausedExport, page
from tests.unit.incremental_fakes import FakeHook, Listing

PAGES = 8  # ~14 MB: three parts of 5 MiB


def ids(data: bytes) -> list[int]:
    return [json.loads(line)["id"] for line in data.decode().splitlines()]


def write(url: str, pages: int) -> AtomicJsonLinesWriter:
    with AtomicJsonLinesWriter(url, part_size=PART) as writer:
        for number in range(pages):
            writer.write_records(page(number * 2_000))
    return writer


@pytest.mark.parametrize(
    "point",
    ["pages=0", "call=upload_part:1", "call=upload_part:3", "call=complete_multipart_upload:1"],
    ids=["before-the-first-page", "upload-started-no-part", "after-two-parts", "before-completing"],
)
def test_the_next_attempt_aborts_what_a_killed_one_left_and_publishes_the_exact_object(
    moto_s3, bucket, tmp_path, point, caplog
):
    key = "day/2026-11-01.jsonl"
    url = f"s3://{CONN_ID}@{bucket}/{key}"
    moto_s3.client.put_object(Bucket=bucket, Key=key, Body=b'{"id": "yesterday\'s complete run"}\n')
    PausedExport(url, PAGES, point, tmp_path).kill()
    left = moto_s3.uploads_in_progress(bucket)
    assert left == ([] if point == "pages=0" else [key])  # the kill really left an upload behind
    # Uploads of other keys are not this attempt's to abort: a longer key the prefix also matches, a sibling.
    longer = moto_s3.client.create_multipart_upload(Bucket=bucket, Key=key + ".bak")["UploadId"]
    sibling = moto_s3.client.create_multipart_upload(Bucket=bucket, Key="day/2026-11-02.jsonl")["UploadId"]

    with caplog.at_level(logging.INFO, logger="airflow_provider_surveysphere"):
        writer = write(url, PAGES)

    assert writer.records == 16_000
    assert ids(moto_s3.read(bucket, key)) == list(range(16_000))
    assert sorted(moto_s3.uploads_in_progress(bucket)) == sorted([key + ".bak", "day/2026-11-02.jsonl"])
    if left:
        assert "Aborted the incomplete multipart upload" in caplog.text and key in caplog.text
    moto_s3.client.abort_multipart_upload(Bucket=bucket, Key=key + ".bak", UploadId=longer)
    moto_s3.client.abort_multipart_upload(Bucket=bucket, Key="day/2026-11-02.jsonl", UploadId=sibling)


def test_a_killed_incremental_export_leaves_no_upload_after_its_retry(moto_s3, bucket, tmp_path):
    """The incremental export's parts are create-only keys (part-N): the retry writes the same key, so the rule
    covers them; the killed part's upload is aborted and the part holds every record once."""
    part = f"s3://{CONN_ID}@{bucket}/responses/part-00000001.jsonl"
    PausedExport(part, PAGES, "call=upload_part:3", tmp_path).kill()
    assert moto_s3.uploads_in_progress(bucket) == ["responses/part-00000001.jsonl"]

    class Records:  # the hook's paginate, as export_new_records uses it: the same records again
        pages = PAGES

        def paginate(self, *args, **kwargs):
            return self

        def iter_pages(self):
            for number in range(PAGES):
                yield type("Page", (), {"records": [dict(r, submitted_at=r["id"]) for r in page(number * 2_000)]})

    result = export_new_records(
        Records(), "responses", f"s3://{CONN_ID}@{bucket}/responses", pagination=None, records_key=None
    )
    assert result["records"] == 16_000 and result["path"].endswith("part-00000001.jsonl")
    assert ids(moto_s3.read(bucket, "responses/part-00000001.jsonl")) == list(range(16_000))
    assert moto_s3.uploads_in_progress(bucket) == []


def test_a_live_older_attempt_whose_upload_was_aborted_fails_transiently_and_publishes_nothing(moto_s3, bucket):
    """A zombie (an attempt the scheduler took for dead while it still ran) loses its upload to the retry that
    started after it: it must fail with a transient error saying so, not publish or pass silently."""
    key = "day.jsonl"
    url = f"s3://{CONN_ID}@{bucket}/{key}"
    zombie = AtomicJsonLinesWriter(url, part_size=PART)
    with pytest.raises(SurveySphereOutputTransientError) as caught:
        with zombie:
            for number in range(4):
                zombie.write_records(page(number * 2_000))
            assert moto_s3.uploads_in_progress(bucket) == [key]  # the zombie's upload holds a part
            write(url, pages=6)  # the retry: aborts the zombie's upload, publishes 12,000 records
            for number in range(4, PAGES):
                zombie.write_records(page(number * 2_000))
    message = str(caught.value)
    assert "aborted while this attempt wrote it" in message and "published nothing" in message
    assert key in message
    assert not isinstance(caught.value, AirflowFailException)  # transient: Airflow's retries apply
    assert ids(moto_s3.read(bucket, key)) == list(range(12_000))  # the retry's object, untouched
    assert moto_s3.uploads_in_progress(bucket) == []


def test_an_upload_started_after_this_attempts_own_is_not_aborted(moto_s3, bucket, monkeypatch):
    """Only uploads older than this attempt's own are aborted. The interleaving is forced: another upload of the
    key starts after this attempt's and before its listing, so the listing holds one older and one newer upload
    (moto gives every upload the same Initiated time: the server's order alone tells them apart)."""
    key = "day.jsonl"
    url = f"s3://{CONN_ID}@{bucket}/{key}"
    older = moto_s3.client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    newer: list[str] = []
    list_key_uploads = stale_uploads.list_key_uploads

    def newer_upload_then_list(fs, bucket_name, key_name):
        newer.append(moto_s3.client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"])
        return list_key_uploads(fs, bucket_name, key_name)

    monkeypatch.setattr(stale_uploads, "list_key_uploads", newer_upload_then_list)
    write(url, pages=4)
    uploads = moto_s3.client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [upload["UploadId"] for upload in uploads] == newer  # the older one aborted, the newer one kept
    assert older not in newer
    moto_s3.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=newer[0])


def test_two_incremental_exports_of_one_folder_when_the_later_aborts_the_earlier_upload(moto_s3, bucket):
    """Scenario 5 on S3 with parts of a part's size or more: the later export aborts the earlier one's upload of
    the same part (its rule for killed attempts' uploads); the earlier one fails as a concurrent export, naming
    the folder, and its retry continues from the new mark: every record once."""
    listing = Listing()
    for n in range(12_000):  # ~11.6 MB: the part is a multipart upload of 8 MiB parts
        listing.add({"id": f"r{n:05d}", "submitted_at": "2026-11-30T10:00:00Z", "filler": "x" * 900})
    folder = f"s3://{CONN_ID}@{bucket}/new/survey=1"
    ours, theirs = FakeHook(listing, page_size=3_000), FakeHook(listing, page_size=3_000)

    def export(hook):
        return export_new_records(hook, "responses", folder, pagination=None, records_key=None)

    def the_other_export_runs(page: int) -> None:
        if page == 4:  # ours has uploaded its first part (8.7 MB written)
            assert moto_s3.uploads_in_progress(bucket) == ["new/survey=1/part-00000001.jsonl"]
            assert export(theirs)["records"] == 12_000

    ours.before_page = the_other_export_runs
    with pytest.raises(SurveySphereConcurrentExportError) as caught:
        export(ours)
    message = str(caught.value)
    assert "new/survey=1" in message and "aborted this one's upload" in message
    assert "a retry continues from the new mark" in message
    ours.before_page = lambda page: None
    assert export(ours)["records"] == 0  # the retry continues from the winner's mark
    assert moto_s3.keys(bucket) == ["new/survey=1/part-00000001.jsonl"] and moto_s3.uploads_in_progress(bucket) == []
    data = moto_s3.read(bucket, "new/survey=1/part-00000001.jsonl")
    assert [json.loads(line)["id"] for line in data.splitlines()] == [f"r{n:05d}" for n in range(12_000)]
