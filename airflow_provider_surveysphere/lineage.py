"""Lineage of SurveySphere calls and exports: Airflow Assets, hook lineage and OpenLineage datasets.

One naming serves all three, so that an export looks the same in Airflow's asset graph and in an
OpenLineage backend:

- the source is ``surveysphere://<host>[:<port>]`` (the port only when it is not the scheme's default)
  and the URL path of the endpoint, never its query string;
- the output is the export file's URI (``file:///abs/path``, ``s3://bucket/key``...); for OpenLineage it
  is split as the OpenLineage naming spec says (``file`` + absolute path, ``s3://bucket`` + key...).

Paths are percent-encoded as a URI path (:mod:`airflow_provider_surveysphere.asset_uris`): a ``#``, ``?``,
``%``, space or non-ASCII character is escaped, and :func:`file_path` gives the real path back.

Nothing here needs the OpenLineage provider, except :func:`operator_lineage`, which the OpenLineage
listener alone calls (so the provider is there when it runs).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.providers.common.compat.sdk import Asset, AssetAlias, ObjectStoragePath, get_current_context
from airflow_provider_surveysphere.asset_uris import SOURCE_SCHEME, quote_path, source_path, unquote_path
from airflow_provider_surveysphere.exceptions import SurveySpherePermanentError

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage

log = logging.getLogger(__name__)

ALIAS_PREFIX = "surveysphere-export:"
DEFAULT_PORTS = {"https": 443, "http": 80}
#: Query parameter pairs read as the export's window ``[start, end)``, first match wins.
WINDOW_PARAMS = (("since", "until"), ("start", "end"), ("from", "to"), ("start_date", "end_date"))
#: Object storage protocols whose URI scheme differs from fsspec's protocol name.
URI_SCHEMES = {"gcs": "gs", "s3a": "s3"}
LOCAL_PROTOCOLS = frozenset({"", "file", "local"})
BUCKET_SCHEMES = frozenset({"s3", "gs"})


# -- naming -------------------------------------------------------------------------------------------------


def source_namespace(url: str) -> str:
    """``surveysphere://host[:port]`` of a SurveySphere URL; the port only when not the default one.

    :param url: the base URL or any URL on the SurveySphere host
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    if port is not None and port != DEFAULT_PORTS.get(parts.scheme.lower()):
        host = f"{host}:{port}"
    return f"{SOURCE_SCHEME}://{host}"


def source_name(url: str) -> str:
    """The URL path of an endpoint (``/api/v1/surveys/srv-1/responses``), escaped: never the query string."""
    return source_path(urlsplit(url).path)


def source_uri(url: str) -> str:
    """``surveysphere://host[:port]/path`` of an endpoint URL, the URI of the source Asset."""
    return source_namespace(url) + source_name(url)


def output_uri(path: ObjectStoragePath) -> str:
    """The URI of an export file: ``file:///abs/path`` or ``<scheme>://bucket/key``, without a connection id.

    The path is percent-encoded (``/tmp/survey #12/x.jsonl`` is ``file:///tmp/survey%20%2312/x.jsonl``);
    :func:`file_path` reverses it.
    """
    protocol = path.protocol if isinstance(path.protocol, str) else path.protocol[0]
    if protocol in LOCAL_PROTOCOLS:
        return "file://" + quote_path(os.path.abspath(str(path.path)))
    bucket, _, key = path.path.lstrip("/").partition("/")
    return f"{URI_SCHEMES.get(protocol, protocol)}://{bucket}/{quote_path(key)}"


def file_path(uri: str) -> str:
    """The real path (local file) or ``bucket/key`` (object storage) that an export's URI names.

    ``file_path("file:///tmp/survey%20%2312/x.jsonl") == "/tmp/survey #12/x.jsonl"``: what a downstream
    task opens after reading the URI of an Asset event.

    :param uri: an Asset URI made by :func:`output_uri`
    """
    parts = urlsplit(uri)
    path = unquote_path(parts.path)
    return path if parts.scheme == "file" else parts.netloc + path


def export_storage_path(uri: str, conn_id: str | None = None) -> ObjectStoragePath:
    """The file or object an export's URI names, to open it: :func:`file_path` as an ``ObjectStoragePath``.

    Asset URIs carry no storage connection; ``conn_id`` names the one to read with (None: the store's
    default credentials).

    :param uri: an Asset URI made by :func:`output_uri`
    :param conn_id: the storage connection (object storage only)
    """
    scheme = urlsplit(uri).scheme
    if scheme == "file":
        return ObjectStoragePath(file_path(uri))
    return ObjectStoragePath(f"{scheme}://{conn_id + '@' if conn_id else ''}{file_path(uri)}")


