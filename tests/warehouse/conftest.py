"""The warehouse suite: the example DAGs against the sandbox and a real PostgreSQL (make test-warehouse)."""

from __future__ import annotations

from tests.e2e.conftest import sandbox  # noqa: F401 - the e2e suite's sandbox fixture
from tests.support.postgres import postgres  # noqa: F401 - a throwaway cluster for the session
