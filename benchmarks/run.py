"""Benchmarks of the SurveySphere provider against the limit and against what users would pick instead.

Run with ``make bench`` (or ``make bench BENCH_ARGS=--quick``). The figures are printed and written to
``benchmarks/results/``: ``<stamp>.json`` (every run) and ``<stamp>.md`` (the tables). Nothing is
asserted: the targets of the issue are shown next to the figures, met or not.

Layout of a run:

* two sandbox servers run in processes of their own (plain HTTP, and HTTPS with its self-signed
  certificate), on 127.0.0.1, with 1,000,000 responses in survey ``srv-0001``;
* every measurement is a fresh ``benchmarks/cases.py`` process, so that its CPU time and its peak
  memory (``ru_maxrss``) are its own; the server's CPU time is read from ``/proc`` around each run;
* throughput runs are interleaved (each repeat takes the cases in a rotated order, alternating the
  schemes) and repeated; medians are reported with their ratio to the limit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import cases  # this directory is the script's: sys.path[0]

HERE = Path(__file__).resolve().parent
CASES_SCRIPT = HERE / "cases.py"
CASES_START = cases.START.strftime("%Y-%m-%dT%H:%M:%SZ")
RESULTS = HERE / "results"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

THROUGHPUT_CASES = {
    "httpclient": "(0) ceiling: bare keep-alive http.client, bodies read, not parsed",
    "provider": "(a) provider: hook.paginate, records discarded",
    "operator": "(a) provider: SurveySphereOperator -> JSON Lines file",
    "limit": "(b) limit: bare keep-alive requests.Session, one token",
    "limit-bare": "(b) the same limit in a process without Airflow imported",
    "httpoperator": "(c) HttpOperator 6.3.0 + pagination_function",
    "httphook": "(c) HttpHook 6.3.0 run() loop, records discarded",
    "naive": "(d) naive: requests.get per page, token per page",
}
MEMORY_CASES = ["provider", "operator", "operator-c8", "limit", "httpoperator"]
CASE_LABELS = {**THROUGHPUT_CASES, "operator-c8": "(a) provider: SurveySphereOperator, max_concurrency=8"}


# -- the sandbox servers ---------------------------------------------------------------------------


class Sandbox:
    """A sandbox server in a process of its own (the package's CLI)."""

    def __init__(self, workdir: Path, https: bool, responses: int, page_cache: int) -> None:
        self.scheme = "https" if https else "http"
        self.port_file = workdir / f"{self.scheme}.url"
        self.log_path = workdir / f"{self.scheme}.log"
        command = [sys.executable, "-m", "airflow_provider_surveysphere.sandbox", "--host", "127.0.0.1",
                   "--port", "0", "--port-file", str(self.port_file), "--responses-per-survey", str(responses),
                   # The cases select their records by time from this fixed start (the default is recent).
                   "--start", CASES_START, "--page-cache", str(page_cache)]
        if https:
            command.append("--https")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not self.port_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.scheme} sandbox did not start:\n{self.log_path.read_text()}")
            time.sleep(0.05)
        self.base_url = self.port_file.read_text().strip()
        self.ca = None
        if https:
            while self.ca is None:
                for line in self.log_path.read_text().splitlines():
                    if line.startswith("ca_cert:"):
                        self.ca = line.split(":", 1)[1].strip()
                time.sleep(0.02)

    def stats(self) -> dict:
        # Control endpoints need no token and are left out of the sandbox's own counts.
        with urllib.request.urlopen(self._control_request("/__sandbox/stats"), context=self._context()) as answer:
            return json.load(answer)

    def _control_request(self, path: str, body: dict | None = None) -> urllib.request.Request:
        if body is None:
            return urllib.request.Request(self.base_url + path)
        return urllib.request.Request(self.base_url + path, data=json.dumps(body).encode(), method="POST",
                                      headers={"Content-Type": "application/json"})

    def configure(self, **values: object) -> None:
        """Change the running sandbox's settings (latency, concurrency limit, ...)."""
        request = self._control_request("/__sandbox/config", values)
        with urllib.request.urlopen(request, context=self._context()) as answer:
            answer.read()

    def _context(self):
        if self.ca is None:
            return None
        import ssl

        return ssl.create_default_context(cafile=self.ca)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


