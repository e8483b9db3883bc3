"""CSV and Parquet exports to a real S3 API (moto's server): published like JSON Lines, by one multipart upload
of the final key, and nothing visible or left in progress after a failure."""

from __future__ import annotations

import csv
import io
import random

import pyarrow.parquet as pq
import pytest

from airflow_provider_surveysphere.formats import FormatOptions, SurveySphereFormatError
from airflow_provider_surveysphere.output import AtomicJsonLinesWriter

from tests.s3.conftest import CONN_ID

PART = 5 * 2**20
PAGE = 2_000


def page(number: int) -> list[dict]:
    """About 1.8 MB of records that compress poorly (so that Parquet too crosses part boundaries)."""
    rng = random.Random(number)
    return [{"id": number * PAGE + i, "answers": {"text": rng.randbytes(450).hex()}} for i in range(PAGE)]


def writer(url: str, output_format: str) -> AtomicJsonLinesWriter:
    encoder = FormatOptions(row_group_size=PAGE).encoder(output_format, "infer")
    return AtomicJsonLinesWriter(url, part_size=PART, encoder=encoder)


def read_ids(data: bytes, output_format: str) -> list[int]:
    if output_format == "csv":
        return [int(row["id"]) for row in csv.DictReader(io.StringIO(data.decode(), newline=""))]
    return pq.read_table(io.BytesIO(data)).column("id").to_pylist()


@pytest.mark.parametrize("output_format", ["csv", "parquet"])
def test_the_file_is_one_multipart_upload_of_the_final_key(moto_s3, bucket, output_format):
    key = f"day/2026-11-01.{output_format}"
    with writer(f"s3://{CONN_ID}@{bucket}/{key}", output_format) as export:
        for number in range(8):
            export.write_records(page(number))
    assert moto_s3.keys(bucket) == [key] and moto_s3.uploads_in_progress(bucket) == []
    assert read_ids(moto_s3.read(bucket, key), output_format) == list(range(8 * PAGE))
    etag = moto_s3.client.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    assert int(etag.rsplit("-", 1)[1]) >= 2  # several parts, not a copy


@pytest.mark.parametrize("output_format", ["csv", "parquet"])
def test_a_record_that_fails_mid_export_leaves_the_previous_file_and_no_upload(moto_s3, bucket, output_format):
    key = f"day/2026-11-01.{output_format}"
    moto_s3.client.put_object(Bucket=bucket, Key=key, Body=b"previous complete run")
    with pytest.raises(SurveySphereFormatError, match="record 1 of page 7"):
        with writer(f"s3://{CONN_ID}@{bucket}/{key}", output_format) as export:
            for number in range(6):
                export.write_records(page(number))
            assert moto_s3.uploads_in_progress(bucket) == [key]  # parts were uploaded before the failure
            export.write_records(["not an object"])
    assert moto_s3.keys(bucket) == [key]
    assert moto_s3.read(bucket, key) == b"previous complete run"
    assert moto_s3.uploads_in_progress(bucket) == []
