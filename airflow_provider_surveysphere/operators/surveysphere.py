"""The SurveySphere operator: call any endpoint; return a small answer to XCom or stream an export to storage."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import BaseOperator, ObjectStoragePath
from airflow_provider_surveysphere.exceptions import SurveySphereArgumentError, SurveySphereResponseCheckError
from airflow_provider_surveysphere.formats import FormatOptions, literal_name, resolve_format
from airflow_provider_surveysphere.formats.parquet import DEFAULT_ROW_GROUP_SIZE
from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
from airflow_provider_surveysphere.lineage import add_export_alias, emit_export_asset, operator_lineage
from airflow_provider_surveysphere.output import DEFAULT_PART_SIZE, AtomicJsonLinesWriter, ExportProgress
from airflow_provider_surveysphere.pagination import Page, as_pagination
from airflow_provider_surveysphere.paging import DEFAULT_MAX_PAGES, check_max_concurrency
from airflow_provider_surveysphere.templating import (
    data_field,
    json_field,
    mapping_field,
    template_errors_are_permanent,
)

if TYPE_CHECKING:
    import jinja2
    import requests

    from airflow.providers.common.compat.sdk import Context
    from airflow_provider_surveysphere.formats import RecordEncoder
    from airflow_provider_surveysphere.formats.options import ColumnSpec
    from airflow_provider_surveysphere.pagination import PaginationLike

DEFAULT_MAX_XCOM_RECORDS = 10_000


class SurveySphereOperator(BaseOperator):
    """Calls a SurveySphere endpoint, following its pagination, and returns or exports what it answers.

    Without ``output_path`` a single call returns its JSON (or ``response_filter(response)``) to XCom,
    and a paginated call returns its list of records, up to ``max_xcom_records``: XCom is for
    metadata, not data. With ``output_path`` the records stream to that file as JSON Lines, CSV or
    Parquet (``output_format``), one page in memory at a time; the file appears only once complete, and
    XCom gets ``{"path": ..., "records": N, "pages": P, "format": ...}``. A JSON Lines export writes each
    record as the server's own bytes, without decoding it (:meth:`export_raw_records`, docs/formats.md).

    :param endpoint: path relative to the connection's base URL (templated)
    :param method: HTTP method
    :param query_params: query string parameters (templated); named so because ``params`` is
        BaseOperator's own (the DAG's Airflow Params, used in templates as ``{{ params.x }}``)
    :param json: JSON body (templated)
    :param data: form or raw body (templated)
    :param headers: extra headers (templated)
    :param pagination: a strategy from :mod:`airflow_provider_surveysphere.pagination`, or a callable
        ``(response) -> overrides or None``; None makes a single call
    :param records_key: dotted path to the list of records in each page; None when the page is the list
    :param output_path: where to export the records (``output_format``): a local path, ``file://`` URL or any
        scheme Airflow's object storage supports, or an ``ObjectStoragePath`` (templated)
    :param output_format: ``"jsonl"``, ``"csv"`` or ``"parquet"`` (the ``[parquet]`` extra); None to take
        the output path's extension (``.jsonl``, ``.csv``, ``.parquet``; JSON Lines for any other). An explicit
        format that the extension contradicts is refused. See docs/formats.md
    :param columns: CSV and Parquet: the column names in order, for Parquet each optionally ``(name, type)``;
        None to take the first page's
    :param flatten_separator: CSV and Parquet: joins the names of nested fields (``answers.q1``)
    :param lists: CSV and Parquet: ``"json"`` (a list is one column of JSON text) or ``"index"``
    :param on_new_field: CSV and Parquet: a field outside the columns goes to the ``_extra`` column
        (``"extra"``), fails the export (``"error"``) or is dropped and counted (``"ignore"``)
    :param csv_dialect: a :mod:`csv` dialect name or class (``"excel"``: RFC 4180)
    :param csv_formula_safe: prefix text that a spreadsheet would run as a formula with ``'``
    :param row_group_size: Parquet rows per row group (what the export buffers)
    :param output_conn_id: the Airflow connection of the object store (templated); else the URL's
        ``conn_id@`` part (``s3://aws_default@bucket/key``), else an ``ObjectStoragePath``'s own
    :param compression: ``"infer"`` (``.gz`` or ``.zst`` suffix), ``"gzip"``, ``"zstd"`` or None; for
        Parquet the codec inside the file (``"infer"``: zstd)
    :param output_part_size: bytes per part uploaded to an object store (at least 5 MiB; 8 MiB by default):
        with one page, what the export holds in memory
    :param response_check: called with each answer; a false result fails the task
    :param response_filter: turns a single call's answer into the XCom value (single calls only)
    :param surveysphere_conn_id: the Airflow connection to use
    :param max_xcom_records: the most records a paginated call may return to XCom
    :param max_pages: fail rather than read more pages than this (default 100,000; None for no cap)
    :param max_concurrency: page requests in flight at once (default 1); more needs a page-number or
        offset pagination, see docs/pagination.md
    :param emit_asset: with ``output_path``, emit an Asset event for the exported file through the
        alias :func:`~airflow_provider_surveysphere.lineage.export_alias` (see docs/lineage.md); False opts out
    """

    template_fields: Sequence[str] = (
        "endpoint", "query_params", "json", "data", "headers", "output_path", "output_conn_id",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "query_params": "py", "json": "json", "data": "py", "headers": "json"
    }
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        endpoint: str,
        method: str = "GET",
        query_params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        pagination: PaginationLike | None = None,
        records_key: str | None = None,
        output_path: str | os.PathLike[str] | ObjectStoragePath | None = None,
        output_conn_id: str | None = None,
        output_format: str | None = None,
        columns: Sequence[ColumnSpec] | None = None,
        flatten_separator: str = ".",
        lists: str = "json",
        on_new_field: str = "extra",
        csv_dialect: Any = "excel",
        csv_formula_safe: bool = True,
        row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
        compression: str | None = "infer",
        output_part_size: int = DEFAULT_PART_SIZE,
        response_check: Callable[[requests.Response], Any] | None = None,
        response_filter: Callable[[requests.Response], Any] | None = None,
        surveysphere_conn_id: str = SurveySphereHook.default_conn_name,
        max_xcom_records: int = DEFAULT_MAX_XCOM_RECORDS,
        max_pages: int | None = DEFAULT_MAX_PAGES,
        max_concurrency: int = 1,
        emit_asset: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if response_filter is not None and pagination is not None:
            raise SurveySphereArgumentError(
                "response_filter", "applies to single calls only; a paginated call yields records (see records_key)"
            )
        if response_filter is not None and output_path is not None:
            raise SurveySphereArgumentError("response_filter", "has no effect with output_path; remove one of them")
        self.format_options = FormatOptions(
            columns, flatten_separator, lists, on_new_field, csv_dialect, csv_formula_safe, row_group_size
        )
        self.output_format = self.check_output_format(output_format, output_path)
        strategy = as_pagination(pagination)  # refuse what cannot work when the DAG is parsed, not at run time
        check_max_concurrency(max_concurrency, type(strategy).__name__, strategy.addressable)
        self.endpoint = endpoint
        self.method = method
        self.query_params = query_params
        self.json = json
        self.data = data
        self.headers = headers
        self.pagination = pagination
        self.records_key = records_key
        self.output_path = output_path
        self.output_conn_id = output_conn_id
        self.compression = compression
        self.output_part_size = output_part_size
        self.response_check = response_check
        self.response_filter = response_filter
        self.surveysphere_conn_id = surveysphere_conn_id
        self.max_xcom_records = max_xcom_records
        self.max_pages = max_pages
        self.max_concurrency = max_concurrency
        self.emit_asset = emit_asset
        if output_path is not None and emit_asset:
            add_export_alias(self)

    def check_output_format(self, output_format: str | None, output_path: Any) -> str | None:
        """Refuse, when the DAG is parsed, a format that the output path's extension contradicts, or options it
        cannot use; a templated extension is checked again once rendered (:meth:`export`)."""
        if output_path is None:
            if output_format is not None:
                raise SurveySphereArgumentError("output_format", "applies to exports; set output_path too")
            return None
        name = literal_name(output_path)
        if name is not None:
            self.format_options.check_for(resolve_format(output_format, name))
        elif output_format is not None:
            resolve_format(output_format, None)  # the name itself once rendered
        return output_format

    def render_template(
        self,
        content: Any,
        context: Context,
        jinja_env: jinja2.Environment | None = None,
        seen_oids: set[int] | None = None,
    ) -> Any:
        """Airflow's rendering, with a template error failing the task at once (it fails on every retry)."""
        with template_errors_are_permanent(self.task_id):
            return super().render_template(content, context, jinja_env, seen_oids)

    @cached_property
    def hook(self) -> SurveySphereHook:
        """The hook that makes the calls."""
        return SurveySphereHook(surveysphere_conn_id=self.surveysphere_conn_id)

    def execute(self, context: Context) -> Any:
        self.use_rendered_fields()
        if self.output_path is not None:
            return self.export(self.output_path)
        if self.pagination is not None:
            return self.collect_records()
        return self.call_once()

    def use_rendered_fields(self) -> None:
        """Turn templated fields that rendered to a string into what they stand for, or fail naming them.

        See :mod:`airflow_provider_surveysphere.templating` for the rules.
        """
        self.query_params = mapping_field("query_params", self.query_params)
        self.headers = mapping_field("headers", self.headers)
        self.json = json_field(self.json)
        self.data = data_field(self.data)

    def _paginate(self, *, raw_records: bool = False) -> Any:
        return self.hook.paginate(
            self.endpoint,
            params=self.query_params,
            pagination=self.pagination,
            records_key=self.records_key,
            method=self.method,
            json=self.json,
            data=self.data,
            headers=self.headers,
            max_pages=self.max_pages,
            max_concurrency=self.max_concurrency,
            raw_records=raw_records,
        )

    def export_raw_records(self, encoder: RecordEncoder) -> bool:
        """Whether the export reads records as the server's JSON bytes rather than decoding them: when its format
        writes them unchanged (JSON Lines). Override to return False in a subclass whose export needs the values.

        :param encoder: the export's format
        """
        return encoder.takes_raw_records

    def check(self, page: Page | requests.Response) -> None:
        """Apply ``response_check`` to an answer; a false result fails the task."""
        if self.response_check is None:
            return
        response = page.response if isinstance(page, Page) else page
        if not self.response_check(response):
            raise SurveySphereResponseCheckError(
                f"response_check returned a false value for {response.request.method} "
                f"{response.request.path_url.split('?')[0]} (status {response.status_code})"
            )

    def call_once(self) -> Any:
        """One request; its JSON, or ``response_filter(response)``, goes to XCom."""
        response = self.hook.request(
            self.method, self.endpoint, params=self.query_params, json=self.json, data=self.data, headers=self.headers
        )
        self.check(response)
        if self.response_filter is not None:
            return self.response_filter(response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise SurveySphereArgumentError(
                "response_filter",
                f"{self.endpoint} answered {response.headers.get('Content-Type', 'no content type')}, not JSON; "
                "pass a response_filter to turn it into an XCom value",
            ) from None

    def collect_records(self) -> list[Any]:
        """Every record of every page, returned to XCom while there are at most ``max_xcom_records``."""
        records: list[Any] = []
        paginator = self._paginate()
        for page in paginator.iter_pages():
            self.check(page)
            records.extend(page.records)
            if len(records) > self.max_xcom_records:
                raise SurveySphereArgumentError(
                    "output_path",
                    f"{self.endpoint} has more than max_xcom_records={self.max_xcom_records} records "
                    f"(after {paginator.pages} pages); XCom is for metadata, not data: set output_path to "
                    "export them to a file or object storage",
                )
        self.log.info("Read %d records in %d pages from %s", len(records), paginator.pages, self.endpoint)
        return records

    def export(self, output_path: str | os.PathLike[str] | ObjectStoragePath) -> dict[str, Any]:
        """Stream every record to ``output_path`` in the export's format, atomically.

        The destination is checked before the first request; only the writer's own storage errors are
        reported as output errors, an API error passes through as it is.
        """
        output_format = resolve_format(self.output_format, literal_name(output_path))
        writer = AtomicJsonLinesWriter(
            output_path,
            conn_id=self.output_conn_id,
            compression=self.compression,
            part_size=self.output_part_size,
            encoder=self.format_options.encoder(output_format, self.compression, self.log),
        )
        target = writer.location.describe()
        paginator = self._paginate(raw_records=self.export_raw_records(writer.encoder))
        progress = ExportProgress(self.log)
        self.log.info("Exporting %s to %s", self.endpoint, target)
        with writer:
            for page in paginator.iter_pages():
                self.check(page)
                writer.write_records(page.records)
                progress.update(paginator.pages, paginator.records, total_pages=paginator.strategy.total_pages(page))
        self.log.info(
            "Exported %d records in %d pages to %s (%.0f records/s)",
            writer.records, paginator.pages, target, progress.rate(writer.records),
        )
        self.export_result = {
            "path": writer.location.url, "records": writer.records, "pages": paginator.pages, **writer.encoder.summary()
        }
        self.export_schema = writer.encoder.schema()
        emit_export_asset(self, writer.location.as_storage_path(), self.export_result)
        return self.export_result

    # -- OpenLineage (called by the OpenLineage provider when it is installed; see docs/lineage.md) ----------

    def get_openlineage_facets_on_start(self) -> Any:
        """The endpoint as input dataset, the export file (if any) as output dataset."""
        return operator_lineage(self, complete=False)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """As on start, plus the exported row count and size."""
        return operator_lineage(self, complete=True)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """As on start: the datasets the failed run meant to read and write."""
        return operator_lineage(self, complete=False)
