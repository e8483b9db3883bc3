"""Incremental exports keep their high-water mark in their own output: every record exactly once."""

from __future__ import annotations

import json

import pytest

from airflow.providers.common.compat.sdk import ObjectStoragePath
from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
from airflow_provider_surveysphere.incremental import HighWaterMark, export_new_records, new_records, parts_of
from airflow_provider_surveysphere.pagination import PageNumberPagination
from airflow_provider_surveysphere.sandbox import SandboxConfig, SandboxServer

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
