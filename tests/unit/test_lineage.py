"""Lineage naming, the export's asset alias, hook lineage and the operator's OpenLineage datasets."""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

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


# -- percent-encoding: a path with '#', '?', '%', spaces or unicode names its own file ---------------------

AWKWARD_PATHS = [
    "/tmp/exports/survey #12/x.jsonl",
    "/tmp/exports/what?/x.jsonl",
    "/tmp/exports/100%/x.jsonl",
    "/tmp/exports/100%25/x.jsonl",  # already looks escaped: must stay apart from "/tmp/exports/100%/..."
    "/tmp/exports/réponses ünïcode/ça.jsonl",
    "/tmp/exports/date=2026-11-01/a+b,c;d@e:f.jsonl",
]


@pytest.mark.parametrize("path", AWKWARD_PATHS)
def test_a_file_uri_and_its_openlineage_name_round_trip_to_the_real_path(path):
    from airflow.providers.common.compat.sdk import Asset

    uri = output_uri(ObjectStoragePath(path))
    assert uri.isascii() and "#" not in uri and "?" not in uri and " " not in uri
    assert file_path(uri) == path
    namespace, name = openlineage_naming(uri)
    assert namespace == "file" and unquote(name) == path
    asset = Asset(uri)  # Airflow's own normalization keeps the whole path
    assert asset.uri == uri and file_path(asset.uri) == path


def test_different_awkward_paths_give_different_assets():
    uris = {output_uri(ObjectStoragePath(path)) for path in AWKWARD_PATHS}
    assert len(uris) == len(AWKWARD_PATHS)
    assert output_uri(ObjectStoragePath("/tmp/exports/survey #12/x.jsonl")) == "file:///tmp/exports/survey%20%2312/x.jsonl"


def test_an_object_key_is_encoded_and_round_trips():
    uri = output_uri(ObjectStoragePath("s3://aws_default@bucket/exports/survey #12/x?.jsonl"))
    assert uri == "s3://bucket/exports/survey%20%2312/x%3F.jsonl"
    assert file_path(uri) == "bucket/exports/survey #12/x?.jsonl"
    assert openlineage_naming(uri) == ("s3://bucket", "exports/survey%20%2312/x%3F.jsonl")


def test_openlineage_output_of_an_export_to_an_awkward_path(hook, tmp_path):
    pytest.importorskip("airflow.providers.openlineage")
    target_path = tmp_path / "survey #12" / "100% ça?.jsonl"
    operator = export_operator(tmp_path, output_path=str(target_path))
    operator.hook = hook
    (target,) = operator.get_openlineage_facets_on_start().outputs
    assert target.namespace == "file" and unquote(target.name) == str(target_path)


# -- the surveysphere:// Asset URI scheme (provider info's asset-uris) -------------------------------------


@pytest.mark.parametrize(
    ("uri", "normalized"),
    [
        ("surveysphere://API.Example.test/api/v1/surveys", "surveysphere://api.example.test/api/v1/surveys"),
        ("surveysphere://api.example.test:8443/api/v1/surveys/", "surveysphere://api.example.test:8443/api/v1/surveys"),
        ("surveysphere://api.example.test/v1/s?since=2026&api_key=k#frag", "surveysphere://api.example.test/v1/s"),
        ("surveysphere://api.example.test/v1/srv 1/r%2Fx", "surveysphere://api.example.test/v1/srv%201/r%2Fx"),
        ("surveysphere://[::1]:5000/v1", "surveysphere://[::1]:5000/v1"),
    ],
)
def test_surveysphere_asset_uris_are_normalized_by_the_registered_handler(uri, normalized):
    from airflow.providers.common.compat.sdk import Asset

    assert urlunsplit(normalize_source_uri(urlsplit(uri))) == normalized
    assert Asset(uri).uri == normalized  # through Airflow's providers manager


@pytest.mark.parametrize("uri", ["surveysphere:///api/v1/surveys", "surveysphere://host:port/x"])
def test_a_surveysphere_asset_uri_without_a_valid_host_is_refused(uri):
    with pytest.raises(ValueError, match="surveysphere:// Asset URI"):
        normalize_source_uri(urlsplit(uri))


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE_URL}/api/v1/surveys/s1/responses?page=2",
        "https://API.example.test:8443/base/api/v1/surveys/srv 1/responses/",
        "http://127.0.0.1:5000/api/v1/surveys/r%C3%A9ponses",
    ],
)
def test_the_openlineage_converter_names_a_hook_asset_as_the_operator_names_its_input(url):
    pytest.importorskip("airflow.providers.openlineage")
    from airflow.providers.common.compat.openlineage.utils.utils import translate_airflow_asset
    from airflow.providers.common.compat.sdk import Asset

    expected = (source_namespace(url), source_name(url))
    dataset = convert_source_asset_to_openlineage(Asset(source_uri(url)), None)
    assert (dataset.namespace, dataset.name) == expected
    # As the OpenLineage provider translates a hook lineage Asset: through the providers manager.
    translated = translate_airflow_asset(Asset(source_uri(url)), None)
    assert translated is not None and (translated.namespace, translated.name) == expected


