"""How the hook reads an answer's body: in one call, decoded, the connection kept alive, a short body an error.

A real HTTP/1.1 server on loopback (``responses`` bypasses the socket and urllib3's reading, which is what
these tests are about): gzip-encoded pages, a page whose body ends before its ``Content-Length``, and a count
of the TCP connections the client opened.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_provider_surveysphere.exceptions import SurveySphereConnectionError
from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
from airflow_provider_surveysphere.pagination import PageNumberPagination
from airflow_provider_surveysphere.token import TokenCache

from tests.unit.conftest import token_answer

PAGES = 3


def page_body(page: int) -> bytes:
    records = [{"id": f"r{page}-{i}", "text": "é" * 50 + "x" * (i % 7)} for i in range(200)]
    return json.dumps({"data": records, "page": page, "totalPages": PAGES}).encode()


class Server:
    """Pages 1-3 of ``/api/items``; ``gzip``: bodies gzip-encoded; ``short_page``: that page's body is cut short."""

    def __init__(self) -> None:
        self.gzip = False
        self.short_page: int | None = None
        self.connections = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                server.connections += 1
                super().setup()

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # the token endpoint
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.answer(json.dumps(token_answer()).encode(), page=None)

            def do_GET(self) -> None:
                page = int(parse_qs(urlsplit(self.path).query).get("page", ["1"])[0])
                self.answer(page_body(page), page=page)

            def answer(self, body: bytes, page: int | None) -> None:
                headers = {"Content-Type": "application/json"}
                if server.gzip and page is not None:
                    body = gzip.compress(body)
                    headers["Content-Encoding"] = "gzip"
                self.send_response(200)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if page is not None and page == server.short_page:
                    self.wfile.write(body[: len(body) // 2])  # then the connection closes
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.close()


@pytest.fixture
def hook(server: Server, set_connection: Callable[..., None], token_cache: TokenCache) -> Iterator[SurveySphereHook]:
    set_connection(host=server.url, extra={"max_retries": 0})
    hook = SurveySphereHook(token_cache=token_cache)
    yield hook
    hook.close()


def export(hook: SurveySphereHook, **kwargs: Any) -> list[Any]:
    pagination = PageNumberPagination(page_size=200, total_pages_key="totalPages")
    return list(hook.paginate("api/items", pagination=pagination, records_key="data", **kwargs))


def expected() -> list[Any]:
    return [record for page in range(1, PAGES + 1) for record in json.loads(page_body(page))["data"]]


@pytest.mark.parametrize("max_concurrency", [1, 3])
def test_gzip_pages_are_decoded(hook, server, max_concurrency):
    server.gzip = True
    assert export(hook, max_concurrency=max_concurrency) == expected()
    response = hook.request("GET", "api/items", params={"page": 2})
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.content == page_body(2) and response.json()["page"] == 2


def test_the_connection_is_kept_alive_across_pages(hook, server):
    assert export(hook) == expected()
    for page in range(1, PAGES + 1):
        hook.request("GET", "api/items", params={"page": page})
    assert server.connections == 2  # the token request's, and one for every page of both loops


def test_a_stream_is_left_for_the_caller_to_read(hook, server):
    response = hook.request("GET", "api/items", params={"page": 1}, stream=True)
    assert not response._content_consumed
    assert b"".join(response.iter_content(1000)) == page_body(1)


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("max_concurrency", [1, 3])
def test_a_body_cut_short_is_an_error_naming_the_page(hook, server, gzipped, max_concurrency):
    server.gzip = gzipped
    server.short_page = 2
    with pytest.raises(SurveySphereConnectionError) as caught:
        export(hook, max_concurrency=max_concurrency)
    message = str(caught.value)
    full = len(gzip.compress(page_body(2)) if gzipped else page_body(2))
    half = full // 2
    assert message == (
        f"SurveySphere API GET /api/items failed: the answer from {server.url[7:]} (page 2 of api/items) was cut short: "
        f"its body ended after {half} of {full} bytes (IncompleteRead)"
    )