def triggering_exports(context: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(uri, extra)`` of each asset event that triggered a run scheduled on :func:`export_alias`, by URI.

    :param context: the task's context (Airflow 3 names the events ``triggering_asset_events``, 2.11
        ``triggering_dataset_events``)
    """
    events = context.get("triggering_asset_events") or context.get("triggering_dataset_events") or {}
    found: dict[str, dict[str, Any]] = {}
    for key in list(events):
        for event in events[key]:
            asset: Any = getattr(event, "asset", None) or getattr(event, "dataset", None)
            found[asset.uri] = dict(event.extra or {})
    return sorted(found.items())


def openlineage_naming(uri: str) -> tuple[str, str]:
    """``(namespace, name)`` of a storage URI per the OpenLineage naming spec.

    ``file:///p`` gives ``("file", "/p")``; ``s3://b/k`` and ``gs://b/k`` give ``("s3://b", "k")``;
    any other ``scheme://authority/path`` gives ``("scheme://authority", "/path")``.
    """
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return "file", parts.path
    if parts.scheme in BUCKET_SCHEMES:
        return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")
    return f"{parts.scheme}://{parts.netloc}", parts.path or "/"


def query_window(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    """The export's window ``{"start": ..., "end": ...}`` when the query has a pair of :data:`WINDOW_PARAMS`."""
    for start, end in WINDOW_PARAMS:
        if params and start in params and end in params:
            return {"start": _text(params[start]), "end": _text(params[end])}
    return None


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, (datetime, date)) else str(value)


# -- Airflow Assets -----------------------------------------------------------------------------------------


def export_alias(dag_id: str, task_id: str) -> AssetAlias:
    """The asset alias an export task emits its file's Asset through; schedule downstream DAGs on it.

    :param dag_id: the exporting DAG
    :param task_id: the exporting task (with its task group prefix)
    """
    return AssetAlias(name=f"{ALIAS_PREFIX}{dag_id}.{task_id}")


def add_export_alias(operator: Any) -> AssetAlias | None:
    """Add the task's :func:`export_alias` to its outlets, once; None while the task has no DAG."""
    if not operator.has_dag():
        return None
    alias = export_alias(operator.dag_id, operator.task_id)
    if alias not in operator.outlets:
        operator.outlets = [*operator.outlets, alias]
    return alias


def export_extra(operator: Any, result: Mapping[str, Any]) -> dict[str, Any]:
    """The asset event's extra: records, pages, format, source endpoint and query window; no secret, no token.

    Values are scalars only (Airflow 2.11 cannot register an alias event whose extra nests a dict).
    """
    extra: dict[str, Any] = {
        "records": result["records"],
        "pages": result["pages"],
        "format": result.get("format", "jsonl"),
        "source": source_uri(operator.hook.url_for(operator.endpoint)),
    }
    window = query_window(operator.query_params)
    if window is not None:
        # Flat: Airflow 2.11 hashes the items of an event's extra emitted through an alias.
        extra["window_start"], extra["window_end"] = window["start"], window["end"]
    return extra


def emit_export_asset(operator: Any, path: ObjectStoragePath, result: Mapping[str, Any]) -> None:
    """Record the export's Asset event (through the task's alias) and its hook lineage."""
    uri = output_uri(path)
    record_hook_output(operator.hook, uri)
    if not getattr(operator, "emit_asset", True):
        return
    alias = add_export_alias(operator)
    if alias is None:
        log.warning("Task %s has no DAG: no Asset event for %s", operator.task_id, uri)
        return
    try:
        outlet_events = get_current_context()["outlet_events"]
    except Exception:  # noqa: BLE001 - called outside a task run (a script, a test): there is no event to record
        log.info("Not in a task run: no Asset event for %s", uri)
        return
    extra = export_extra(operator, result)
    _register_alias_on_airflow_2(alias.name)
    outlet_events[alias].add(Asset(uri), extra=extra)
    log.info("Asset event for %s through alias %r: %s", uri, alias.name, extra)