def test_the_provider_registers_the_surveysphere_scheme_with_the_providers_manager():
    try:  # where tasks read them on Airflow 3.2+
        from airflow.sdk.plugins_manager import ProvidersManagerTaskRuntime as ProvidersManager
    except ImportError:
        from airflow.providers_manager import ProvidersManager  # type: ignore[assignment, no-redef]

    manager = ProvidersManager()
    handlers = getattr(manager, "asset_uri_handlers", None) or manager.dataset_uri_handlers
    converters = getattr(manager, "asset_to_openlineage_converters", None) or manager.dataset_to_openlineage_converters
    assert handlers["surveysphere"] is normalize_source_uri
    assert converters["surveysphere"] is convert_source_asset_to_openlineage


# -- an invalid connection: no lineage, no "failed to extract" warning ------------------------------------


def test_openlineage_of_a_task_with_an_invalid_connection_is_empty_and_logs_nothing(monkeypatch, tmp_path, caplog, capsys):
    """Airflow 3 logs the extractor's warning through structlog (printed), Airflow 2.11 through logging."""
    pytest.importorskip("airflow.providers.openlineage")
    import logging

    from airflow.providers.openlineage.extractors.base import DefaultExtractor

    monkeypatch.setenv("AIRFLOW_CONN_BROKEN", '{"conn_type": "surveysphere", "host": "ftp://nowhere", "login": "client", "password": "secret-value"}')
    operator = export_operator(tmp_path, output_path=str(tmp_path / "out.jsonl"), surveysphere_conn_id="broken")
    extractor = DefaultExtractor(operator)
    with caplog.at_level(logging.DEBUG):
        on_start = extractor.extract()
        on_failure = extractor.extract_on_failure(None)
    for lineage in (on_start, on_failure):
        assert lineage is None or (lineage.inputs, lineage.outputs) == ([], [])
    printed = capsys.readouterr()
    logged = caplog.text + printed.out + printed.err
    assert "failed to extract" not in logged.lower()


def test_openlineage_schema_facet_of_csv_and_parquet_exports(hook, mocked_api, tmp_path):
    pytest.importorskip("airflow.providers.openlineage")
    mocked_api.get(RESPONSES, json={"data": [{"id": "r1", "answers": {"q1": 5}}]})
    declared = export_operator(tmp_path, output_path=str(tmp_path / "out.parquet"), columns=["id", ("answers.q1", "int")])
    declared.hook = hook
    (target,) = declared.get_openlineage_facets_on_start().outputs
    assert [(f.name, f.type) for f in target.facets["schema"].fields] == [("id", None), ("answers.q1", "int")]

    written = export_operator(tmp_path, output_path=str(tmp_path / "out.csv"))
    written.hook = hook
    assert written.get_openlineage_facets_on_start().outputs[0].facets == {}  # columns unknown until written
    written.execute({})
    (target,) = written.get_openlineage_facets_on_complete(None).outputs
    assert [(f.name, f.type) for f in target.facets["schema"].fields] == [("id", None), ("answers.q1", None), ("_extra", None)]

    jsonl = export_operator(tmp_path, output_path=str(tmp_path / "out.jsonl"))
    jsonl.hook = hook
    jsonl.execute({})
    assert jsonl.get_openlineage_facets_on_complete(None).outputs[0].facets == {}


def test_the_asset_event_extra_names_the_format(hook, tmp_path):
    operator = export_operator(tmp_path, output_path=str(tmp_path / "out.csv"))
    operator.hook = hook
    extra = export_extra(operator, {"records": 3, "pages": 1, "format": "csv"})
    assert extra == {"records": 3, "pages": 1, "format": "csv",
                     "source": "surveysphere://api.surveysphere.test/api/v1/surveys/s1/responses"}


