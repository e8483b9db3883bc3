"""The warehouse-load example's transaction, without a PostgreSQL: what is committed and what is rolled back.

The real load runs against PostgreSQL in tests/warehouse; this checks the one rule that needs no database: the row
count check belongs to the transaction, so a count that disagrees with the asset event leaves the table as it was.
"""

from __future__ import annotations

import io
from importlib.metadata import version
from typing import Any

import pytest

if version("apache-airflow").startswith("2."):
    # Airflow 2.11 resolves the DAG's DatasetAlias schedule against a metadata database while the module is imported,
    # and the unit tests have none (as in test_example_dags.py); the rule below does not depend on the Airflow line.
    pytest.skip("importing the warehouse DAG needs a metadata database on Airflow 2", allow_module_level=True)

from dags_examples import surveysphere_warehouse_load as warehouse


class Cursor:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.rowcount = -1

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def execute(self, sql: str, params: Any = None) -> None:
        self.connection.statements.append(sql.split()[0])
        if sql.startswith("INSERT"):
            self.rowcount = self.connection.copied

    def copy_expert(self, sql: str, file: Any) -> None:
        self.connection.copied = sum(1 for _ in file)


class Connection:
    """A DB-API connection as psycopg2's: ``with connection`` commits on success and rolls back on an error."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.copied = 0
        self.outcome: str | None = None

    def cursor(self) -> Cursor:
        return Cursor(self)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        self.outcome = "rollback" if exc_type else "commit"


class Path:
    def __init__(self, text: str) -> None:
        self.text = text

    def open(self, *args: Any, **kwargs: Any) -> io.StringIO:
        return io.StringIO(self.text, newline="")


CSV = 'id,survey_id,submitted_at\r\nr1,s,2026-11-01T00:00:00Z\r\nr2,s,2026-11-01T00:00:01Z\r\n'
EXTRA = {"window_start": "2026-11-01T00:00:00+00:00", "window_end": "2026-11-02T00:00:00+00:00"}


def test_a_load_whose_rows_match_the_event_is_committed():
    connection = Connection()
    assert warehouse.load_export(connection, Path(CSV), {**EXTRA, "records": 2}) == 2
    assert connection.outcome == "commit" and "DELETE" in connection.statements


def test_a_row_count_that_disagrees_with_the_event_rolls_the_load_back():
    """Checked after the commit, a mismatch failed the task with the window's rows already replaced."""
    connection = Connection()
    with pytest.raises(ValueError, match="loaded 2 rows but its asset event says 3 records"):
        warehouse.load_export(connection, Path(CSV), {**EXTRA, "records": 3})
    assert connection.outcome == "rollback"