def _register_alias_on_airflow_2(name: str) -> None:
    """Make sure Airflow 2.11 knows the alias before the task's events go through it.

    A deployment's DAG processor registers the aliases of the DAGs it parses; ``airflow dags test`` does not,
    and Airflow 2.11 then fails the finished task while it records the event. Airflow 3 creates what is
    missing itself (and a task has no database access there).
    """
    try:
        from airflow.models.dataset import DatasetAliasModel  # type: ignore[import-not-found, unused-ignore]
    except ImportError:  # Airflow 3
        return
    from sqlalchemy import select  # type: ignore[import-untyped, unused-ignore]

    from airflow.utils.session import create_session

    with create_session() as session:
        if session.scalar(select(DatasetAliasModel.id).where(DatasetAliasModel.name == name).limit(1)) is None:
            session.add(DatasetAliasModel(name=name))


# -- hook lineage -------------------------------------------------------------------------------------------


def _collector() -> Any:
    from airflow.providers.common.compat.lineage.hook import get_hook_lineage_collector

    return get_hook_lineage_collector()  # type: ignore[no-untyped-call, unused-ignore]


def record_hook_input(hook: Any, url: str) -> None:
    """Tell Airflow's hook lineage collector that ``hook`` read the endpoint at ``url`` (once per endpoint).

    The pages of one endpoint differ by their query string only: one record serves them all, and saves
    the collector's cost on every page (some 0.2 ms a call on Airflow 2.11).
    """
    if hook.__dict__.get("_lineage_last_url") == url:  # the pages of one endpoint: nothing to parse again
        return
    uri = source_uri(url)
    hook.__dict__["_lineage_last_url"] = url
    recorded = hook.__dict__.setdefault("_lineage_inputs", set())
    if uri in recorded:
        return
    recorded.add(uri)
    _collector().add_input_asset(context=hook, uri=uri)


def record_hook_output(hook: Any, uri: str) -> None:
    """Tell Airflow's hook lineage collector that what ``hook`` read was written to ``uri``."""
    _collector().add_output_asset(context=hook, uri=uri)


# -- OpenLineage (called by the OpenLineage provider's listener only) ---------------------------------------


def operator_lineage(operator: Any, *, complete: bool) -> OperatorLineage:  # type: ignore[type-arg, unused-ignore]
    """The OpenLineage datasets of a SurveySphere task: the endpoint in, the export file out.

    An invalid connection or endpoint gives no datasets and logs nothing: the task fails with that error
    itself, and the OpenLineage provider would otherwise log its own "failed to extract" warning for each
    event (start and failure) on top of it.

    :param operator: the SurveySphere operator, with its fields rendered
    :param complete: True when the export succeeded: the output gets its row count and size
    """
    from airflow.providers.common.compat.openlineage.facet import (
        InputDataset,
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
    )
    from airflow.providers.openlineage.extractors import OperatorLineage

    try:
        url = operator.hook.url_for(operator.endpoint)
    except SurveySpherePermanentError as error:  # the task's own error says what is wrong
        log.debug("No OpenLineage datasets for task %s: %s", getattr(operator, "task_id", "?"), error)
        return OperatorLineage()
    inputs = [InputDataset(namespace=source_namespace(url), name=source_name(url))]
    outputs = []
    if operator.output_path is not None:
        from airflow_provider_surveysphere.output import as_storage_path

        path = as_storage_path(operator.output_path)
        namespace, name = openlineage_naming(output_uri(path))
        facets: dict[str, Any] = {}
        result = getattr(operator, "export_result", None)
        if complete and result is not None:
            facets["outputStatistics"] = OutputStatisticsOutputDatasetFacet(
                rowCount=result["records"], size=_size_of(path)
            )
        outputs.append(
            OutputDataset(namespace=namespace, name=name, facets=schema_facets(operator, complete), outputFacets=facets)
        )
    return OperatorLineage(inputs=inputs, outputs=outputs)


def _size_of(path: ObjectStoragePath) -> int | None:
    try:
        return int(path.stat().st_size)
    except Exception:  # noqa: BLE001 - the size is a nicety; lineage must not fail the task
        return None


def schema_facets(operator: Any, complete: bool) -> dict[str, Any]:
    """``{"schema": ...}`` of a CSV or Parquet export whose columns are known: the written ones once complete,
    else the declared ``columns``; the types are Parquet's (none for CSV). Empty for JSON Lines."""
    from airflow.providers.common.compat.openlineage.facet import SchemaDatasetFacet, SchemaDatasetFacetFields

    columns = getattr(operator, "export_schema", None) if complete else None
    options = getattr(operator, "format_options", None)
    if columns is None and options is not None and options.names is not None:
        columns = [(name, options.types.get(name)) for name in options.names]
    if not columns:
        return {}
    return {"schema": SchemaDatasetFacet(fields=[SchemaDatasetFacetFields(name=n, type=t) for n, t in columns])}