@pytest.mark.parametrize("path", AWKWARD_PATHS)
def test_a_downstream_task_opens_the_export_an_awkward_uri_names(tmp_path, path):
    from airflow_provider_surveysphere.lineage import export_storage_path

    local = tmp_path / path.lstrip("/")
    local.parent.mkdir(parents=True)
    local.write_text("one line\n")
    opened = export_storage_path(output_uri(ObjectStoragePath(str(local))))
    assert opened.read_text() == "one line\n"


def test_an_object_export_uri_gives_its_bucket_key_and_the_storage_connection():
    from airflow_provider_surveysphere.lineage import export_storage_path

    uri = output_uri(ObjectStoragePath("s3://aws_default@bucket/exports/survey #12/100% x?.csv"))
    path = export_storage_path(uri, conn_id="aws_default")

    def conn_id_of(path):  # Airflow 3 keeps it as .conn_id, 2.11 in the storage options
        return getattr(path, "conn_id", None) or path.storage_options.get("conn_id")

    assert (path.protocol, path.path, conn_id_of(path)) == ("s3", "bucket/exports/survey #12/100% x?.csv", "aws_default")
    assert conn_id_of(export_storage_path(uri)) is None


# -- hook lineage of paging: once per endpoint, off the first page's critical path (issue #22) ---------------


class _WaitingCollector:
    """Records each input, noting whether page 2 had been requested by then (waiting a little for it)."""

    def __init__(self, page_two_sent: threading.Event) -> None:
        self.page_two_sent = page_two_sent
        self.inputs: list[tuple[str, bool]] = []

    def add_input_asset(self, *, context: Any, uri: str) -> None:
        self.inputs.append((uri, self.page_two_sent.wait(timeout=3)))


def _three_pages_the_third_failing(mocked_api: Any, page_two_sent: threading.Event) -> None:
    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        number = int(parse_qs(urlsplit(request.url).query)["page"][0])
        if number == 2:
            page_two_sent.set()
        if number == 3:
            return 400, {}, json.dumps({"error": "gone"})
        return 200, {}, json.dumps({"data": [{"id": f"r{number}"}], "totalPages": 3})

    mocked_api.add_callback("GET", RESPONSES, callback=answer, content_type="application/json")


def test_paging_records_its_endpoint_once_after_the_next_pages_are_requested_even_when_it_fails(
    hook, mocked_api, monkeypatch
):
    from airflow_provider_surveysphere import lineage
    from airflow_provider_surveysphere.exceptions import SurveySphereClientError

    page_two_sent = threading.Event()
    fake = _WaitingCollector(page_two_sent)
    monkeypatch.setattr(lineage, "_collector", lambda: fake)
    _three_pages_the_third_failing(mocked_api, page_two_sent)

    records = hook.paginate(
        "api/v1/surveys/s1/responses",
        pagination=PageNumberPagination(page_size=1, total_pages_key="totalPages"),
        records_key="data",
        max_concurrency=4,
    )
    with pytest.raises(SurveySphereClientError):
        list(records)

    # Once for the three pages, recorded although page 3 failed, and only once page 2 was on its way: the
    # collector's first use (imports) overlaps the next requests instead of delaying them.
    assert fake.inputs == [("surveysphere://api.surveysphere.test/api/v1/surveys/s1/responses", True)]


def test_a_single_request_still_records_its_endpoint(hook, mocked_api, monkeypatch):
    from airflow_provider_surveysphere import lineage

    fake = _WaitingCollector(threading.Event())
    fake.page_two_sent.set()
    monkeypatch.setattr(lineage, "_collector", lambda: fake)
    mocked_api.get(RESPONSES, json={"data": []})

    hook.request("GET", "api/v1/surveys/s1/responses", params={"page": 1})

    assert fake.inputs == [("surveysphere://api.surveysphere.test/api/v1/surveys/s1/responses", True)]


def test_an_unreadable_first_page_still_records_its_endpoint(hook, mocked_api, monkeypatch):
    from airflow_provider_surveysphere import lineage
    from airflow_provider_surveysphere.exceptions import SurveySpherePaginationError

    fake = _WaitingCollector(threading.Event())
    fake.page_two_sent.set()
    monkeypatch.setattr(lineage, "_collector", lambda: fake)
    mocked_api.get(RESPONSES, body="<html>not json</html>", content_type="text/html")

    with pytest.raises(SurveySpherePaginationError):
        list(hook.paginate("api/v1/surveys/s1/responses", records_key="data"))

    assert fake.inputs == [("surveysphere://api.surveysphere.test/api/v1/surveys/s1/responses", True)]
