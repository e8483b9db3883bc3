"""Without the optional ``[parquet]`` extra (no pyarrow): asking for Parquet fails naming the extra, CSV and JSON
Lines work as before, and no module imports pyarrow.

Runs in the virtualenv of ``make test-no-openlineage`` (the lock minus the optional extras' packages); skipped
where pyarrow is installed (the main test venvs, which test Parquet itself).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import pkgutil
import sys

import pytest

import airflow_provider_surveysphere
from airflow_provider_surveysphere.exceptions import SurveySphereArgumentError
from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator
from airflow_provider_surveysphere.pagination import PageNumberPagination

from tests.unit.conftest import BASE_URL

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pyarrow") is not None,
    reason="pyarrow is installed here; `make test-no-openlineage` runs this without it",
)
RESPONSES = f"{BASE_URL}/api/v1/surveys/s1/responses"


def export(hook, output_path: str, **kwargs) -> SurveySphereOperator:
    op = SurveySphereOperator(task_id="t", endpoint="api/v1/surveys/s1/responses", records_key="data",
                              pagination=PageNumberPagination(page_size=10), output_path=output_path, **kwargs)
    op.hook = hook
    return op


def test_every_module_imports_without_pyarrow():
    for module in pkgutil.walk_packages(airflow_provider_surveysphere.__path__, "airflow_provider_surveysphere."):
        importlib.import_module(module.name)
    assert "pyarrow" not in sys.modules


def test_parquet_fails_naming_the_extra_before_any_request(hook, mocked_api, tmp_path):
    with pytest.raises(SurveySphereArgumentError, match=r"pip install 'airflow-provider-surveysphere\[parquet\]'"):
        export(hook, str(tmp_path / "out.parquet")).execute({})
    assert [call.request.url for call in mocked_api.calls] == [] and list(tmp_path.iterdir()) == []


def test_csv_and_json_lines_work_without_pyarrow(hook, mocked_api, tmp_path):
    mocked_api.get(RESPONSES, json={"data": [{"id": "r1", "a": {"b": 1}}]})
    assert export(hook, str(tmp_path / "out.csv")).execute({})["format"] == "csv"
    assert (tmp_path / "out.csv").read_bytes() == b"id,a.b,_extra\r\nr1,1,\r\n"
    assert export(hook, str(tmp_path / "out.jsonl")).execute({})["format"] == "jsonl"
    assert json.loads((tmp_path / "out.jsonl").read_text()) == {"id": "r1", "a": {"b": 1}}
