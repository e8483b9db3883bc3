"""Without the optional OpenLineage provider nothing changes and nothing is logged about lineage.

Runs in a virtualenv built from the same lock minus the OpenLineage packages (``make test-no-openlineage``);
skipped where the provider is installed (the main test venvs, which capture its events in test_lineage.py).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import pkgutil
import sys
from datetime import datetime, timezone

import pytest

import airflow_provider_surveysphere
from airflow.providers.common.compat.sdk import DAG
from airflow_provider_surveysphere.lineage import export_alias
from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator
from airflow_provider_surveysphere.pagination import PageNumberPagination

from tests.unit.conftest import BASE_URL

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("airflow.providers.openlineage") is not None,
    reason="the OpenLineage provider is installed here; `make test-no-openlineage` runs this without it",
)


def test_every_module_imports_without_openlineage():
    for module in pkgutil.walk_packages(airflow_provider_surveysphere.__path__, "airflow_provider_surveysphere."):
        importlib.import_module(module.name)
    assert not [name for name in sys.modules if name.startswith(("openlineage", "airflow.providers.openlineage"))]


def test_an_export_works_and_logs_no_warning_without_openlineage(hook, mocked_api, tmp_path, caplog):
    mocked_api.get(f"{BASE_URL}/api/v1/surveys/s1/responses", json={"data": [{"id": "r1"}, {"id": "r2"}]})
    with DAG("lineage_dag", schedule=None, start_date=datetime(2026, 11, 1, tzinfo=timezone.utc)):
        operator = SurveySphereOperator(
            task_id="export",
            endpoint="api/v1/surveys/s1/responses",
            pagination=PageNumberPagination(page_size=10),
            records_key="data",
            output_path=str(tmp_path / "out.jsonl"),
        )
    operator.hook = hook
    assert export_alias("lineage_dag", "export") in operator.outlets

    with caplog.at_level(logging.DEBUG):
        result = operator.execute({})

    assert result["records"] == 2 and (tmp_path / "out.jsonl").read_text().count("\n") == 2
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], [r.getMessage() for r in caplog.records]
    assert not [name for name in sys.modules if name.startswith(("openlineage", "airflow.providers.openlineage"))]
