"""Load each CSV the daily export writes into a PostgreSQL table, idempotently per data interval.

Scheduled on the daily export's asset alias: every file it writes (``format`` param or Variable
``surveysphere_export_format`` set to ``csv``) triggers a run, which reads the file's URI, format and window
from the asset event. The load is one transaction: delete the window's rows, then ``COPY`` the file in. A rerun
of the same day replaces that day's rows (no duplicate); a load that fails (a bad row, a lost connection) rolls
back and leaves the table as it was. An event of another format is skipped with a log line.

Change for your warehouse: the ``surveysphere_warehouse`` connection (a Postgres connection) and :data:`TABLE`.
Needs ``apache-airflow-providers-postgres``.
"""

from __future__ import annotations

import csv
import logging
from contextlib import closing
from datetime import datetime, timezone
from typing import Any

from airflow.providers.common.compat.sdk import DAG, ObjectStoragePath, task
from airflow_provider_surveysphere.lineage import export_alias, export_storage_path, triggering_exports

log = logging.getLogger(__name__)

WAREHOUSE_CONN_ID = "surveysphere_warehouse"
TABLE = "surveysphere_responses"
# The columns of the daily export's CSV (the sandbox's responses, flattened), then the window each row came in.
CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    "id" text PRIMARY KEY,
    "survey_id" text NOT NULL,
    "submitted_at" timestamptz NOT NULL,
    "respondent" text,
    "answers.q1" integer,
    "answers.q2" text,
    "answers.q3" boolean,
    "_extra" jsonb,
    "window_start" timestamptz NOT NULL,
    "window_end" timestamptz NOT NULL
)
"""


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def copy_in(cursor: Any, sql: str, file: Any) -> None:
    """``COPY ... FROM STDIN`` on this transaction's cursor: psycopg 3's ``copy`` (what the Postgres provider uses
    with SQLAlchemy 2), else psycopg2's ``copy_expert``."""
    if hasattr(cursor, "copy"):
        with cursor.copy(sql) as copy:
            while chunk := file.read(1 << 16):
                copy.write(chunk)
    else:
        cursor.copy_expert(sql, file)


def load_csv(cursor: Any, path: ObjectStoragePath, window_start: str, window_end: str) -> int:
    """Replace the window's rows with the file's; return how many were loaded (the caller commits)."""
    cursor.execute(CREATE_TABLE)
    cursor.execute(f"DELETE FROM {TABLE} WHERE window_start = %s", (window_start,))
    with path.open("r", encoding="utf-8", newline="") as file:
        header = next(csv.reader([file.readline()]))
        columns = ", ".join(quoted(name) for name in header)
        # A staging table of the file's columns, dropped at commit: COPY fills it, then one INSERT adds the window.
        cursor.execute(f"CREATE TEMP TABLE staged ON COMMIT DROP AS SELECT {columns} FROM {TABLE} WITH NO DATA")
        copy_in(cursor, f"COPY staged ({columns}) FROM STDIN WITH (FORMAT csv)", file)
    cursor.execute(
        f"INSERT INTO {TABLE} ({columns}, window_start, window_end) SELECT {columns}, %s, %s FROM staged",
        (window_start, window_end),
    )
    return int(cursor.rowcount)


def load_export(connection: Any, path: ObjectStoragePath, extra: dict[str, Any]) -> int:
    """Load one export in one transaction, committed only if it holds as many rows as its asset event says."""
    with connection, connection.cursor() as cursor:  # commits on success, rolls back on any error
        rows = load_csv(cursor, path, extra["window_start"], extra["window_end"])
        if rows != extra["records"]:  # inside the transaction: a wrong count leaves the table as it was
            raise ValueError(f"{path}: loaded {rows} rows but its asset event says {extra['records']} records")
    return rows


with DAG(
    dag_id="surveysphere_warehouse_load",
    description="Load each daily SurveySphere CSV export into PostgreSQL",
    schedule=[export_alias("surveysphere_daily_export", "export_responses")],
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["surveysphere", "example"],
) as dag:

    @task
    def load_into_postgres(**context: Any) -> list[dict[str, Any]]:
        """One transaction per file: its window's rows deleted, the file copied in, committed together."""
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        loaded = []
        for uri, extra in triggering_exports(context):
            if extra.get("format") != "csv":
                log.info("Skipping %s: a %s export, this DAG loads CSV", uri, extra.get("format", "jsonl"))
                continue
            hook = PostgresHook(postgres_conn_id=WAREHOUSE_CONN_ID)
            # COPY on this connection's cursor, not the hook's copy_expert: that one commits on a connection of its
            # own, and the delete and the copy must share one transaction.
            with closing(hook.get_conn()) as connection:
                rows = load_export(connection, export_storage_path(uri), extra)
            log.info("Loaded %d rows of %s into %s (window %s)", rows, uri, TABLE, extra["window_start"])
            loaded.append({"uri": uri, "rows": rows, "window_start": extra["window_start"]})
        return loaded

    load_into_postgres()
