"""CSV and Parquet exports of a real DAG run, read back with the standard readers (``csv``, ``pyarrow.parquet``)
and compared record by record with the JSON Lines export of the same window."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq

from tests.e2e.conftest import expected_ids

TEST_DAGS = Path(__file__).parent / "dags"
COLUMNS = ["id", "survey_id", "submitted_at", "respondent", "answers.q1", "answers.q2", "answers.q3", "_extra"]


def flat(record: dict) -> dict:
    """What a sandbox response should become: its nested answers as dotted columns, no new field."""
    answers = record["answers"]
    return {
        "id": record["id"], "survey_id": record["survey_id"], "submitted_at": record["submitted_at"],
        "respondent": record["respondent"], "answers.q1": answers["q1"], "answers.q2": answers["q2"],
        "answers.q3": answers["q3"], "_extra": None,
    }


def as_csv_text(row: dict) -> dict:
    text = {True: "true", False: "false", None: ""}
    return {k: text[v] if v is None or isinstance(v, bool) else str(v) for k, v in row.items()}


def test_csv_and_parquet_hold_the_same_records_as_json_lines(run_dag, sandbox):
    run = run_dag("surveysphere_formats_export", AIRFLOW__CORE__DAGS_FOLDER=str(TEST_DAGS))
    assert run.result.returncode == 0, run.output[-5000:]
    records = [json.loads(line) for line in (run.exports / "window.jsonl").read_text().splitlines()]
    since, until = datetime(2026, 11, 1, tzinfo=timezone.utc), datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    assert [r["id"] for r in records] == expected_ids(sandbox, 2, since, until)
    expected = [flat(record) for record in records]

    with open(run.exports / "window.csv", newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        assert reader.fieldnames == COLUMNS
        assert list(reader) == [as_csv_text(row) for row in expected]

    parquet = pq.ParquetFile(run.exports / "window.parquet")
    assert parquet.schema_arrow.names == COLUMNS
    assert [str(parquet.schema_arrow.field(name).type) for name in ("submitted_at", "answers.q1", "answers.q3")] == [
        "timestamp[us, tz=UTC]", "int64", "bool",
    ]
    assert parquet.num_row_groups == -(-len(records) // 500)
    rows = parquet.read().to_pylist()
    for row in rows:
        row["submitted_at"] = row["submitted_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert rows == expected
