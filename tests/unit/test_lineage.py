"""Lineage naming, the export's asset alias, hook lineage and the operator's OpenLineage datasets."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from urllib.parse import unquote, urlsplit, urlunsplit

import pytest

from airflow.providers.common.compat.lineage.hook import get_hook_lineage_collector
from airflow.providers.common.compat.sdk import DAG, ObjectStoragePath
from airflow_provider_surveysphere.asset_uris import convert_source_asset_to_openlineage, normalize_source_uri
from airflow_provider_surveysphere.lineage import (
    export_alias,
    export_extra,
    file_path,
    openlineage_naming,
    output_uri,
    query_window,
    source_name,
    source_namespace,
    source_uri,
)
from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator
from airflow_provider_surveysphere.pagination import PageNumberPagination

from tests.unit.conftest import BASE_URL

RESPONSES = f"{BASE_URL}/api/v1/surveys/s1/responses"
START = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("url", "namespace"),
    [
        ("https://API.SurveySphere.test/api/v1/x", "surveysphere://api.surveysphere.test"),
        ("https://api.surveysphere.test:443/v2", "surveysphere://api.surveysphere.test"),
        ("https://api.surveysphere.test:8443/v2", "surveysphere://api.surveysphere.test:8443"),
        ("http://127.0.0.1:80/", "surveysphere://127.0.0.1"),
        ("http://127.0.0.1:5000/", "surveysphere://127.0.0.1:5000"),
        ("https://[::1]:8443/", "surveysphere://[::1]:8443"),
    ],
)
def test_source_namespace_has_the_port_only_when_it_is_not_the_default(url, namespace):
    assert source_namespace(url) == namespace


def test_source_uri_is_the_endpoint_path_without_its_query_string():
    url = "https://api.surveysphere.test/v2/surveys/s1/responses?since=2026-11-01&api_key=k-123"
    assert source_uri(url) == "surveysphere://api.surveysphere.test/v2/surveys/s1/responses"


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        ("/data/out.jsonl", "file:///data/out.jsonl"),
        ("file:///data/out.jsonl", "file:///data/out.jsonl"),
        ("s3://bucket/exports/out.jsonl", "s3://bucket/exports/out.jsonl"),
        ("s3://aws_default@bucket/exports/out.jsonl", "s3://bucket/exports/out.jsonl"),  # no connection id
    ],
)
def test_output_uri_of_local_and_object_storage_paths(path, uri):
    assert output_uri(ObjectStoragePath(path)) == uri


def test_output_uri_of_a_relative_path_is_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = output_uri(ObjectStoragePath("out/x.jsonl"))
    assert uri.startswith("file:///") and os.path.isabs(uri.removeprefix("file://")) and uri.endswith("/out/x.jsonl")


@pytest.mark.parametrize(
    ("uri", "naming"),
    [
        ("file:///data/out.jsonl", ("file", "/data/out.jsonl")),
        ("s3://bucket/exports/out.jsonl", ("s3://bucket", "exports/out.jsonl")),
        ("gs://bucket/exports/out.jsonl", ("gs://bucket", "exports/out.jsonl")),
        ("abfs://container/exports/out.jsonl", ("abfs://container", "/exports/out.jsonl")),
    ],
)
def test_openlineage_naming_follows_the_spec(uri, naming):
    assert openlineage_naming(uri) == naming


def test_query_window_from_the_first_known_pair():
    assert query_window({"since": "2026-11-01", "until": "2026-11-02", "page": 1}) == {
        "start": "2026-11-01",
        "end": "2026-11-02",
    }
    assert query_window({"start": START, "end": START.replace(day=2)}) == {
        "start": "2026-11-01T00:00:00+00:00",
        "end": "2026-11-02T00:00:00+00:00",
    }
    assert query_window({"since": "2026-11-01"}) is None
    assert query_window(None) is None


def export_operator(tmp_path, **kwargs) -> SurveySphereOperator:
    with DAG("lineage_dag", schedule=None, start_date=START):
        return SurveySphereOperator(
            task_id="export",
            endpoint="api/v1/surveys/s1/responses",
            pagination=PageNumberPagination(page_size=10),
            records_key="data",
            **kwargs,
        )


def test_an_export_declares_its_asset_alias_unless_opted_out(tmp_path):
    alias = export_alias("lineage_dag", "export")
    assert alias.name == "surveysphere-export:lineage_dag.export"
    assert export_operator(tmp_path, output_path="/data/{{ ds }}.jsonl").outlets == [alias]
    assert export_operator(tmp_path, output_path="/data/x.jsonl", emit_asset=False).outlets == []
    assert export_operator(tmp_path).outlets == []  # no file, no asset


@pytest.fixture
def collector(monkeypatch):
    """A fresh, active hook lineage collector (Airflow's global one is a no-op until a reader registers)."""
    from airflow.providers.common.compat import sdk

    fresh = sdk.HookLineageCollector()
    monkeypatch.setattr(sdk, "get_hook_lineage_collector", lambda: fresh)
    return get_hook_lineage_collector()


def test_hook_calls_and_exports_are_recorded_by_the_hook_lineage_collector(collector, hook, mocked_api, tmp_path):
    mocked_api.get(RESPONSES, json={"data": [{"id": "r1"}]})
    operator = export_operator(tmp_path, output_path=str(tmp_path / "out.jsonl"), query_params={"since": "x"})
    operator.hook = hook

    operator.execute({})

    collected = collector.collected_assets
    inputs = [info.asset.uri for info in collected.inputs if info.context is hook]
    outputs = [info.asset.uri for info in collected.outputs if info.context is hook]
    assert inputs == ["surveysphere://api.surveysphere.test/api/v1/surveys/s1/responses"]
    assert outputs == [f"file://{tmp_path}/out.jsonl"]


def test_openlineage_datasets_of_an_export(hook, mocked_api, tmp_path):
    pytest.importorskip("airflow.providers.openlineage")
    mocked_api.get(RESPONSES, json={"data": [{"id": "r1"}, {"id": "r2"}]})
    operator = export_operator(tmp_path, output_path=str(tmp_path / "out.jsonl"))
    operator.hook = hook

    start = operator.get_openlineage_facets_on_start()
    operator.execute({})
    complete = operator.get_openlineage_facets_on_complete(None)

    for lineage in (start, complete):
        (source,) = lineage.inputs
        assert (source.namespace, source.name) == ("surveysphere://api.surveysphere.test", "/api/v1/surveys/s1/responses")
        (target,) = lineage.outputs
        assert (target.namespace, target.name) == ("file", f"{tmp_path}/out.jsonl")
    assert start.outputs[0].outputFacets == {}
    statistics = complete.outputs[0].outputFacets["outputStatistics"]
    assert (statistics.rowCount, statistics.size) == (2, (tmp_path / "out.jsonl").stat().st_size)


def test_openlineage_output_of_an_object_storage_export_is_named_by_bucket_and_key(hook, tmp_path):
    pytest.importorskip("airflow.providers.openlineage")
    operator = export_operator(tmp_path, output_path="s3://aws_default@bucket/exports/out.jsonl")
    operator.hook = hook
    (target,) = operator.get_openlineage_facets_on_failure(None).outputs
    assert (target.namespace, target.name, target.outputFacets) == ("s3://bucket", "exports/out.jsonl", {})


    export_extra,
    file_path,
