"""The export writer against a real S3 API (moto's server): the final key written directly with a
multipart upload, nothing visible and no incomplete upload after a failure, no bucket ever created."""

from __future__ import annotations

import gzip
import json
import logging

import pytest

from airflow.providers.common.compat.sdk import AirflowFailException, ObjectStoragePath
from airflow_provider_surveysphere.output import (
    AtomicJsonLinesWriter,
    SurveySphereOutputError,
    SurveySphereOutputTransientError,
)

from tests.s3.conftest import CONN_ID

PART = 5 * 2**20  # S3's smallest part: the tests cross part boundaries with little data
FILLER = "x" * 900


def page(first: int, count: int = 2_000) -> list[dict]:
    """About 1.8 MB of records with ids first..first+count-1."""
    return [{"id": i, "filler": FILLER} for i in range(first, first + count)]


def ids(data: bytes) -> list[int]:
    return [json.loads(line)["id"] for line in data.decode().splitlines()]


def write(url, pages: int, **kwargs) -> AtomicJsonLinesWriter:
    with AtomicJsonLinesWriter(url, part_size=PART, **kwargs) as writer:
        for number in range(pages):
            writer.write_records(page(number * 2_000))
    return writer


def test_success_writes_the_key_in_parts_and_leaves_nothing_else(moto_s3, bucket):
    writer = write(f"s3://{CONN_ID}@{bucket}/day/2026-11-01.jsonl", pages=8)  # ~14 MB: three parts
    assert writer.records == 16_000
    assert moto_s3.keys(bucket) == ["day/2026-11-01.jsonl"]  # no temporary key, no marker
    assert moto_s3.uploads_in_progress(bucket) == []
    assert ids(moto_s3.read(bucket, "day/2026-11-01.jsonl")) == list(range(16_000))
    etag = moto_s3.client.head_object(Bucket=bucket, Key="day/2026-11-01.jsonl")["ETag"]
    assert etag.strip('"').endswith("-3")  # a multipart upload of 3 parts, not a copy


@pytest.mark.parametrize("previous", [None, b'{"id": "previous complete run"}\n'], ids=["new-key", "existing-key"])
def test_failure_mid_export_leaves_no_key_and_no_incomplete_upload(moto_s3, bucket, previous):
    key = "day/2026-11-01.jsonl"
    if previous is not None:
        moto_s3.client.put_object(Bucket=bucket, Key=key, Body=previous)
    with pytest.raises(RuntimeError, match="the API failed"):
        with AtomicJsonLinesWriter(f"s3://{CONN_ID}@{bucket}/{key}", part_size=PART) as writer:
            for number in range(6):  # two parts uploaded before the failure
                writer.write_records(page(number * 2_000))
            assert moto_s3.uploads_in_progress(bucket) == [key]  # the upload really was under way
            raise RuntimeError("the API failed")
    assert moto_s3.keys(bucket) == ([key] if previous is not None else [])
    if previous is not None:
        assert moto_s3.read(bucket, key) == previous  # readers still see the previous complete object
    assert moto_s3.uploads_in_progress(bucket) == []  # aborted: no part stays stored or billed


def test_failure_before_the_first_part_leaves_nothing(moto_s3, bucket):
    with pytest.raises(RuntimeError):
        with AtomicJsonLinesWriter(f"s3://{CONN_ID}@{bucket}/small.jsonl", part_size=PART) as writer:
            writer.write_records(page(0, 10))
            raise RuntimeError("the API failed")
    assert moto_s3.keys(bucket) == [] and moto_s3.uploads_in_progress(bucket) == []


def test_rerun_overwrites_the_key(moto_s3, bucket):
    url = f"s3://{CONN_ID}@{bucket}/day.jsonl"
    write(url, pages=4)
    write(url, pages=1)
    assert ids(moto_s3.read(bucket, "day.jsonl")) == list(range(2_000))
    assert moto_s3.keys(bucket) == ["day.jsonl"] and moto_s3.uploads_in_progress(bucket) == []


