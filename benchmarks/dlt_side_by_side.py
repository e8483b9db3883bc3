"""Our export side by side with dlt (its ``rest_api`` source to its ``filesystem`` destination), on the same sandbox.

Run with ``make bench-dlt`` (``BENCH_ARGS=--quick`` for 10k records; the default sizes are 100k and 1M). Figures,
no assertions. dlt is installed in a venv of its own (``.venv/bench-dlt``, ``requirements/bench-dlt.txt``), never
in the provider's locks; this script runs in the bench venv, which holds the provider.

Layout of a run:

* one sandbox (plain HTTP on 127.0.0.1) with as many responses as the largest size; every case selects the first
  N responses of ``srv-0001`` with the same ``until`` window and reads them in pages of 500 with the page-number
  paging the daily export uses (``page``/``pageSize``, stop at ``totalPages``). The sandbox keeps every page of
  the run encoded and each size's pages are fetched once before any clock, so neither side pays for the
  sandbox building a page (on a small machine the sandbox shares the CPU with the client);
* for each format (JSON Lines, CSV, Parquet) and size, two fresh processes, one after the other: (a) ours,
  ``SurveySphereOperator(output_format=...)`` executed as a task would, with the token fetched by the hook from
  ``/connect/token``; (b) dlt, ``rest_api_source`` with ``OAuth2ClientCredentials`` against the same
  ``/connect/token`` and ``PageNumberPaginator(base_page=1, page_param="page", total_path="totalPages")``, run by
  ``dlt.pipeline(destination=filesystem(<a local folder>)).run(source, loader_file_format=...)``;
* each process imports what it needs, then times its export from the first request to the finished file (wall
  seconds, the token fetch included) and reports its peak RSS after imports and at the end (``VmHWM``, its own
  high-water mark; see ``_hwm_kib``), so "growth" is the memory the export itself took. dlt's pipeline working
  directory is new for every case (a first run: no schema or state from an earlier case);
* after each pair, both outputs are read back here (not in the measured processes): the records of dlt's
  ``responses`` table and of our file are counted and their ``id`` sets compared, so a figure is never over
  different work.

dlt settings (dlt's defaults unless said): normalize workers 1, extract and file buffers at their defaults, its
default nesting (``answers`` becomes ``answers__q1``...), ``_dlt_load_id``/``_dlt_id`` added as it always does.
Two settings are aligned with ours so that both write the same kind of file: dlt's final JSON Lines and CSV files
are not gzipped (``NORMALIZE__DATA_WRITER__DISABLE_COMPRESSION``; ours are plain unless the path ends in ``.gz``)
and its Parquet uses zstd (``NORMALIZE__DATA_WRITER__COMPRESSION``; dlt's default is snappy, ours zstd).
``--dlt-defaults`` drops both. Telemetry is off (``RUNTIME__DLTHUB_TELEMETRY``): no call leaves the machine.
"""

from __future__ import annotations

import argparse
import csv
import gc
import glob
import gzip
import itertools
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
SIZES = (100_000, 1_000_000)
QUICK_SIZES = (10_000,)
FORMATS = ("jsonl", "csv", "parquet")
PAGE_SIZE = 500
DATASET = "surveysphere"
TABLE = "responses"


