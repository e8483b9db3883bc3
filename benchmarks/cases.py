"""One benchmark case, run in a fresh process so that its CPU time and peak memory are its own.

``benchmarks/run.py`` starts this script once per measurement; it is not meant to be run by hand,
but it can be::

    python benchmarks/cases.py provider --base-url http://127.0.0.1:PORT --records 100000 --page-size 500

The sandbox server runs in another process. Connection settings come from the environment the
runner sets (``AIRFLOW_CONN_SURVEYSPHERE_DEFAULT``, ``AIRFLOW_CONN_HTTP_BENCH`` and a throwaway
``AIRFLOW_HOME``). The case prints one line ``RESULT {json}``: wall and CPU seconds of the export
(imports and interpreter start excluded; token fetch, TCP and TLS set-up included), records read,
and ``ru_maxrss`` before and after. It asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import math
import os
import resource
import ssl
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

#: The sandbox's default data shape: response i was submitted at START + i * 60 s.
START = datetime(2026, 11, 1, tzinfo=timezone.utc)
INTERVAL = timedelta(seconds=60)
SURVEY = "srv-0001"
ENDPOINT = f"api/v1/surveys/{SURVEY}/responses"
TOKEN_FORM = {"grant_type": "client_credentials", "client_id": "sandbox-client", "client_secret": "sandbox-secret"}


def maxrss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux


def window(records: int) -> dict[str, str]:
    """Query parameters that select exactly the first ``records`` responses of the survey."""
    until = START + records * INTERVAL
    return {"until": until.strftime("%Y-%m-%dT%H:%M:%SZ")}


# -- (a) the provider -----------------------------------------------------------------------------------


def provider_paginate(args: argparse.Namespace) -> tuple[int, int]:
    from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
    from airflow_provider_surveysphere.pagination import PageNumberPagination

    hook = SurveySphereHook()
    started = time.perf_counter()
    records = hook.paginate(
        ENDPOINT,
        params=window(args.records),
        pagination=PageNumberPagination(page_size=args.page_size, total_pages_key="totalPages"),
        records_key="data",
        max_concurrency=args.concurrency,
    )
    count = 0
    for _ in records:
        if not count:
            # The first page is read alone (its total says how many follow): a fixed cost at every concurrency.
            FIRST_RECORD["seconds"] = time.perf_counter() - started
        count += 1
    hook.close()
    return count, records.pages


#: When the first record came out (seconds from the start of the export), for the latency section.
FIRST_RECORD: dict[str, float] = {}


def provider_operator(args: argparse.Namespace) -> tuple[int, int]:
    from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator
    from airflow_provider_surveysphere.pagination import PageNumberPagination

    with tempfile.TemporaryDirectory(prefix="surveysphere-bench-") as directory:
        operator = SurveySphereOperator(
            task_id="export_responses",
            endpoint=ENDPOINT,
            query_params=window(args.records),
            pagination=PageNumberPagination(page_size=args.page_size, total_pages_key="totalPages"),
            records_key="data",
            # --output keeps the file, so that the runner can compare the bytes of two runs
            output_path=args.output or os.path.join(directory, "responses.jsonl"),
            max_concurrency=args.concurrency,
        )
        result = operator.execute(context={})
    return result["records"], result["pages"]


# -- (b) the limit ---------------------------------------------------------------------------------------


def limit(args: argparse.Namespace) -> tuple[int, int]:
    import requests

    verify = args.ca or True  # per request: REQUESTS_CA_BUNDLE would override a Session's verify
    session = requests.Session()
    token = session.post(f"{args.base_url}/connect/token", data=TOKEN_FORM, verify=verify).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    url = f"{args.base_url}/{ENDPOINT}"
    params = window(args.records)
    pages = math.ceil(args.records / args.page_size)
    count = 0
    for page in range(1, pages + 1):
        response = session.get(
            url, params={**params, "page": page, "pageSize": args.page_size}, headers=headers, verify=verify
        )
        response.raise_for_status()
        count += len(response.json()["data"])  # the records are discarded
    session.close()
    return count, pages


# -- the ceiling: the same pages, read by the leanest Python client ------------------------------------------


def http_client(args: argparse.Namespace) -> tuple[int, int]:
    """The export's pages over one keep-alive ``http.client`` connection, each body read and not parsed.

    About the least a Python client can do per page: what is left of the wall time is the sandbox's, so the
    cases' throughput over this one is the share of the server's rate they reach.
    """
    from urllib.parse import urlencode

    connection = _http_client_connection(args)
    form = urlencode(TOKEN_FORM)
    connection.request("POST", "/connect/token", body=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
    token = json.loads(connection.getresponse().read())["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    path = "/" + ENDPOINT + "?"
    params = window(args.records)
    pages = math.ceil(args.records / args.page_size)
    received = 0
    for page in range(1, pages + 1):
        connection.request("GET", path + urlencode({**params, "page": page, "pageSize": args.page_size}), headers=headers)
        answer = connection.getresponse()
        body = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"page {page}: {answer.status}")
        received += len(body)
    connection.close()
    return args.records, pages  # not parsed: the page count says what was read


def _http_client_connection(args: argparse.Namespace) -> http.client.HTTPConnection:
    parts = urlsplit(args.base_url)
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=args.ca)
        return http.client.HTTPSConnection(parts.hostname, parts.port, context=context)
    return http.client.HTTPConnection(parts.hostname, parts.port)


# -- (c) what users would pick instead: the HTTP provider -----------------------------------------------


def _fetch_token(args: argparse.Namespace) -> str:
    import requests

    answer = requests.post(f"{args.base_url}/connect/token", data=TOKEN_FORM, verify=args.ca or True)
    return answer.json()["access_token"]


def _next_page(response) -> dict | None:
    body = response.json()
    if body["page"] >= body["totalPages"]:
        return None
    return {"data": {"page": body["page"] + 1}}


def http_operator(args: argparse.Namespace) -> tuple[int, int]:
    """HttpOperator 6.3.0 with a pagination_function, run as a task would run it (execute_sync)."""
    from airflow.providers.http.operators.http import HttpOperator

    token = _fetch_token(args)
    operator = HttpOperator(
        task_id="export_responses",
        http_conn_id="http_bench",
        method="GET",
        endpoint=ENDPOINT,
        data={**window(args.records), "page": 1, "pageSize": args.page_size},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        pagination_function=_next_page,
        # The usual way to get the records out of a paginated HttpOperator: every page's records in one list.
        response_filter=lambda responses: [record for r in responses for record in r.json()["data"]],
        extra_options={"verify": args.ca} if args.ca else {},
        deferrable=False,
    )
    records = operator.execute(context={})
    return len(records), math.ceil(args.records / args.page_size)


def http_hook(args: argparse.Namespace) -> tuple[int, int]:
    """HttpHook.run in a loop, one hook, the way HttpOperator.paginate_sync calls it; records discarded."""
    from airflow.providers.http.hooks.http import HttpHook

    token = _fetch_token(args)
    hook = HttpHook(method="GET", http_conn_id="http_bench")
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    extra = {"verify": args.ca} if args.ca else {}
    data = {**window(args.records), "page": 1, "pageSize": args.page_size}
    count = pages = 0
    while True:
        response = hook.run(ENDPOINT, data=data, headers=headers, extra_options=extra)
        pages += 1
        count += len(response.json()["data"])
        following = _next_page(response)
        if following is None:
            break
        data = {**data, **following["data"]}
    return count, pages


# -- (d) the naive script ------------------------------------------------------------------------------


def naive(args: argparse.Namespace) -> tuple[int, int]:
    import requests

    verify = args.ca or True
    url = f"{args.base_url}/{ENDPOINT}"
    params = window(args.records)
    pages = math.ceil(args.records / args.page_size)
    count = 0
    for page in range(1, pages + 1):
        token = requests.post(f"{args.base_url}/connect/token", data=TOKEN_FORM, verify=verify).json()["access_token"]
        response = requests.get(
            url,
            params={**params, "page": page, "pageSize": args.page_size},
            headers={"Authorization": f"Bearer {token}"},
            verify=verify,
        )
        response.raise_for_status()
        count += len(response.json()["data"])
    return count, pages


# -- item 2: token requests per task run --------------------------------------------------------------


def tokens(args: argparse.Namespace) -> tuple[int, int]:
    """``--calls`` small requests through the provider; the runner counts the tokens the sandbox issued.

    ``--mode same``: one hook for every call; ``new``: a new hook per call (as separate operators or
    helper functions of one task would make); ``threads``: ``--threads`` threads sharing one hook,
    released together so that they all ask for the first token at once; ``threads-own``: the same
    with a hook per thread.
    """
    from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook

    def call(hook: SurveySphereHook, number: int) -> None:
        hook.request("GET", ENDPOINT, params={"page": number % 1000 + 1, "pageSize": 1}).json()

    if args.mode == "same":
        hook = SurveySphereHook()
        for number in range(args.calls):
            call(hook, number)
    elif args.mode == "new":
        for number in range(args.calls):
            call(SurveySphereHook(), number)
    else:
        shared = SurveySphereHook() if args.mode == "threads" else None
        barrier = threading.Barrier(args.threads)
        errors: list[BaseException] = []

        def worker(index: int) -> None:
            hook = shared or SurveySphereHook()
            try:
                barrier.wait()
                for number in range(index, args.calls, args.threads):
                    call(hook, number)
            except BaseException as exc:  # noqa: BLE001 - reported, not raised: the runner prints it
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
    return args.calls, args.calls


# -- the sandbox's own ceiling -------------------------------------------------------------------------


def ceiling(args: argparse.Namespace) -> dict:
    """Requests per second one keep-alive ``http.client`` connection gets from the sandbox.

    ``http.client`` with the body read and not parsed is about the least a Python client can do per
    request, so this is the server's rate (one connection = one server thread).
    """
    connection = _http_client_connection(args)
    form = "&".join(f"{k}={v}" for k, v in TOKEN_FORM.items())
    connection.request("POST", "/connect/token", body=form,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    token = json.loads(connection.getresponse().read())["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    def rate(path: str, seconds: float) -> float:
        count, started = 0, time.perf_counter()
        while True:
            connection.request("GET", path, headers=headers)
            connection.getresponse().read()
            count += 1
            elapsed = time.perf_counter() - started
            if elapsed >= seconds:
                return count / elapsed

    page = f"/{ENDPOINT}?page={{}}&pageSize={{}}"
    results = {
        "trivial": rate("/__sandbox/health", args.seconds),
        "page_1": rate(page.format(1, 1), args.seconds),
        f"page_{args.page_size}": rate(page.format(1, args.page_size), args.seconds),
    }
    connection.close()
    return results


CASES = {
    "provider": provider_paginate,
    "operator": provider_operator,
    "limit": limit,
    "httpclient": http_client,
    "httpoperator": http_operator,
    "httphook": http_hook,
    "naive": naive,
    "limit-bare": limit,
    "tokens": tokens,
    "operator-c8": lambda args: provider_operator(argparse.Namespace(**{**vars(args), "concurrency": 8})),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=[*CASES, "ceiling", "imports"])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--ca", help="CA bundle of the HTTPS sandbox")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--calls", type=int, default=1)
    parser.add_argument("--mode", default="same", choices=["same", "new", "threads", "threads-own"])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=1, help="max_concurrency of the provider's cases")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--output", help="the operator's export file, kept (default: a temporary one, removed)")
    args = parser.parse_args()
    args.base_url = args.base_url.rstrip("/")

    if args.case == "ceiling":
        print("RESULT " + json.dumps({"case": "ceiling", **ceiling(args)}), flush=True)
        return
    # Import what the case needs before the clock starts, so every case pays only its own work. Every
    # case but "limit-bare" runs in a process with Airflow imported, as a task's process is: the limit
    # and the naive script would run in a task too, and Airflow's ~160k live objects make each full
    # garbage collection slower for every case alike.
    if args.case != "limit-bare":
        import airflow_provider_surveysphere.hooks.surveysphere
        import airflow_provider_surveysphere.operators.surveysphere  # noqa: F401
    if args.case in ("httpoperator", "httphook"):
        import airflow.providers.http.hooks.http
        import airflow.providers.http.operators.http
    if args.case != "limit-bare":
        # Airflow's first connection lookup imports the task supervisor module; a task running in a
        # worker has it imported already, so that one-off import is kept out of every case's clock.
        import airflow.sdk.execution_time.supervisor  # noqa: F401
    import requests  # noqa: F401

    # A fresh process holds ~160k objects from importing Airflow that the cyclic garbage collector has
    # not yet examined; the first case to allocate a few more long-lived objects (reading an Airflow
    # connection is enough) triggers one full collection over all of them, ~65 ms, once per process.
    # A task process in a worker has long since paid it, so it is paid here, before the clock.
    gc.collect()
    rss_before = maxrss_kb()
    if args.case == "imports":
        records = pages = 0
        wall = cpu = 0.0
    else:
        wall_started, cpu_started = time.perf_counter(), time.process_time()
        records, pages = CASES[args.case](args)
        wall, cpu = time.perf_counter() - wall_started, time.process_time() - cpu_started
        if args.case != "tokens" and records != args.records:
            # A figure over the wrong amount of work is worse than none (the sandbox's data moved once).
            sys.exit(f"{args.case}: read {records} records, expected {args.records}: is the sandbox started "
                     f"with --start {START:%Y-%m-%d}?")
    result = {
        "case": args.case,
        "wall": wall,
        "cpu": cpu,
        "records": records,
        "pages": pages,
        "rss_before_kb": rss_before,
        "maxrss_kb": maxrss_kb(),
        **({"first_record": FIRST_RECORD["seconds"]} if FIRST_RECORD else {}),
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
