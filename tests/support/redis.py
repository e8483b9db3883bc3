"""A throwaway Redis server for tests: Debian's ``redis-server`` on a free loopback port, persistence off.

Started in a temporary directory (its working directory, so nothing lands elsewhere), stopped by its pid and the
directory removed when the context ends, also after a failure. When the binary is missing it is installed with
apt-get if running as root; otherwise the test fails naming the package.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.postgres import free_port


@dataclass(frozen=True)
class RedisServer:
    """A running server.

    :param port: the loopback port it listens on
    :param pid: its process id
    :param directory: its working directory (removed when it stops)
    """

    port: int
    pid: int
    directory: Path
    host: str = "127.0.0.1"

    def url(self, database: int = 0) -> str:
        """A ``redis://`` URL of one of its databases."""
        return f"redis://{self.host}:{self.port}/{database}"


def binary() -> str:
    """The path of ``redis-server``, installing Debian's package when root."""
    found = shutil.which("redis-server")
    if not found and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "redis-server"], check=True, env=env, stdout=subprocess.DEVNULL)
        found = shutil.which("redis-server")
    if not found:
        pytest.fail("Redis is not installed: run 'sudo apt-get install redis-server' (Debian's package)")
    return found


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def redis_server(timeout: float = 30) -> Iterator[RedisServer]:
    """Start a new server; stop it (by pid) and remove its directory on the way out, whatever happened."""
    executable = binary()
    directory = Path(tempfile.mkdtemp(prefix="surveysphere-redis-"))
    port = free_port()
    log = directory / "redis.log"
    command = [
        executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(directory), "--logfile", str(log), "--daemonize", "no", "--protected-mode", "yes",
    ]
    process = subprocess.Popen(command, cwd=directory, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"redis-server did not answer on port {port} (exit {process.poll()}): {tail}")
            time.sleep(0.1)
        yield RedisServer(port=port, pid=process.pid, directory=directory)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)
