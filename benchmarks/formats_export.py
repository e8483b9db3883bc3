"""CSV and Parquet exports next to JSON Lines, and next to what SqlToS3Operator does (a pandas DataFrame of
every record, then ``to_csv``/``to_parquet``): throughput, client CPU per page, peak RSS and its growth with
the export's size, to a local file and to S3 (moto's server).

Run with ``make bench-formats`` (``BENCH_ARGS=--quick`` for a short run). Figures, no assertions. Layout, as in
s3_export.py: every measurement is a fresh process (``--case``) that imports everything, then writes N records
in pages of 1,000 through the export writer (the same encoders and sinks the operator uses); the pages are ten
pre-generated sandbox pages reused with new ids, so that neither record generation nor HTTP is measured.
It reports the seconds and CPU seconds from the first page to the published file, its RSS before the first page
and its peak RSS (``ru_maxrss``). "growth" is the peak at the largest size minus the peak at the smallest.

The DataFrame cases (``df-csv``, ``df-parquet``) collect every record first, as SqlToS3Operator's
``get_pandas_df`` does, flatten them with ``pandas.json_normalize`` and write the file at the end; they need
pandas (the bench venv) and run locally only (S3 would add an upload of the finished file).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from s3_export import _rss_kib, start_moto  # the S3 benchmark's helpers

SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 50_000)
PAGE = 1_000
FORMATS = ("jsonl", "csv", "parquet")
DATAFRAME_CASES = ("df-csv", "df-parquet")


def _pages() -> list[list[dict]]:
    from airflow_provider_surveysphere.sandbox import SandboxConfig

    dataset = SandboxConfig(responses_per_survey=10 * PAGE).dataset()
    return [dataset.response_page(1, number, PAGE).data for number in range(1, 11)]


def _page(pages: list[list[dict]], number: int) -> list[dict]:
    template = pages[number % len(pages)]
    return [{**record, "id": f"r{number * PAGE + i:08d}"} for i, record in enumerate(template)]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_case(case: str, target: str, records: int, endpoint: str, folder: str) -> dict:
    """One measurement, in this (fresh) process."""
    os.environ["AIRFLOW_CONN_BENCH_S3"] = json.dumps(
        {"conn_type": "aws", "login": "bench", "password": "bench",
         "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
    )
    pages = _pages()
    extension = case.removeprefix("df-")
    url = f"s3://bench_s3@bench/export-{records}.{extension}" if target == "s3" else f"{folder}/export-{records}.{extension}"
    if case in DATAFRAME_CASES:
        import pandas

        before, started, cpu = _rss_kib(), time.perf_counter(), _cpu()
        collected = []
        for number in range(records // PAGE):
            collected.extend(_page(pages, number))
        frame = pandas.json_normalize(collected)  # every record in memory, as a DataFrame
        if extension == "csv":
            frame.to_csv(url, index=False)
        else:
            frame.to_parquet(url, index=False)
    else:
        from airflow_provider_surveysphere.formats import FormatOptions
        from airflow_provider_surveysphere.output import AtomicJsonLinesWriter

        writer = AtomicJsonLinesWriter(url, encoder=FormatOptions().encoder(case, "infer"))
        with writer:
            before, started, cpu = _rss_kib(), time.perf_counter(), _cpu()
            for number in range(records // PAGE):
                writer.write_records(_page(pages, number))
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"case": case, "target": target, "records": records, "seconds": seconds, "cpu_ms_per_page": 1000 * cpu / (records // PAGE),
            "rss_before_kib": before, "peak_kib": peak}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", nargs=3, metavar=("CASE", "TARGET", "RECORDS"))
    parser.add_argument("--endpoint", default="")
    parser.add_argument("--folder")
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES} instead of {SIZES}")
    parser.add_argument("--targets", default="local,s3", help="local and/or s3 (s3 needs moto and s3fs)")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case[0], args.case[1], int(args.case[2]), args.endpoint, args.folder)))
        return 0

    sizes = QUICK_SIZES if args.quick else SIZES
    targets = [t for t in args.targets.split(",") if t != "s3" or importlib.util.find_spec("moto") is not None]
    cases = list(FORMATS)
    if importlib.util.find_spec("pandas") is not None:
        cases += DATAFRAME_CASES
    else:
        print("pandas is not installed here: no DataFrame cases (they run in the bench venv)")
    if "s3" not in targets and "s3" in args.targets:
        print("moto is not installed here: local file only (S3 runs in the S3 test venv)")
    moto, endpoint = (None, "")
    if "s3" in targets:
        import boto3

        moto, endpoint = start_moto()
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                     aws_secret_access_key="bench").create_bucket(Bucket="bench")
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="surveysphere-bench-") as folder:
            for target in targets:
                for case in cases:
                    if target == "s3" and case in DATAFRAME_CASES:
                        continue
                    for records in sizes:
                        out = subprocess.run(
                            [sys.executable, __file__, "--case", case, target, str(records), "--endpoint", endpoint,
                             "--folder", folder],
                            capture_output=True, text=True, check=True,
                        ).stdout
                        result = json.loads(out.strip().splitlines()[-1])
                        results.append(result)
                        print(_row(result), flush=True)
                        for name in os.listdir(folder):
                            os.unlink(os.path.join(folder, name))
    finally:
        if moto is not None:
            moto.stdin.close()  # type: ignore[union-attr]
            moto.wait(timeout=30)
    print()
    for target in targets:
        base = {r["records"]: r["seconds"] for r in results if r["target"] == target and r["case"] == "jsonl"}
        for case in cases:
            rows = {r["records"]: r for r in results if r["target"] == target and r["case"] == case}
            if not rows:
                continue
            small, large = rows[min(rows)], rows[max(rows)]
            growth = (large["peak_kib"] - small["peak_kib"]) / 1024
            versus = large["seconds"] / base[max(rows)] if base.get(max(rows)) else float("nan")
            print(f"{target:>5} {case:<10} peak RSS growth {min(rows):,} -> {max(rows):,}: {growth:+7.1f} MiB   "
                  f"time at {max(rows):,} vs JSON Lines: {versus:4.2f}x")
    return 0


def _row(result: dict) -> str:
    rate = result["records"] / result["seconds"]
    return (
        f"{result['target']:>5} {result['case']:<10} {result['records']:>9,} records {result['seconds']:7.2f} s "
        f"{rate:9,.0f} records/s  CPU {result['cpu_ms_per_page']:6.1f} ms/page  "
        f"RSS before {result['rss_before_kib'] / 1024:6.1f} MiB  peak {result['peak_kib'] / 1024:6.1f} MiB"
    )


if __name__ == "__main__":
    sys.exit(main())
