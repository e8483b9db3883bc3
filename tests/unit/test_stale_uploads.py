"""Which of a key's incomplete uploads are older than this attempt's: decided by the server's Initiated time, then
by the server's listing order; the worker's clock is never read (the end-to-end proof is tests/s3/test_crash_s3.py)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest

from airflow_provider_surveysphere.output.errors import UploadGoneError, is_upload_gone
from airflow_provider_surveysphere.output.stale_uploads import abort_older_uploads, older_uploads


def at(second: int) -> datetime:
    return datetime(2026, 12, 1, 5, 0, second, tzinfo=timezone.utc)


def upload(upload_id: str, second: int) -> dict:
    return {"Key": "day.jsonl", "UploadId": upload_id, "Initiated": at(second)}


def test_older_by_time_or_by_order_at_the_same_time_newer_kept():
    listed = [
        upload("killed-long-ago", 1),
        upload("killed-same-second", 10),
        upload("mine", 10),
        upload("newer-same-second", 10),  # S3 lists one key's uploads in initiation order
        upload("newer", 11),
        upload("older-listed-late", 5),  # a store that lists otherwise: the time still decides
    ]
    assert [u["UploadId"] for u in older_uploads(listed, "mine")] == [
        "killed-long-ago", "killed-same-second", "older-listed-late"
    ]


def test_own_upload_not_listed_aborts_nothing():
    assert older_uploads([upload("a", 1), upload("b", 2)], "mine") == []


class Store:
    """An s3fs stand-in that answers the calls abort_older_uploads makes, as a store that denies the listing."""

    def __init__(self, listing_error: Exception | None = None, pages: list[dict] | None = None) -> None:
        self.listing_error, self.pages, self.calls = listing_error, list(pages or []), []

    def call_s3(self, method: str, **kwargs):
        self.calls.append((method, kwargs))
        if method == "list_multipart_uploads":
            if self.listing_error is not None:
                raise self.listing_error
            return self.pages.pop(0)
        return {}


def test_a_store_that_denies_the_listing_gets_a_warning_naming_the_key_and_the_export_goes_on(caplog):
    store = Store(PermissionError("Access Denied"))
    with caplog.at_level(logging.WARNING):
        assert abort_older_uploads(store, "exports", "day/2026-11-01.jsonl", "mine") == []
    assert "s3://exports/day/2026-11-01.jsonl" in caplog.text and "Access Denied" in caplog.text
    assert [method for method, _ in store.calls] == ["list_multipart_uploads"]


def test_the_listing_pages_through_the_key_and_ignores_longer_keys():
    first = {
        "Uploads": [upload("killed", 1), upload("mine", 2)],
        "IsTruncated": True, "NextKeyMarker": "day.jsonl", "NextUploadIdMarker": "mine",
    }
    second = {
        "Uploads": [upload("newer", 3), {"Key": "day.jsonl.bak", "UploadId": "other-key", "Initiated": at(0)}],
        "IsTruncated": True, "NextKeyMarker": "day.jsonl.bak", "NextUploadIdMarker": "other-key",
    }
    store = Store(pages=[first, second])
    assert abort_older_uploads(store, "exports", "day.jsonl", "mine") == ["killed"]
    assert store.calls[1] == (
        "list_multipart_uploads",
        {"Bucket": "exports", "Prefix": "day.jsonl", "KeyMarker": "day.jsonl", "UploadIdMarker": "mine"},
    )
    assert store.calls[2:] == [("abort_multipart_upload", {"Bucket": "exports", "Key": "day.jsonl", "UploadId": "killed"})]


def test_a_store_that_repeats_its_marker_ends_the_listing_instead_of_looping():
    # A store that ignores UploadIdMarker answers the same truncated page again and again.
    same = {"Uploads": [upload("killed", 1), upload("mine", 2)], "IsTruncated": True,
            "NextKeyMarker": "day.jsonl", "NextUploadIdMarker": "mine"}
    store = Store(pages=[dict(same) for _ in range(50)])
    assert abort_older_uploads(store, "exports", "day.jsonl", "mine") == ["killed"]
    assert [method for method, _ in store.calls].count("list_multipart_uploads") == 2


def test_a_listing_the_rule_cannot_read_gets_a_warning_and_the_export_goes_on(caplog):
    # An S3-compatible store that leaves out Initiated (or gives it in a form that does not compare).
    pages = [{"Uploads": [{"Key": "day.jsonl", "UploadId": "killed"}, {"Key": "day.jsonl", "UploadId": "mine"}]}]
    with caplog.at_level(logging.WARNING):
        assert abort_older_uploads(Store(pages=pages), "exports", "day.jsonl", "mine") == []
    assert "s3://exports/day.jsonl" in caplog.text and "KeyError" in caplog.text


class ClientError(Exception):
    """botocore's ClientError as s3fs chains it under the FileNotFoundError it raises."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}}


def failing_sink(probe_code: str):
    """A DirectUploadSink whose part upload fails and whose ListParts probe answers ``probe_code``."""
    from airflow_provider_surveysphere.output.sinks import DirectUploadSink

    class File:
        bucket, key, mpu = "exports", "day.jsonl", {"UploadId": "mine"}

        def write(self, data):
            raise OSError(5, "upload_part failed")

    class Probe:
        def call_s3(self, method, **kwargs):
            error = FileNotFoundError(probe_code)
            error.__cause__ = ClientError(probe_code)
            raise error

    sink = object.__new__(DirectUploadSink)
    sink.location = type("Location", (), {"protocol": "s3"})()
    sink.fs, sink._file, sink.written = Probe(), File(), 0
    return sink


@pytest.mark.parametrize(("probe_code", "gone"), [("NoSuchUpload", True), ("NoSuchBucket", False), ("NoSuchKey", False)])
def test_only_the_stores_no_such_upload_reports_the_upload_gone(probe_code, gone):
    # A bucket deleted under the export is not "a later attempt aborted this upload" (transient, or in an
    # incremental export "overtaken by another export"): only NoSuchUpload says the upload itself is gone.
    with pytest.raises(OSError) as caught:
        failing_sink(probe_code).write(b"x")
    assert isinstance(caught.value, UploadGoneError) is gone
    assert is_upload_gone(caught.value) is gone
