"""The sandbox's listening HTTP(S) server, below both the request handler (which reads its state) and
:class:`~airflow_provider_surveysphere.sandbox.server.SandboxServer` (which runs it with that handler).
"""

from __future__ import annotations

import socket
import socketserver
import ssl
import sys
import threading
from http.server import ThreadingHTTPServer
from socketserver import BaseRequestHandler
from typing import Any

from airflow_provider_surveysphere.sandbox.state import _State


class _HTTPServer(ThreadingHTTPServer):
    """The listening server: TLS per connection, open connections tracked, the state its handlers share.

    :param address: host and port to listen on
    :param state: the sandbox state every request handler reads (``server.state``)
    :param handler: the request handler class
    :param ssl_context: wraps each accepted connection in TLS, or None for plain HTTP
    :param verbose: log every request
    """

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: _State, handler: type[BaseRequestHandler], *,
                 ssl_context: ssl.SSLContext | None, verbose: bool) -> None:
        self.state = state
        self.ssl_context = ssl_context
        self.verbose = verbose
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would resolve the host name (getfqdn); skip that lookup.
        socketserver.TCPServer.server_bind(self)
        host, self.server_port = self.server_address[:2]
        self.server_name = str(host)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self.sockets_lock:
            self.open_sockets.add(sock)
        self.state.count("connections")
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        """Wake handler threads blocked on idle keep-alive connections so they end."""
        with self.sockets_lock:
            open_sockets = list(self.open_sockets)
        for sock in open_sockets:
            try:
                # The plain-socket method: SSLSocket.shutdown would drop its TLS object mid-read.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (OSError, ssl.SSLError)):  # client went away, failed handshake...
            return
        super().handle_error(request, client_address)
