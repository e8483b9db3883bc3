"""A throwaway PostgreSQL cluster for tests: Debian's ``postgresql`` binaries, ``initdb`` in a temporary directory,
started on a free loopback port (its socket in that directory too), stopped and removed when the test ends, also
after a failure. Shared by every suite that needs a real PostgreSQL (use the ``postgres`` fixture).

When the binaries are missing they are installed with apt-get if running as root; otherwise the test fails naming
the package. ``initdb`` refuses to run as root, so as root the cluster runs as the ``postgres`` user Debian creates.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

POSTGRES_ROOT = Path("/usr/lib/postgresql")
USER = "airflow"
DATABASE = "postgres"


@dataclass(frozen=True)
class PostgresCluster:
    """A running cluster: trust authentication on 127.0.0.1 for :data:`USER`.

    :param port: the loopback port it listens on
    :param directory: its data and socket directory (removed when it stops)
    """

    port: int
    directory: Path
    host: str = "127.0.0.1"

    @property
    def uri(self) -> str:
        """An Airflow connection URI of the cluster's ``postgres`` database."""
        return f"postgres://{USER}@{self.host}:{self.port}/{DATABASE}"

    def connect(self) -> Any:
        import psycopg2

        return psycopg2.connect(host=self.host, port=self.port, user=USER, dbname=DATABASE)


def binaries() -> Path:
    """The newest installed ``/usr/lib/postgresql/<version>/bin``, installing Debian's package when root."""
    found = sorted(POSTGRES_ROOT.glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if not found and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], check=True, env=env, stdout=subprocess.DEVNULL)
        found = sorted(POSTGRES_ROOT.glob("*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL is not installed: run 'sudo apt-get install postgresql' (Debian's server binaries)")
    return found[-1].parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    """Start a new cluster; stop it and remove its directory on the way out, whatever happened."""
    bin_dir = binaries()
    directory = Path(tempfile.mkdtemp(prefix="surveysphere-pg-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, log = directory / "data", directory / "server.log"

    def run(*args: str) -> None:
        result = subprocess.run([*as_owner, *args], capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {result.stdout[-2000:]}{result.stderr[-2000:]}{tail}")

    port = free_port()
    started = False
    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-locale")
        options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start")
        started = True
        yield PostgresCluster(port=port, directory=directory)
    finally:
        if started:
            subprocess.run(
                [*as_owner, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True, timeout=120, check=False,
            )
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster for the whole session."""
    with postgres_cluster() as cluster:
        yield cluster
