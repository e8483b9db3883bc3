"""A real S3 API for the object-storage tests: moto's server on 127.0.0.1 (an ephemeral port), in this process.

Run by ``make test-s3`` from a venv of their own (the Amazon provider, s3fs and moto need
python-dateutil<3, which the main lock does not hold); elsewhere these tests are not collected.
The server runs in a thread of the test process, so a test can stop it ("the store is down") and
start it again on the same port with its buckets intact (moto keeps them in this process).
"""

from __future__ import annotations

import importlib.util
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

if not all(importlib.util.find_spec(name) for name in ("moto", "s3fs", "airflow.providers.amazon")):
    collect_ignore_glob = ["test_*.py"]  # `make test-s3` installs them; `make test` has no S3 stack
else:
    import boto3
    from moto.server import ThreadedMotoServer

CONN_ID = "moto_s3"  # a storage connection that is not the default: proves which one is picked
REGION = "us-east-1"


class MotoS3:
    """moto's S3 server: its endpoint, a boto3 client for the assertions, and a switch to take it down."""

    def __init__(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, self.port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{self.port}"
        self.client = boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )

    def stop(self) -> None:
        self.server.stop()

    def restart(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def connection(self) -> str:
        """An Airflow ``aws`` connection to this server, as JSON for AIRFLOW_CONN_<ID>."""
        extra: dict[str, Any] = {
            "endpoint_url": self.endpoint,
            "region_name": REGION,
            # Few, short retries: "the store is down" fails in seconds, not minutes.
            "config_kwargs": {"retries": {"mode": "standard", "total_max_attempts": 2}, "connect_timeout": 2},
        }
        return json.dumps({"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra})

    def keys(self, bucket: str) -> list[str]:
        return [item["Key"] for item in self.client.list_objects_v2(Bucket=bucket).get("Contents", [])]

    def uploads_in_progress(self, bucket: str) -> list[str]:
        return [upload["Key"] for upload in self.client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]

    def read(self, bucket: str, key: str) -> bytes:
        return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    server = MotoS3()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def storage_connections(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> None:
    """The storage connections of every test; no AWS credentials in the environment to fall back on."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no 1-second wait for an instance profile
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", moto_s3.connection())
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", moto_s3.connection())


@pytest.fixture
def bucket(moto_s3: MotoS3) -> str:
    name = f"exports-{uuid.uuid4().hex[:12]}"
    moto_s3.client.create_bucket(Bucket=name)
    return name
