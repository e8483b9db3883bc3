"""Create-only publishing on a real S3 API (moto's server): ``If-None-Match: *`` on the PutObject of a small
file and on the CompleteMultipartUpload of a large one, and two incremental exports of one prefix racing."""

from __future__ import annotations

import json

import pytest

from airflow_provider_surveysphere.incremental import SurveySphereConcurrentExportError, export_new_records
from airflow_provider_surveysphere.output import AtomicJsonLinesWriter, SurveySphereOutputExistsError

from tests.s3.conftest import CONN_ID
from tests.unit.incremental_fakes import FakeHook, Listing

PART = 5 * 2**20
FILLER = "x" * 900
THEIRS = b'{"id": "theirs"}\n'


@pytest.mark.parametrize("pages", [1, 8], ids=["put-object", "multipart-upload"])
def test_create_only_refuses_an_existing_key_and_leaves_it_as_it_was(moto_s3, bucket, pages):
    moto_s3.client.put_object(Bucket=bucket, Key="part.jsonl", Body=THEIRS)
    with pytest.raises(SurveySphereOutputExistsError, match="another writer published this name first"):
        with AtomicJsonLinesWriter(f"s3://{CONN_ID}@{bucket}/part.jsonl", part_size=PART, overwrite=False) as writer:
            for number in range(pages):  # 8 pages: ~14 MB, three parts of a multipart upload
                writer.write_records([{"id": i, "filler": FILLER} for i in range(number * 2_000, (number + 1) * 2_000)])
    assert moto_s3.read(bucket, "part.jsonl") == THEIRS
    assert moto_s3.keys(bucket) == ["part.jsonl"] and moto_s3.uploads_in_progress(bucket) == []


def test_create_only_publishes_a_new_key(moto_s3, bucket):
    with AtomicJsonLinesWriter(f"s3://{CONN_ID}@{bucket}/part.jsonl", part_size=PART, overwrite=False) as writer:
        writer.write_records([{"id": 1}])
    assert moto_s3.read(bucket, "part.jsonl") == b'{"id":1}\n'


def test_two_incremental_exports_of_one_prefix_at_once_publish_each_record_once(moto_s3, bucket):
    listing = Listing()
    for n in range(6):
        listing.add({"id": f"r{n}", "submitted_at": f"2026-11-30T10:00:0{n}Z"})
    url = f"s3://{CONN_ID}@{bucket}/new/survey=1"
    ours, theirs = FakeHook(listing, page_size=2), FakeHook(listing, page_size=2)

    def export(hook):
        return export_new_records(hook, "responses", url, pagination=None, records_key=None)

    def the_other_export_runs(page: int) -> None:
        if page == 2:
            assert export(theirs)["path"].endswith("part-00000001.jsonl")

    ours.before_page = the_other_export_runs
    with pytest.raises(SurveySphereConcurrentExportError, match="published part-00000001.jsonl while this one ran"):
        export(ours)
    ours.before_page = lambda page: None
    assert export(ours)["records"] == 0  # the retry continues from the winner's mark
    assert moto_s3.keys(bucket) == ["new/survey=1/part-00000001.jsonl"] and moto_s3.uploads_in_progress(bucket) == []
    data = moto_s3.read(bucket, "new/survey=1/part-00000001.jsonl")
    assert [json.loads(line)["id"] for line in data.splitlines()] == [f"r{n}" for n in range(6)]
