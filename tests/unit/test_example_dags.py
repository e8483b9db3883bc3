"""Every DAG in dags_examples/ imports without errors on this Airflow line."""

from __future__ import annotations

from pathlib import Path

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags_examples"


def test_example_dags_import_without_errors():
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2.11
        from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER))  # examples are off: AIRFLOW__CORE__LOAD_EXAMPLES in conftest
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {
        "surveysphere_daily_export", "surveysphere_fanout_export", "surveysphere_adhoc_call", "surveysphere_export_downstream"
    }
    for dag in bag.dags.values():
        assert "surveysphere" in dag.tags
