"""Client CPU of one page through the JSON Lines export's record path: raw records against decode + encode.

Run by hand (no sandbox, no network: the page is built in process)::

    .venv/airflow-3.3/bin/python benchmarks/raw_records.py

For a 500-record sandbox page, compact, pretty-printed (``indent=2``) and with non-ASCII text, it prints the
process CPU time per page (the best of 5 rounds of 3,000 pages; CPU time, so a loaded machine shifts it little)
of splitting the page into raw records and writing them (``codec.split_records`` + ``codec.encode_records``), and
of decoding it and encoding its records again (``codec.loads`` + ``codec.encode_records``). It asserts nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timezone

from airflow_provider_surveysphere import codec
from airflow_provider_surveysphere.paging import records_of
from airflow_provider_surveysphere.sandbox.config import SandboxConfig

PAGE_SIZE = 500


def decoded(content: bytes) -> bytes:
    return codec.encode_records(records_of(codec.loads(content), "data", "page 1"))


def raw(content: bytes) -> bytes:
    split = codec.split_records(content, "data")
    assert split is not None
    return codec.encode_records(split[1])


def cpu_ms(path: Callable[[bytes], bytes], content: bytes, pages: int = 3_000, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(pages):
            path(content)
        best = min(best, (time.process_time() - started) / pages * 1000)
    return best


def main() -> None:
    dataset = SandboxConfig(start=datetime(2026, 11, 1, tzinfo=timezone.utc)).dataset()
    page = dataset.response_page(1, 1, PAGE_SIZE, None, None, None).to_json()
    bodies = {
        "compact": codec.dumps(page),
        "pretty-printed": json.dumps(page, indent=2, ensure_ascii=False).encode(),
        "non-ASCII": codec.dumps({**page, "data": [{**r, "respondent": "Zo\u00eb \u2603 \U0001d11e"} for r in page["data"]]}),
    }
    print(f"{PAGE_SIZE}-record page, client CPU per page (ms):")
    for name, content in bodies.items():
        before, after = cpu_ms(decoded, content), cpu_ms(raw, content)
        print(f"  {name:15s} {len(content):>7,} bytes  decode+encode {before:.3f}  raw {after:.3f}  ({before / after:.1f}x)")


if __name__ == "__main__":
    main()
