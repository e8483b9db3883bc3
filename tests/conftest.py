"""Test settings: a private AIRFLOW_HOME on SQLite, set before Airflow is imported anywhere."""

from __future__ import annotations

import os
import tempfile

_home = tempfile.mkdtemp(prefix="surveysphere-tests-airflow-")
os.environ["AIRFLOW_HOME"] = _home
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", os.path.join(os.path.dirname(__file__), "..", "dags_examples"))

# The deployment fixtures (tests/deploy, tests/browser): lazy, nothing starts unless a test asks for it.
pytest_plugins = ["tests.deploy.fixtures"]
