"""Export throughput and peak memory to S3 (moto's server) next to a local file, at 10k / 100k / 1M records.

Run with ``make bench-s3`` (the S3 test venv). Figures, no assertions. Layout:

* moto's S3 server runs in a process of its own on 127.0.0.1 (it keeps every object in its memory,
  which must not count as the export's);
* every measurement is a fresh process (``--case``) that imports everything, opens the writer, then
  streams N records in pages of 1,000 through ``AtomicJsonLinesWriter``; it reports its RSS before the
  first page, its peak RSS (``ru_maxrss``) and the seconds from the first page to the published file.
  The pages are ten pre-generated sandbox pages (realistic records, ~330 bytes each) reused with new
  ids, so that record generation is not measured;
* "growth 10k -> 1M" is the peak at 1M minus the peak at 10k, per target: what a bigger export costs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = (10_000, 100_000, 1_000_000)
PAGE = 1_000


def run_case(target: str, records: int, endpoint: str, folder: str, part_size: int) -> dict:
    """One measurement, in this (fresh) process."""
    os.environ["AIRFLOW_CONN_BENCH_S3"] = json.dumps(
        {"conn_type": "aws", "login": "bench", "password": "bench",
         "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
    )
    from airflow_provider_surveysphere.output import AtomicJsonLinesWriter
    from airflow_provider_surveysphere.sandbox import SandboxConfig

    dataset = SandboxConfig(responses_per_survey=10 * PAGE).dataset()
    pages = [dataset.response_page(1, number, PAGE).data for number in range(1, 11)]
    url = f"s3://bench_s3@bench/export-{records}.jsonl" if target == "s3" else f"{folder}/export-{records}.jsonl"
    writer = AtomicJsonLinesWriter(url, part_size=part_size)
    with writer:  # the bucket probe and the open happen here, before the first page
        before = _rss_kib()
        started = time.perf_counter()
        for number in range(records // PAGE):
            template = pages[number % len(pages)]
            writer.write_records([{**record, "id": f"r{number * PAGE + i:08d}"} for i, record in enumerate(template)])
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"target": target, "records": writer.records, "seconds": seconds, "rss_before_kib": before, "peak_kib": peak}


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def start_moto() -> tuple[subprocess.Popen[str], str]:
    code = (
        "import sys, time\n"
        "from moto.server import ThreadedMotoServer\n"
        "server = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)\n"
        "server.start()\n"
        "print(server.get_host_and_port()[1], flush=True)\n"
        "sys.stdin.read()\n"  # until the parent closes our stdin
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    port = int(process.stdout.readline())  # type: ignore[union-attr]
    return process, f"http://127.0.0.1:{port}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", nargs=2, metavar=("TARGET", "RECORDS"))
    parser.add_argument("--endpoint")
    parser.add_argument("--folder")
    parser.add_argument("--part-size", type=int, default=8 * 2**20)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated record counts")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case[0], int(args.case[1]), args.endpoint, args.folder, args.part_size)))
        return 0

    import boto3

    moto, endpoint = start_moto()
    results = []
    try:
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                     aws_secret_access_key="bench").create_bucket(Bucket="bench")
        with tempfile.TemporaryDirectory(prefix="surveysphere-bench-") as folder:
            for records in map(int, args.sizes.split(",")):
                for target in ("local", "s3"):
                    out = subprocess.run(
                        [sys.executable, __file__, "--case", target, str(records), "--endpoint", endpoint,
                         "--folder", folder, "--part-size", str(args.part_size)],
                        capture_output=True, text=True, check=True,
                    ).stdout
                    result = json.loads(out.strip().splitlines()[-1])
                    results.append(result)
                    print(_row(result), flush=True)
                for name in os.listdir(folder):
                    os.unlink(os.path.join(folder, name))
    finally:
        moto.stdin.close()  # type: ignore[union-attr]
        moto.wait(timeout=30)
    print()
    for target in ("local", "s3"):
        peaks = {r["records"]: r["peak_kib"] for r in results if r["target"] == target}
        if min(peaks) != max(peaks):
            growth = (peaks[max(peaks)] - peaks[min(peaks)]) / 1024
            print(f"{target}: peak RSS growth {min(peaks):,} -> {max(peaks):,} records: {growth:+.1f} MiB")
    return 0


def _row(result: dict) -> str:
    rate = result["records"] / result["seconds"]
    return (
        f"{result['target']:>5} {result['records']:>9,} records  {result['seconds']:7.2f} s  {rate:9,.0f} records/s  "
        f"RSS before {result['rss_before_kib'] / 1024:6.1f} MiB  peak {result['peak_kib'] / 1024:6.1f} MiB"
    )


if __name__ == "__main__":
    sys.exit(main())
