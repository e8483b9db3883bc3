"""Test settings: a private AIRFLOW_HOME on SQLite, set before Airflow is imported anywhere."""

from __future__ import annotations

import os
import tempfile

_home = tempfile.mkdtemp(prefix="surveysphere-tests-airflow-")
os.environ["AIRFLOW_HOME"] = _home
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", os.path.join(os.path.dirname(__file__), "..", "dags_examples"))

# Hypothesis: "ci" (the default) is derandomized, so CI stays deterministic; "model" (make test-model) searches
# wider with fresh randomness each run. Model-based tests name their example counts through these profiles only.
try:
    from hypothesis import HealthCheck, settings
except ImportError:  # the wheel's smoke venv has no test tools
    pass
else:
    settings.register_profile(
        "ci", derandomize=True, deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow]
    )
    settings.register_profile(
        "model", deadline=None, max_examples=3000, suppress_health_check=[HealthCheck.too_slow], print_blob=True
    )
    settings.load_profile(os.environ.get("SURVEYSPHERE_HYPOTHESIS_PROFILE", "ci"))

# The deployment fixtures (tests/deploy, tests/browser): lazy, nothing starts unless a test asks for it.
pytest_plugins = ["tests.deploy.fixtures"]
