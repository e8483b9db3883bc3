"""A real DAG run (``airflow dags test``) exporting from the real sandbox to moto's S3: the README's
example as written, and a storage connection picked by a template."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_provider_surveysphere.sandbox import SandboxConfig, SandboxServer
from airflow_provider_surveysphere.sandbox.server import DEFAULT_START

from dags_examples.run_demo import LocalAirflow, sandbox_connection
from tests.s3.conftest import CONN_ID

DAGS = Path(__file__).parent / "dags"
DAY = (datetime(2026, 11, 1, tzinfo=timezone.utc), datetime(2026, 11, 2, tzinfo=timezone.utc))


def expected_ids(sandbox: SandboxServer, survey_number: int) -> list[str]:
    dataset = sandbox.config.dataset()
    lo, hi = dataset.index_window(*DAY)
    return [f"{dataset.survey_id(survey_number)}-r{index + 1:07d}" for index in range(lo, hi)]


@pytest.fixture(scope="module")
def local_airflow(tmp_path_factory: pytest.TempPathFactory) -> LocalAirflow:
    airflow = LocalAirflow(tmp_path_factory.mktemp("airflow-home"), dags_folder=DAGS)
    airflow.migrate()
    return airflow


def test_readme_example_and_templated_storage_connection_export_to_s3(local_airflow, moto_s3, monkeypatch):
    for name in ("my-bucket", "exports-dag"):  # the README's bucket; never created by the export
        moto_s3.client.create_bucket(Bucket=name)
    config = SandboxConfig(surveys=2, responses_per_survey=6_000, response_interval=30, start=DEFAULT_START)
    with SandboxServer(config=config) as sandbox:
        result = local_airflow.dags_test(
            "surveysphere_s3_export",
            "2026-11-02",
            env={
                "AIRFLOW_CONN_SURVEYSPHERE_DEFAULT": sandbox_connection(sandbox),
                "AIRFLOW_CONN_AWS_DEFAULT": moto_s3.connection(),
                f"AIRFLOW_CONN_{CONN_ID.upper()}": moto_s3.connection(),
            },
        )
        output = "\n".join([result.stdout, result.stderr, local_airflow.task_logs()])
        assert result.returncode == 0, output[-5000:]
        # {{ ds }} is the logical date: 2026-11-02 on Airflow 3, the interval's start on Airflow 2.
        [readme_key] = moto_s3.keys("my-bucket")  # one object, nothing else in the bucket
        [gzip_key] = moto_s3.keys("exports-dag")
        assert readme_key in ("surveysphere/2026-11-01.jsonl", "surveysphere/2026-11-02.jsonl")
        assert gzip_key == readme_key.replace(".jsonl", "/srv-0002.jsonl.gz")
        readme = moto_s3.read("my-bucket", readme_key)
        assert [json.loads(line)["id"] for line in readme.splitlines()] == expected_ids(sandbox, 1)
        gz = gzip.decompress(moto_s3.read("exports-dag", gzip_key))
        assert [json.loads(line)["id"] for line in gz.splitlines()] == expected_ids(sandbox, 2)
    assert moto_s3.uploads_in_progress("my-bucket") == moto_s3.uploads_in_progress("exports-dag") == []
    assert f"storage connection '{CONN_ID}'" in output  # the rendered template picked the connection
