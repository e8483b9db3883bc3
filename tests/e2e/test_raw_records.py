"""A JSON Lines export of a real DAG run against a sandbox that pretty-prints its answers: the records are the
server's own bytes (raw records), one a line, and the same records as the sandbox's data."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

TEST_DAGS = Path(__file__).parent / "dags"


def test_a_pretty_printed_answer_is_exported_one_record_a_line_in_the_servers_spelling(run_dag, sandbox):
    sandbox.config.update({"indent": 2})
    run = run_dag("surveysphere_formats_export", AIRFLOW__CORE__DAGS_FOLDER=str(TEST_DAGS))
    assert run.result.returncode == 0, run.output[-5000:]

    lines = (run.exports / "window.jsonl").read_bytes().split(b"\n")
    assert lines.pop() == b""
    since, until = datetime(2026, 11, 1, tzinfo=timezone.utc), datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    expected = sandbox.config.dataset().response_page(2, 1, 10_000, since, until, None).to_json()["data"]
    assert len(expected) == 1_440
    assert [json.loads(line) for line in lines] == expected
    # The sandbox's indent inside each record, without its line breaks: the bytes it sent, not re-encoded ones.
    assert all(line.startswith(b'{      "id": "srv-0002-r') and line.endswith(b"}    }") for line in lines)
    assert "Exported 1440 records in 8 pages" in run.output