def test_missing_bucket_fails_before_anything_is_written_and_is_not_created(moto_s3):
    with pytest.raises(SurveySphereOutputError) as caught:
        with AtomicJsonLinesWriter(f"s3://{CONN_ID}@no-such-bucket-3f9a/day.jsonl", part_size=PART):
            pytest.fail("the writer opened on a missing bucket")
    message = str(caught.value)
    assert isinstance(caught.value, AirflowFailException)  # permanent: no retries
    assert "output_path" in message and "'no-such-bucket-3f9a'" in message and f"'{CONN_ID}'" in message
    assert "no-such-bucket-3f9a" not in [b["Name"] for b in moto_s3.client.list_buckets()["Buckets"]]


def test_undefined_connection_fails_at_once_naming_it(moto_s3, bucket):
    with pytest.raises(SurveySphereOutputError, match="storage connection 'nope' is not defined"):
        AtomicJsonLinesWriter(f"s3://nope@{bucket}/day.jsonl")
    with pytest.raises(SurveySphereOutputError, match="storage connection 'nope' is not defined"):
        AtomicJsonLinesWriter(f"s3://{bucket}/day.jsonl", conn_id="nope")


@pytest.mark.parametrize(
    "make_path",
    [
        lambda bucket: {"path": f"s3://{CONN_ID}@{bucket}/day.jsonl"},
        lambda bucket: {"path": ObjectStoragePath(f"s3://{bucket}/day.jsonl", conn_id=CONN_ID)},
        lambda bucket: {"path": f"s3://{bucket}/day.jsonl", "conn_id": CONN_ID},
    ],
    ids=["conn_id@bucket", "ObjectStoragePath-conn_id", "conn_id-argument"],
)
def test_each_way_of_naming_the_connection_reaches_the_store(moto_s3, bucket, make_path):
    arguments = make_path(bucket)
    writer = write(arguments.pop("path"), pages=1, **arguments)
    assert writer.location.conn_id == CONN_ID
    assert ids(moto_s3.read(bucket, "day.jsonl")) == list(range(2_000))


def test_gzip_round_trip(moto_s3, bucket):
    write(f"s3://{CONN_ID}@{bucket}/day.jsonl.gz", pages=4)
    assert ids(gzip.decompress(moto_s3.read(bucket, "day.jsonl.gz"))) == list(range(8_000))
    assert moto_s3.uploads_in_progress(bucket) == []


def test_store_down_mid_export_fails_at_the_next_part_as_a_transient_error(moto_s3, bucket, caplog):
    key = "day.jsonl"
    writer = AtomicJsonLinesWriter(f"s3://{CONN_ID}@{bucket}/{key}", part_size=PART)
    written = 0
    try:
        with pytest.raises(SurveySphereOutputTransientError) as caught, caplog.at_level(logging.WARNING):
            with writer:
                for number in range(4):
                    writer.write_records(page(number * 2_000))  # ~7 MB: one part uploaded
                    written += 1
                moto_s3.stop()
                for number in range(4, 8):
                    writer.write_records(page(number * 2_000))  # the next part cannot be uploaded
                    written += 1
    finally:
        moto_s3.restart()
    assert written < 8  # noticed while writing, not only at the end of the export
    assert not isinstance(caught.value, AirflowFailException)  # the task's retries apply
    message = str(caught.value)
    assert f"s3://{CONN_ID}@{bucket}/{key}" in message and f"'{CONN_ID}'" in message and f"'{key}'" in message
    assert moto_s3.keys(bucket) == []
    # The abort could not reach the store either: the log says so and names the lifecycle rule that cleans it.
    assert "AbortIncompleteMultipartUpload" in caplog.text



def test_other_protocols_branch_publishes_by_rename(moto_s3, bucket, monkeypatch):
    """The branch for stores without an abortable upload (az, sftp, ...), run against S3 by switching S3 to it."""
    from airflow_provider_surveysphere.output import sinks

    monkeypatch.setattr(sinks, "DIRECT_UPLOAD_PROTOCOLS", frozenset())
    write(f"s3://{CONN_ID}@{bucket}/day/2026-11-01.jsonl", pages=1)
    assert moto_s3.keys(bucket) == ["day/2026-11-01.jsonl"]  # the temporary sibling was moved, not left
    assert ids(moto_s3.read(bucket, "day/2026-11-01.jsonl")) == list(range(2_000))