def _hwm_kib() -> int:
    """This process's peak RSS so far (KiB).

    Not ``ru_maxrss``: on Linux a process started by fork and exec inherits in ``ru_maxrss`` the high-water mark of
    the image it was forked from (``exec_mmap`` folds the old address space's peak in), so every case would report
    at least this runner's RSS, which grows as it reads the outputs back. ``VmHWM`` is the new image's own.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def _children() -> tuple[float, int]:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime, usage.ru_minflt


def _finish(started: float, before: int, children: tuple[float, int], records_reported: int | None) -> dict:
    wall = time.perf_counter() - started
    # A process the export started would not be in this one's VmHWM. None is expected (dlt's normalize runs
    # in-process with one worker; croniter runs `file` once while dlt is imported, before the clock); a change
    # in the children's usage during the export is reported, so that one would show.
    return {"wall": wall, "rss_before_kib": before, "peak_kib": _hwm_kib(),
            "started_processes": _children() != children, "records_reported": records_reported}


# -- the measured processes ------------------------------------------------------------------------------


def ours(fmt: str, endpoint: str, params: dict[str, str], page_size: int, out: Path) -> dict:
    """SurveySphereOperator, executed as a task would (connection from AIRFLOW_CONN_SURVEYSPHERE_DEFAULT)."""
    # Imported before the clock, as a task process has them; see cases.py for the supervisor module and the gc.
    import airflow.sdk.execution_time.supervisor  # noqa: F401
    from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator
    from airflow_provider_surveysphere.pagination import PageNumberPagination

    if fmt == "parquet":
        import pyarrow.parquet  # noqa: F401
    gc.collect()
    before, children = _hwm_kib(), _children()
    started = time.perf_counter()
    operator = SurveySphereOperator(
        task_id="export_responses",
        endpoint=endpoint,
        query_params=params,
        pagination=PageNumberPagination(
            page_param="page", size_param="pageSize", page_size=page_size, total_pages_key="totalPages"
        ),
        records_key="data",
        output_path=str(out / f"responses.{fmt}"),
        output_format=fmt,
    )
    result = operator.execute(context={})
    return _finish(started, before, children, result["records"])


def dlt(fmt: str, base_url: str, endpoint: str, params: dict[str, str], page_size: int, out: Path,
        pipelines: Path, client: dict[str, str]) -> dict:
    """dlt's rest_api source to its filesystem destination (dlt's own venv)."""
    import dlt as dlt_lib
    from dlt.destinations import filesystem
    from dlt.sources.helpers.rest_client.auth import OAuth2ClientCredentials
    from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator
    from dlt.sources.rest_api import rest_api_source

    if fmt == "parquet":
        import pyarrow.parquet  # noqa: F401
    gc.collect()
    before, children = _hwm_kib(), _children()
    started = time.perf_counter()
    source = rest_api_source({
        "client": {
            "base_url": base_url + "/",
            "auth": OAuth2ClientCredentials(
                access_token_url=base_url + "/connect/token",
                client_id=client["client_id"],
                client_secret=client["client_secret"],
            ),
            "paginator": PageNumberPaginator(base_page=1, page_param="page", total_path="totalPages"),
        },
        "resources": [{
            "name": TABLE,
            "endpoint": {"path": endpoint, "params": {**params, "pageSize": page_size}, "data_selector": "data"},
        }],
    })
    pipeline = dlt_lib.pipeline(
        pipeline_name="surveysphere_bench",
        destination=filesystem(bucket_url=str(out)),
        dataset_name=DATASET,
        pipelines_dir=str(pipelines),
    )
    info = pipeline.run(source, loader_file_format=fmt)
    info.raise_on_failed_jobs()
    return _finish(started, before, children, None)


# -- reading the outputs back (in this process, after the measured one has exited) -------------------------


def _open_text(name: str, newline: str | None = None) -> IO[str]:
    """A text output, gzipped or not (dlt gzips its text files by default: ``--dlt-defaults``)."""
    if name.endswith(".gz"):
        return gzip.open(name, "rt", encoding="utf-8", newline=newline)
    return open(name, encoding="utf-8", newline=newline)


def read_back(files: list[str], fmt: str) -> tuple[int, set[str], list[str], int]:
    """Records, their ids, the columns and the bytes of one export's files."""
    ids: set[str] = set()
    records = 0
    columns: list[str] = []
    for name in files:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(name, columns=["id"])
            columns = pq.read_schema(name).names
            metadata = pq.ParquetFile(name).metadata
            codec = metadata.row_group(0).column(0).compression.lower() if metadata.num_row_groups else "none"
            columns = [*columns, f"(codec {codec}, {metadata.num_row_groups} row groups)"]
            records += table.num_rows
            ids.update(table.column("id").to_pylist())
        elif fmt == "csv":
            with _open_text(name, newline="") as handle:
                reader = csv.reader(handle)
                columns = next(reader)
                position = columns.index("id")
                for row in reader:
                    records += 1
                    ids.add(row[position])
        else:
            with _open_text(name) as handle:
                for line in handle:
                    record = json.loads(line)
                    if not columns:
                        columns = list(record)
                    records += 1
                    ids.add(record["id"])
    return records, ids, columns, sum(os.path.getsize(name) for name in files)


def output_files(tool: str, out: Path, fmt: str) -> list[str]:
    if tool == "ours":
        return [str(out / f"responses.{fmt}")]
    # filesystem destination layout: <bucket>/<dataset>/<table>/<load_id>.<file_id>.<ext>[.gz]
    return sorted(glob.glob(str(out / DATASET / TABLE / f"*.{fmt}")) + glob.glob(str(out / DATASET / TABLE / f"*.{fmt}.gz")))