# -- running one case ------------------------------------------------------------------------------


def case_environment(sandbox: Sandbox, airflow_home: Path) -> dict[str, str]:
    extra = {"verify": sandbox.ca} if sandbox.ca else {}
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_SURVEYSPHERE_DEFAULT": json.dumps({
            "conn_type": "surveysphere", "host": sandbox.base_url,
            "login": "sandbox-client", "password": "sandbox-secret", "extra": extra,
        }),
        "AIRFLOW_CONN_HTTP_BENCH": json.dumps({"conn_type": "http", "host": sandbox.base_url, "extra": extra}),
    })
    return env


def run_case(sandbox: Sandbox, airflow_home: Path, case: str, *extra_args: str, timeout: float = 600) -> dict:
    command = [sys.executable, str(CASES_SCRIPT), case, "--base-url", sandbox.base_url, *extra_args]
    if sandbox.ca:
        command += ["--ca", sandbox.ca]
    before, cpu_before = sandbox.stats(), sandbox.cpu_seconds()
    try:
        done = subprocess.run(command, env=case_environment(sandbox, airflow_home), capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"case": case, "failed": f"timed out after {timeout:.0f} s"}
    server_cpu = sandbox.cpu_seconds() - cpu_before
    after = sandbox.stats()
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"case": case, "failed": f"exit {done.returncode}: {' | '.join(tail)}"}
    result = json.loads(lines[-1][len("RESULT "):])
    result.update({
        "statuses": {status: count - before["statuses"].get(status, 0)
                     for status, count in after["statuses"].items() if count != before["statuses"].get(status, 0)},
        "scheme": sandbox.scheme,
        "server_cpu": server_cpu,
        "tokens_issued": after["tokens_issued"] - before["tokens_issued"],
        "connections": after["connections"] - before["connections"] - 1,  # less the stats call's own
        "requests": after["requests"] - before["requests"],
    })
    return result


# -- reporting -------------------------------------------------------------------------------------


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.strip() if shutil.which("free") else ""
    total = next((line.split()[1] for line in memory.splitlines() if line.startswith("Mem:")), "?")
    versions = subprocess.run(
        [sys.executable, "-c", "import importlib.metadata as m; print(' '.join(f'{p}=={m.version(p)}' for p in "
         "('apache-airflow', 'apache-airflow-providers-http', 'requests', 'urllib3')))"],
        capture_output=True, text=True).stdout.strip()
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "memory": total,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "packages": versions,
    }


