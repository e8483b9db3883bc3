"""SurveySphereOperator with output_format: wiring, inference from the extension, refusals at parse and render time."""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime, timezone

import pyarrow.parquet as pq
import pytest

from airflow.providers.common.compat.sdk import DAG
from airflow_provider_surveysphere.exceptions import SurveySphereArgumentError
from airflow_provider_surveysphere.formats import SurveySphereFormatError
from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator
from airflow_provider_surveysphere.pagination import PageNumberPagination

from tests.unit.conftest import BASE_URL

RESPONSES = f"{BASE_URL}/api/v1/surveys/s1/responses"
PAGES = [
    [{"id": "r1", "answers": {"q1": 5, "q2": "=cmd"}}, {"id": "r2", "answers": {"q1": 4, "q2": "fine"}}],
    [{"id": "r3", "answers": {"q1": 3, "q2": None}, "channel": "web"}],
]


def add_pages(mocked_api, pages=PAGES) -> None:
    for number, records in enumerate(pages, start=1):
        mocked_api.get(f"{RESPONSES}?page={number}&pageSize=2", json={"data": records})
    mocked_api.get(f"{RESPONSES}?page={len(pages) + 1}&pageSize=2", json={"data": []})


def export(hook, **kwargs) -> SurveySphereOperator:
    op = SurveySphereOperator(
        task_id="t", endpoint="api/v1/surveys/s1/responses", pagination=PageNumberPagination(page_size=2),
        records_key="data", **kwargs,
    )
    op.hook = hook
    return op


def test_csv_export_infers_the_format_from_the_extension(hook, mocked_api, tmp_path):
    add_pages(mocked_api)
    target = tmp_path / "responses.csv"
    result = export(hook, output_path=str(target)).execute({})
    assert result == {"path": str(target), "records": 3, "pages": 2, "format": "csv"}
    with open(target, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert rows == [
        {"id": "r1", "answers.q1": "5", "answers.q2": "'=cmd", "_extra": ""},
        {"id": "r2", "answers.q1": "4", "answers.q2": "fine", "_extra": ""},
        {"id": "r3", "answers.q1": "3", "answers.q2": "", "_extra": '{"channel":"web"}'},
    ]


def test_parquet_export_with_declared_columns_and_ignored_fields(hook, mocked_api, tmp_path):
    add_pages(mocked_api)
    target = tmp_path / "responses.data"
    op = export(hook, output_path=str(target), output_format="parquet", on_new_field="ignore",
                columns=["id", ("answers.q1", "float"), "answers.q2"])
    result = op.execute({})
    assert result["format"] == "parquet" and result["ignored_fields"] == {"channel": 1}
    table = pq.read_table(target)
    assert table.column_names == ["id", "answers.q1", "answers.q2"]
    assert table.to_pydict()["answers.q1"] == [5.0, 4.0, 3.0]
    assert op.export_schema == [("id", "string"), ("answers.q1", "float"), ("answers.q2", "string")]


def test_a_record_that_fails_its_format_leaves_no_file(hook, mocked_api, tmp_path):
    add_pages(mocked_api, [[{"id": "r1"}, {"id": "r2"}], [{"id": "r3"}, "not an object"]])
    target = tmp_path / "responses.csv"
    with pytest.raises(SurveySphereFormatError, match="record 2 of page 2"):
        export(hook, output_path=str(target)).execute({})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs, problem",
    [({"output_format": "csv", "output_path": "/x/r.parquet"}, "is 'csv' but the output path 'r.parquet' says 'parquet'"),
     ({"output_format": "csv"}, "output_format: applies to exports"),
     ({"output_path": "/x/r.jsonl", "columns": ["id"]}, "columns: apply to csv and parquet"),
     ({"output_path": "/x/r.csv", "columns": [("id", "int")]}, "types apply to parquet only"),
     ({"output_path": "/x/{{ ds }}.parquet.gz"}, "Parquet compresses inside the file"),
     ({"output_path": "/x/r.csv", "on_new_field": "drop"}, "on_new_field: is 'drop'")],
)
def test_contradictions_are_refused_when_the_dag_is_parsed(kwargs, problem):
    with pytest.raises(SurveySphereArgumentError, match=problem):
        SurveySphereOperator(task_id="t", endpoint="e", **kwargs)


def rendered(hook, output_path: str, **kwargs) -> SurveySphereOperator:
    with DAG(dag_id="formats", schedule=None, start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
             params={"ext": "parquet"}):
        op = export(hook, output_path=output_path, **kwargs)
    op.render_template_fields({"params": {"ext": "parquet"}, "ds": "2026-11-02"})
    op.hook = hook
    return op


def test_a_templated_extension_is_checked_once_rendered(hook, mocked_api, tmp_path):
    op = rendered(hook, str(tmp_path / "{{ ds }}.{{ params.ext }}"), output_format="csv")
    with pytest.raises(SurveySphereArgumentError, match="is 'csv' but the output path '2026-11-02.parquet' says 'parquet'"):
        op.execute({})
    assert [call.request.url for call in mocked_api.calls] == []  # refused before the first request


def test_a_templated_extension_chooses_the_format_once_rendered(hook, mocked_api, tmp_path):
    add_pages(mocked_api)
    op = rendered(hook, str(tmp_path / "{{ ds }}.{{ params.ext }}"))
    assert op.execute({})["format"] == "parquet"
    assert pq.read_table(tmp_path / "2026-11-02.parquet").num_rows == 3


def test_jsonl_stays_the_default_and_unchanged(hook, mocked_api, tmp_path):
    add_pages(mocked_api)
    target = tmp_path / "responses.json"
    assert export(hook, output_path=str(target)).execute({})["format"] == "jsonl"
    assert [json.loads(line) for line in target.read_text().splitlines()] == PAGES[0] + PAGES[1]


def test_parquet_without_pyarrow_fails_before_the_first_request(hook, mocked_api, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(SurveySphereArgumentError, match=r"parquet needs pyarrow.*\[parquet\]"):
        export(hook, output_path=str(tmp_path / "r.parquet")).execute({})
    assert [call.request.url for call in mocked_api.calls] == [] and list(tmp_path.iterdir()) == []


def test_parquet_compression_is_the_codec_inside_the_file_not_a_stream_around_it(hook, mocked_api, tmp_path):
    add_pages(mocked_api)
    target = tmp_path / "responses.parquet"
    export(hook, output_path=str(target), compression="gzip").execute({})
    assert target.read_bytes()[:4] == b"PAR1"
    assert pq.ParquetFile(target).metadata.row_group(0).column(0).compression == "GZIP"