# -- the runner ------------------------------------------------------------------------------------------


def run_child(python: str, tool: str, fmt: str, records: int, args: argparse.Namespace, base_url: str,
              env: dict[str, str], workdir: Path) -> dict:
    """One measured process (it reports its own peak RSS, see _hwm_kib); the outputs are read back here."""
    out = workdir / f"{tool}-{fmt}-{records}"
    out.mkdir()
    pipelines = workdir / f"{tool}-{fmt}-{records}-pipelines"  # a first run: no state or schema from another case
    command = [python, str(Path(__file__).resolve()), "--case", tool, fmt, str(records), "--base-url", base_url,
               "--out", str(out), "--pipelines", str(pipelines), "--page-size", str(args.page_size)]
    log = workdir / f"{tool}.log"
    with open(log, "w") as handle:
        process = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    lines = [line for line in log.read_text().splitlines() if line.startswith("RESULT ")]
    if process.returncode != 0 or not lines:
        tail = " | ".join(log.read_text().strip().splitlines()[-5:])
        raise SystemExit(f"{tool} {fmt} {records:,}: exit {process.returncode}: {tail}")
    result = json.loads(lines[-1][len("RESULT "):])
    if result["started_processes"]:
        print(f"note: {tool} {fmt} {records:,} started processes during its export: their memory is not in its "
              "peak RSS", flush=True)
    count, ids, columns, size = read_back(output_files(tool, out, fmt), fmt)
    shutil.rmtree(out)
    shutil.rmtree(pipelines, ignore_errors=True)
    return {**result, "tool": tool, "format": fmt, "records": records, "read_back": count, "ids": ids,
            "columns": columns, "bytes": size}


def warm(base_url: str, endpoint: str, params: dict[str, str], records: int, page_size: int,
         client: dict[str, str]) -> None:
    """Fetch every page of this size once, so the sandbox's page cache serves both sides alike."""
    form = urllib.parse.urlencode({"grant_type": "client_credentials", **client}).encode()
    with urllib.request.urlopen(urllib.request.Request(base_url + "/connect/token", data=form)) as answer:
        token = json.load(answer)["access_token"]
    for page in range(1, math.ceil(records / page_size) + 1):
        query = urllib.parse.urlencode({**params, "page": page, "pageSize": page_size})
        request = urllib.request.Request(f"{base_url}/{endpoint}?{query}", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request) as answer:
            answer.read()


def row(result: dict) -> str:
    rate = result["records"] / result["wall"]
    growth = (result["peak_kib"] - result["rss_before_kib"]) / 1024
    return (f"| {result['format']} | {result['records']:,} | {result['tool']} | {result['wall']:.2f} | {rate:,.0f} | "
            f"{result['peak_kib'] / 1024:.1f} | {result['rss_before_kib'] / 1024:.1f} | {growth:.1f} | "
            f"{result['bytes'] / 2**20:.1f} | {result['read_back']:,} | {len(result['columns'])} |")