def fmt(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


# -- the benchmark sections ------------------------------------------------------------------------


def ceilings(sandboxes: list[Sandbox], home: Path, seconds: float, page_size: int, out: list[str], raw: dict) -> None:
    rows = []
    for sandbox in sandboxes:
        result = run_case(sandbox, home, "ceiling", "--seconds", str(seconds), "--page-size", str(page_size))
        raw.setdefault("ceiling", []).append(result)
        if "failed" in result:
            rows.append([sandbox.scheme, result["failed"], "", ""])
            continue
        rows.append([sandbox.scheme, fmt(result["trivial"], 0), fmt(result["page_1"], 0),
                     fmt(result[f"page_{page_size}"], 0)])
    out.append("### Sandbox ceiling (requests/s, one keep-alive `http.client` connection, body read, not parsed)\n")
    out.append(table(["scheme", "trivial page (`/__sandbox/health`)", "data page of 1 record (token checked)",
                      f"data page of {page_size} records"], rows))
    out.append("")


def throughput(sandboxes: list[Sandbox], home: Path, records: int, page_size: int, repeats: int,
               out: list[str], raw: dict) -> None:
    cases = list(THROUGHPUT_CASES)
    runs: dict[tuple[str, str], list[dict]] = {}
    failures: dict[tuple[str, str], str] = {}
    for repeat in range(repeats):
        order = cases[repeat % len(cases):] + cases[: repeat % len(cases)]
        for sandbox in (sandboxes if repeat % 2 == 0 else sandboxes[::-1]):
            for case in order:
                result = run_case(sandbox, home, case, "--records", str(records), "--page-size", str(page_size))
                raw.setdefault("throughput", []).append({**result, "repeat": repeat, "scheme": sandbox.scheme})
                if "failed" in result:
                    failures[(sandbox.scheme, case)] = result["failed"]
                    print(f"  {sandbox.scheme:5} {case:12} FAILED {result['failed']}", flush=True)
                    continue
                runs.setdefault((sandbox.scheme, case), []).append(result)
                print(f"  repeat {repeat + 1}/{repeats} {sandbox.scheme:5} {case:12} {result['wall']:7.3f} s  "
                      f"client cpu {result['cpu']:6.3f} s  server cpu {result['server_cpu']:5.2f} s  "
                      f"tokens {result['tokens_issued']}  connections {result['connections']}", flush=True)
    pages = -(-records // page_size)
    out.append(f"### Export throughput: {records:,} records in {pages} pages of {page_size} "
               f"(median of {repeats} interleaved runs)\n")
    for sandbox in sandboxes:
        limit_runs = runs.get((sandbox.scheme, "limit"), [])
        limit_wall = statistics.median(r["wall"] for r in limit_runs) if limit_runs else None
        ceiling_runs = runs.get((sandbox.scheme, "httpclient"), [])
        ceiling_wall = statistics.median(r["wall"] for r in ceiling_runs) if ceiling_runs else None
        rows = []
        for case in cases:
            results = runs.get((sandbox.scheme, case))
            if not results:
                rows.append([THROUGHPUT_CASES[case], failures.get((sandbox.scheme, case), "no run"), *[""] * 8])
                continue
            wall = statistics.median(r["wall"] for r in results)
            cpu = statistics.median(r["cpu"] for r in results)
            server = statistics.median(r["server_cpu"] for r in results)
            rate = statistics.median(r["records"] / r["wall"] for r in results)
            ratio = f"{limit_wall / wall:.2f}x" if limit_wall else "?"
            of_ceiling = f"{ceiling_wall / wall:.2f}" if ceiling_wall else "?"
            spread = f"{min(r['wall'] for r in results):.3f}-{max(r['wall'] for r in results):.3f}"
            rows.append([
                THROUGHPUT_CASES[case], fmt(wall, 3), spread, fmt(rate, 0), ratio, of_ceiling, fmt(cpu * 1000 / pages, 2),
                fmt(server, 2), str(max(r["tokens_issued"] for r in results)),
                str(max(r["connections"] for r in results)),
            ])
        out.append(f"**{sandbox.scheme.upper()}**\n")
        out.append(table(["case", "wall s (median)", "wall s (min-max)", "records/s", "throughput vs (b)",
                          "fraction of the ceiling (0)", "client CPU ms/page", "server CPU s", "tokens issued",
                          "TCP connections"], rows))
        if ceiling_wall:
            out.append(f"\nCeiling (0): {pages / ceiling_wall:,.0f} pages/s of {page_size} records read by one "
                       "keep-alive `http.client` connection, bodies not parsed (the sandbox's own rate for these pages).")
        out.append("")


def token_counts(sandboxes: list[Sandbox], home: Path, calls_list: list[int], out: list[str], raw: dict) -> None:
    rows = []
    for sandbox in sandboxes:
        specs = [(f"{calls} call(s), one hook", ["--calls", str(calls), "--mode", "same"]) for calls in calls_list]
        specs += [(f"{calls} call(s), a new hook per call", ["--calls", str(calls), "--mode", "new"])
                  for calls in calls_list]
        biggest = str(calls_list[-1])
        specs += [(f"8 threads sharing one hook, {biggest} calls", ["--calls", biggest, "--mode", "threads"]),
                  (f"8 threads, a hook each, {biggest} calls", ["--calls", biggest, "--mode", "threads-own"])]
        for label, args in specs:
            result = run_case(sandbox, home, "tokens", *args)
            raw.setdefault("tokens", []).append({**result, "label": label})
            if "failed" in result:
                rows.append([sandbox.scheme, label, result["failed"], "", ""])
                continue
            rows.append([sandbox.scheme, label, str(result["tokens_issued"]), str(result["requests"] - result["tokens_issued"]),
                         fmt(result["wall"], 3)])
            print(f"  {sandbox.scheme:5} {label:45} tokens issued {result['tokens_issued']}", flush=True)
    out.append("### Token requests per task run (one process = one task run)\n")
    out.append(table(["scheme", "calls", "tokens issued", "data requests", "wall s"], rows))
    out.append("")


def memory_and_scaling(sandbox: Sandbox, home: Path, sizes: list[int], page_size: int,
                       out: list[str], raw: dict) -> None:
    results: dict[tuple[str, int], dict] = {}
    for size in sizes:
        for case in MEMORY_CASES:
            result = run_case(sandbox, home, case, "--records", str(size), "--page-size", str(page_size), timeout=900)
            raw.setdefault("memory", []).append(result)
            results[(case, size)] = result
            if "failed" in result:
                print(f"  {case:12} {size:>9,} FAILED {result['failed']}", flush=True)
            else:
                print(f"  {case:12} {size:>9,} records  {result['wall']:7.2f} s  max RSS "
                      f"{result['maxrss_kb'] / 1024:7.1f} MB (after imports {result['rss_before_kb'] / 1024:.1f} MB)",
                      flush=True)
    out.append(f"### Peak memory (max RSS of the case's process, MB; pages of {page_size}, plain HTTP)\n")
    headers = ["case", "after imports", *[f"{size:,} records" for size in sizes], f"growth {sizes[0]:,} -> {sizes[-1]:,}"]
    rows = []
    for case in MEMORY_CASES:
        row = [CASE_LABELS[case]]
        first = results.get((case, sizes[0]), {})
        row.append(fmt(first["rss_before_kb"] / 1024, 1) if "rss_before_kb" in first else "")
        for size in sizes:
            result = results[(case, size)]
            row.append(fmt(result["maxrss_kb"] / 1024, 1) if "failed" not in result else f"failed ({result['failed'][:40]})")
        last = results[(case, sizes[-1])]
        row.append(fmt((last["maxrss_kb"] - first["maxrss_kb"]) / 1024, 1)
                   if "failed" not in last and "maxrss_kb" in first else "")
        rows.append(row)
    out.append(table(headers, rows))
    out.append("")
    out.append(f"### How time grows with records (wall seconds, one run each; pages of {page_size}, plain HTTP)\n")
    rows = []
    for case in MEMORY_CASES:
        row = [CASE_LABELS[case]]
        for size in sizes:
            result = results[(case, size)]
            row.append(f"{result['wall']:.2f} ({result['records'] / result['wall']:,.0f}/s)"
                       if "failed" not in result else "failed")
        rows.append(row)
    out.append(table(["case", *[f"{size:,} records (records/s)" for size in sizes]], rows))
    out.append("")


LATENCY_PEERS = {
    "httpoperator": "HttpOperator 6.3.0 + pagination_function",
    "naive": "naive: requests.get per page, token per page",
}


def file_digest(path: Path) -> str | None:
    import hashlib

    if not path.exists():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def latency(sandbox: Sandbox, home: Path, latencies_ms: list[int], concurrencies: list[int], records: int,
            page_size: int, server_limit: int, out: list[str], raw: dict) -> None:
    """A latency-bound server: hook.paginate and the JSON Lines export at each max_concurrency, against the
    sequential peers; every export's file is compared byte for byte with the max_concurrency=1 one."""
    pages = -(-records // page_size)
    args = ["--records", str(records), "--page-size", str(page_size)]
    exports = home.parent / "exports"
    exports.mkdir(exist_ok=True)

    def run(label: str, case: str, *extra: str) -> dict:
        result = run_case(sandbox, home, case, *args, *extra, timeout=1200)
        raw.setdefault("latency", []).append({**result, "label": label})
        if "failed" in result:
            print(f"  {label:58} FAILED {result['failed']}", flush=True)
        else:
            print(f"  {label:58} {result['wall']:7.3f} s  cpu {result['cpu']:6.3f} s  "
                  f"429s {result['statuses'].get('429', 0)}", flush=True)
        return result

    def export(latency_ms: int, concurrency: int) -> dict:
        path = exports / f"{latency_ms}ms-n{concurrency}.jsonl"
        result = run(f"{latency_ms} ms: SurveySphereOperator -> JSON Lines, max_concurrency={concurrency}", "operator",
                     "--concurrency", str(concurrency), "--output", str(path))
        result["sha256"] = file_digest(path)
        return result

    def row(label: str, result: dict, base: dict | None, peer: dict | None, concurrency: int | None,
            same_bytes: str = "") -> list[str]:
        if "failed" in result:
            return [label, result["failed"][:60], *[""] * 8]
        wall = result["wall"]
        speedup = base["wall"] / wall if base and "failed" not in base else None
        versus_peer = peer["wall"] / wall if peer and "failed" not in peer else None
        efficiency = f"{speedup / concurrency:.2f}" if speedup and concurrency else ""
        # The first page is read alone (it says how many follow), at every N: the efficiency of the rest.
        first, base_first = result.get("first_record"), (base or {}).get("first_record")
        after_first = ""
        if concurrency and first is not None and base_first is not None and wall > first:
            after_first = f"{(base['wall'] - base_first) / (wall - first) / concurrency:.2f}"
        return [label, fmt(wall, 2), fmt(result["records"] / wall, 0),
                f"{speedup:.2f}x" if speedup else "", efficiency,
                fmt(first, 3) if first is not None else "", after_first,
                fmt(result["cpu"] * 1000 / pages, 2), f"{versus_peer:.2f}x" if versus_peer else "",
                str(result["statuses"].get("429", 0)) + (f"; {same_bytes}" if same_bytes else "")]

    headers = ["case", "wall s", "records/s", "speed-up vs max_concurrency=1", "efficiency (speed-up / N)",
               "first page s", "efficiency after the first page", "client CPU ms/page", "vs HttpOperator",
               "429 answers; file vs max_concurrency=1"]
    out.append(f"### A latency-bound server: {records:,} records in {pages} pages of {page_size} "
               f"(plain HTTP, one run each)\n")
    for latency_ms in latencies_ms:
        sandbox.configure(latency=latency_ms / 1000, latency_jitter=0, concurrency_limit=0)
        results = {c: run(f"{latency_ms} ms: hook.paginate, max_concurrency={c}", "provider", "--concurrency", str(c))
                   for c in concurrencies}
        peers = {case: run(f"{latency_ms} ms: {label}", case) for case, label in LATENCY_PEERS.items()}
        operators = {c: export(latency_ms, c) for c in sorted({1, 8, 16} & {1, *concurrencies})}
        rows = [row(f"hook.paginate, max_concurrency={c}", results[c], results[concurrencies[0]],
                    peers["httpoperator"], c) for c in concurrencies]
        sequential = operators[1]
        for c, result in operators.items():
            same = ""
            if c != 1:
                same = ("same bytes" if result.get("sha256") and result["sha256"] == sequential.get("sha256")
                        else "DIFFERENT BYTES")
            rows.append(row(f"SurveySphereOperator -> JSON Lines, max_concurrency={c}", result, sequential,
                            peers["httpoperator"], c, same))
        for path in exports.iterdir():
            path.unlink()
        rows += [row(label, peers[case], results[concurrencies[0]], peers["httpoperator"], None)
                 for case, label in LATENCY_PEERS.items()]
        out.append(f"**{latency_ms} ms per request**\n")
        out.append(table(headers, rows))
        out.append("")
    if server_limit:
        latency_ms = 50 if 50 in latencies_ms else latencies_ms[0]
        sandbox.configure(latency=latency_ms / 1000, latency_jitter=0, concurrency_limit=server_limit)
        results = {c: run(f"{latency_ms} ms, server limit {server_limit}: max_concurrency={c}", "provider",
                          "--concurrency", str(c)) for c in concurrencies}
        sandbox.configure(latency=0, concurrency_limit=0)
        out.append(f"**{latency_ms} ms per request, and the sandbox answers 429 (`Retry-After: 1`) past "
                   f"{server_limit} requests in flight**\n")
        out.append(table(headers, [row(f"hook.paginate, max_concurrency={c}", results[c], results[concurrencies[0]],
                                       None, min(c, server_limit)) for c in concurrencies]))
        out.append("\nEfficiency here is the speed-up over min(N, the server's limit).\n")
    out.append("The operator's efficiency is over its own max_concurrency=1 run; \"efficiency after the first page\" "
               "leaves out, at both N, the time until the first record (token, connection lookup, the first page, "
               "read alone to learn the total).\n")
    sandbox.configure(latency=0, latency_jitter=0, concurrency_limit=0)


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmarks of the SurveySphere provider (prints figures).")
    parser.add_argument("--quick", action="store_true", help="a short run: fewer repeats and smaller sizes")
    parser.add_argument("--repeats", type=int, help="throughput repeats (default 5, quick 3)")
    parser.add_argument("--records", type=int, help="records of the throughput export (default 100,000 = 200 pages of 500)")
    parser.add_argument("--page-size", type=int, default=500, help="page size of the throughput export")
    parser.add_argument("--latencies", type=int, nargs="*", help="latency section, ms (default 20 50 100; quick 50)")
    parser.add_argument("--page-cache", type=int, default=256,
                        help="pages the sandbox keeps encoded (0: it generates every page, as before 2026-11-29)")
    parser.add_argument("--only", nargs="*", choices=["ceiling", "throughput", "tokens", "memory", "latency"],
                        help="run only these sections")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 5)
    records = args.records or (20_000 if args.quick else 100_000)
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    calls_list = [1, 100] if args.quick else [1, 100, 1000]
    sections = set(args.only or ["ceiling", "throughput", "tokens", "memory", "latency"])
    latencies_ms = args.latencies or ([50] if args.quick else [20, 50, 100])
    concurrencies = [1, 4, 8, 16] if args.quick else [1, 2, 4, 8, 16]

    started = time.monotonic()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    info = machine()
    command = " ".join(["python", "benchmarks/run.py", *sys.argv[1:]])
    out = [f"## Results of `{command}` ({stamp})\n",
           f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']} RAM, {info['os']}, "
           f"Python {info['python']}; {info['packages']}.\n",
           f"Sandbox page cache: {args.page_cache} pages" + (" (every page of the exports built once before the "
                                                             "clocks; 0 = built on every request)" if args.page_cache
                                                             else " (every page built on every request)") + ".\n"]
    print("\n".join(out), flush=True)
    raw: dict = {"machine": info, "command": command, "stamp": stamp}
    workdir = Path(tempfile.mkdtemp(prefix="surveysphere-bench-"))
    sandboxes = []
    try:
        sandboxes = [Sandbox(workdir, https=https, responses=1_000_000, page_cache=args.page_cache)
                     for https in (False, True)]
        home = workdir / "airflow-home"
        home.mkdir()
        latency_records = 25_000 if args.quick else 100_000
        if args.page_cache:
            # Every page of the exports is built once here, so no timed case pays for building it.
            print("Filling the sandboxes' page caches...", flush=True)
            for sandbox in sandboxes:
                for total in sorted({records, latency_records}):
                    run_case(sandbox, home, "limit", "--records", str(total), "--page-size", str(args.page_size))
        if "ceiling" in sections:
            print("Sandbox ceiling...", flush=True)
            ceilings(sandboxes, home, 1.0 if args.quick else 2.0, args.page_size, out, raw)
        if "throughput" in sections:
            print("Throughput...", flush=True)
            throughput(sandboxes, home, records, args.page_size, repeats, out, raw)
        if "tokens" in sections:
            print("Token requests...", flush=True)
            token_counts(sandboxes, home, calls_list, out, raw)
        if "latency" in sections:
            print("Latency-bound server...", flush=True)
            latency(sandboxes[0], home, latencies_ms, concurrencies, latency_records,
                    args.page_size, 4, out, raw)
        if "memory" in sections:
            print("Memory and scaling...", flush=True)
            memory_and_scaling(sandboxes[0], home, sizes, 1000, out, raw)
    finally:
        for sandbox in sandboxes:
            sandbox.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    out.append(f"Total benchmark time: {time.monotonic() - started:.0f} s.\n")
    report = "\n".join(out)
    print("\n" + report, flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stamp}.md").write_text(report + "\n")
    (RESULTS / f"{stamp}.json").write_text(json.dumps(raw, indent=1) + "\n")
    print(f"Written: {RESULTS / (stamp + '.md')} and {RESULTS / (stamp + '.json')}", flush=True)


if __name__ == "__main__":
    main()
