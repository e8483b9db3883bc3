"""The SurveySphere operator: call any endpoint; return a small answer to XCom or stream an export to storage."""

from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from airflow.providers.common.compat.sdk import BaseOperator, ObjectStoragePath
from airflow_provider_surveysphere.exceptions import SurveySphereArgumentError, SurveySphereResponseCheckError
from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
from airflow_provider_surveysphere.output import AtomicJsonLinesWriter, ExportProgress, as_storage_path
from airflow_provider_surveysphere.templating import template_errors_are_permanent

if TYPE_CHECKING:
    import jinja2
    import requests

    from airflow.providers.common.compat.sdk import Context
    from airflow_provider_surveysphere.pagination import Page, PaginationLike

DEFAULT_MAX_XCOM_RECORDS = 10_000


class SurveySphereOperator(BaseOperator):
    """Calls a SurveySphere endpoint, following its pagination, and returns or exports what it answers.

    Without ``output_path`` a single call returns its JSON (or ``response_filter(response)``) to XCom,
    and a paginated call returns its list of records, up to ``max_xcom_records``: XCom is for
    metadata, not data. With ``output_path`` the records stream to that file as JSON Lines, one page
    in memory at a time; the file appears only once complete, and XCom gets
    ``{"path": ..., "records": N, "pages": P}``.

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
    :param output_path: where to export the records as JSON Lines: a local path, ``file://`` URL or any
        scheme Airflow's object storage supports, or an ``ObjectStoragePath`` (templated)
    :param response_check: called with each answer; a false result fails the task
    :param response_filter: turns a single call's answer into the XCom value (single calls only)
    :param surveysphere_conn_id: the Airflow connection to use
    :param max_xcom_records: the most records a paginated call may return to XCom
    """

    template_fields: Sequence[str] = ("endpoint", "query_params", "json", "data", "headers", "output_path")
    template_fields_renderers = {"query_params": "py", "json": "json", "data": "py", "headers": "json"}
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
        response_check: Callable[[requests.Response], Any] | None = None,
        response_filter: Callable[[requests.Response], Any] | None = None,
        surveysphere_conn_id: str = SurveySphereHook.default_conn_name,
        max_xcom_records: int = DEFAULT_MAX_XCOM_RECORDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if response_filter is not None and pagination is not None:
            raise SurveySphereArgumentError(
                "response_filter", "applies to single calls only; a paginated call yields records (see records_key)"
            )
        if response_filter is not None and output_path is not None:
            raise SurveySphereArgumentError("response_filter", "has no effect with output_path; remove one of them")
        self.endpoint = endpoint
        self.method = method
        self.query_params = query_params
        self.json = json
        self.data = data
        self.headers = headers
        self.pagination = pagination
        self.records_key = records_key
        self.output_path = output_path
        self.response_check = response_check
        self.response_filter = response_filter
        self.surveysphere_conn_id = surveysphere_conn_id
        self.max_xcom_records = max_xcom_records

    def render_template(
        self, content: Any, context: Context, jinja_env: jinja2.Environment | None = None, seen_oids: set[int] | None = None
    ) -> Any:
        """Airflow's rendering, with a template error failing the task at once (it fails on every retry)."""
        with template_errors_are_permanent(self.task_id):
            return super().render_template(content, context, jinja_env, seen_oids)

    @cached_property
    def hook(self) -> SurveySphereHook:
        """The hook that makes the calls."""
        return SurveySphereHook(surveysphere_conn_id=self.surveysphere_conn_id)

    def execute(self, context: Context) -> Any:
        if self.output_path is not None:
            return self.export(self.output_path)
        if self.pagination is not None:
            return self.collect_records()
        return self.call_once()

    def _paginate(self) -> Any:
        return self.hook.paginate(
            self.endpoint,
            params=self.query_params,
            pagination=self.pagination,
            records_key=self.records_key,
            method=self.method,
            json=self.json,
            data=self.data,
            headers=self.headers,
        )

    def check(self, page: Page | requests.Response) -> None:
        """Apply ``response_check`` to an answer; a false result fails the task."""
        if self.response_check is None:
            return
        response = getattr(page, "response", page)
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
        """Stream every record to ``output_path`` as JSON Lines, atomically."""
        try:
            path = as_storage_path(output_path)
        except ValueError as exc:
            raise SurveySphereArgumentError("output_path", str(exc)) from None
        paginator = self._paginate()
        progress = ExportProgress(self.log)
        self.log.info("Exporting %s to %s", self.endpoint, path)
        try:
            writer = AtomicJsonLinesWriter(path)
            with writer:
                for page in paginator.iter_pages():
                    self.check(page)
                    writer.write_records(page.records)
                    progress.update(paginator.pages, paginator.records)
        except OSError as exc:
            raise SurveySphereArgumentError("output_path", f"cannot write {path}: {exc.strerror or exc}") from None
        self.log.info(
            "Exported %d records in %d pages to %s (%.0f records/s)",
            writer.records, paginator.pages, path, progress.rate(writer.records),
        )
        return {"path": str(path), "records": writer.records, "pages": paginator.pages}