def median_of(runs: list[dict]) -> dict:
    return {
        "wall": statistics.median(r["wall"] for r in runs),
        "peak_kib": statistics.median(r["peak_kib"] for r in runs),
        "growth_kib": statistics.median(r["peak_kib"] - r["rss_before_kib"] for r in runs),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", nargs=3, metavar=("TOOL", "FORMAT", "RECORDS"), help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--pipelines", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dlt-python", default=str(HERE.parent / ".venv" / "bench-dlt" / "bin" / "python"),
                        help="the python of the venv holding dlt (default: .venv/bench-dlt, built by make bench-dlt)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SIZES[0]:,} records instead of {SIZES}")
    parser.add_argument("--sizes", type=int, nargs="*", help="record counts (default 100000 1000000)")
    parser.add_argument("--formats", nargs="*", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--page-size", type=int, default=PAGE_SIZE)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each pair (medians are summarized)")
    parser.add_argument("--dlt-defaults", action="store_true",
                        help="leave dlt's file compression at its defaults (gzip text files, snappy Parquet)")
    args = parser.parse_args()

    sys.path.insert(0, str(HERE))
    import cases  # the benchmark's data window (its START, survey and client)

    client = {"client_id": cases.TOKEN_FORM["client_id"], "client_secret": cases.TOKEN_FORM["client_secret"]}
    if args.case:
        tool, fmt, records = args.case[0], args.case[1], int(args.case[2])
        params = cases.window(records)
        if tool == "ours":
            result = ours(fmt, cases.ENDPOINT, params, args.page_size, args.out)
        else:
            result = dlt(fmt, args.base_url, cases.ENDPOINT, params, args.page_size, args.out, args.pipelines,
                         client)
        print("RESULT " + json.dumps(result), flush=True)
        return 0

    import run  # the benchmark's sandbox process and connection environment

    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    args.dlt_python = os.path.abspath(args.dlt_python)  # the cases run in a scratch directory
    if not os.access(args.dlt_python, os.X_OK):
        raise SystemExit(f"no dlt venv at {args.dlt_python}: run `make bench-dlt` (it builds .venv/bench-dlt)")
    dlt_version = subprocess.run([args.dlt_python, "-c", "import dlt; print(dlt.__version__)"],
                                 capture_output=True, text=True, check=True).stdout.strip()
    from airflow_provider_surveysphere import __version__

    commit = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"dlt side by side, {stamp}, commit {commit}: airflow-provider-surveysphere {__version__} "
          f"(Python {sys.version.split()[0]}) vs dlt {dlt_version}; pages of {args.page_size}; "
          f"dlt file compression: {'its defaults' if args.dlt_defaults else 'aligned (plain text, zstd Parquet)'}",
          flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="surveysphere-dlt-"))
    pages = math.ceil(max(sizes) / args.page_size)
    sandbox = None
    results: list[dict] = []
    try:
        sandbox = run.Sandbox(workdir, https=False, responses=max(sizes), page_cache=pages + 8)
        home = workdir / "airflow-home"
        home.mkdir()
        ours_env = run.case_environment(sandbox, home)
        dlt_env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
        dlt_env["RUNTIME__DLTHUB_TELEMETRY"] = "false"
        if not args.dlt_defaults:
            dlt_env["NORMALIZE__DATA_WRITER__DISABLE_COMPRESSION"] = "true"
            dlt_env["NORMALIZE__DATA_WRITER__COMPRESSION"] = "zstd"
        print("| format | records | tool | wall s | records/s | peak RSS MiB | RSS after imports MiB | growth MiB "
              "| file MiB | records read back | columns |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
              flush=True)
        for records in sizes:
            warm(sandbox.base_url, cases.ENDPOINT, cases.window(records), records, args.page_size, client)
            for repeat, fmt in itertools.product(range(args.repeats), args.formats):
                sides = [(sys.executable, "ours", ours_env), (args.dlt_python, "dlt", dlt_env)]
                if repeat % 2:  # alternate which side goes first
                    sides.reverse()
                pair = [run_child(python, tool, fmt, records, args, sandbox.base_url, env, workdir)
                        for python, tool, env in sides]
                for result in pair:
                    print(row(result), flush=True)
                    if result["read_back"] != records or len(result["ids"]) != records:
                        raise SystemExit(f"{result['tool']} {fmt}: read back {result['read_back']:,} records "
                                         f"({len(result['ids']):,} distinct ids), expected {records:,}")
                if pair[0]["ids"] != pair[1]["ids"]:
                    raise SystemExit(f"{fmt} {records:,}: the two exports hold different records")
                for result in pair:
                    del result["ids"]
                results.extend(pair)
    finally:
        if sandbox is not None:
            sandbox.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    print("\nBoth sides of every pair hold the same records (same count, same ids).")
    if args.repeats > 1:
        print(f"Medians of {args.repeats} runs each (ours and dlt alternate going first):")
    print()
    for records in sizes:
        for fmt in args.formats:
            mine, theirs = (median_of([r for r in results if r["tool"] == tool and r["format"] == fmt
                                       and r["records"] == records]) for tool in ("ours", "dlt"))
            print(f"{fmt:>7} {records:>9,}: wall {mine['wall']:.2f} vs {theirs['wall']:.2f} s (dlt / ours "
                  f"{theirs['wall'] / mine['wall']:.2f}x); peak RSS "
                  f"{mine['peak_kib'] / 1024:.0f} vs {theirs['peak_kib'] / 1024:.0f} MiB, growth "
                  f"{mine['growth_kib'] / 1024:.0f} vs {theirs['growth_kib'] / 1024:.0f} MiB")
    columns = {(r["tool"], r["format"]): r["columns"] for r in results if r["format"] != "jsonl"}
    for (tool, fmt), names in sorted(columns.items()):
        print(f"  {tool} {fmt} columns: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
