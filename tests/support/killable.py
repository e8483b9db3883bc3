"""An export in a process of its own that pauses at a chosen point, to be killed there (``kill -9``) or let go.

The point is chosen, not timed: the process writes a marker file when it reaches it and then waits for a line on
its stdin. A test waits for the marker, then either SIGKILLs the process (a worker dying exactly there) or
writes a line (the export goes on and publishes). Points:

- ``pages=N``: before writing page N+1 (0: before the first page);
- ``call=METHOD:N``: on S3, just before s3fs sends the Nth ``METHOD`` request (``upload_part:1``: the upload
  is started but holds no part; ``upload_part:3``: two parts are stored; ``complete_multipart_upload:1``: every
  part is stored, the completing call is next).

Run as ``python -m tests.support.killable URL PAGES POINT MARKER``; prints the export's record count when done.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PART = 5 * 2**20  # S3's smallest part: a few pages cross part boundaries
FILLER = "x" * 900


def page(first: int, count: int = 2_000) -> list[dict[str, Any]]:
    """About 1.8 MB of records with ids first..first+count-1."""
    return [{"id": i, "filler": FILLER} for i in range(first, first + count)]


def _pause(marker: str) -> None:
    Path(marker).write_text(str(os.getpid()))
    if not sys.stdin.readline():  # closed without a line: the test is gone
        os._exit(3)


def _pause_before_call(method: str, count: int, marker: str) -> None:
    import s3fs

    calls = {"n": 0}

    def before(name: str) -> None:
        if name == method:
            calls["n"] += 1
            if calls["n"] == count:
                _pause(marker)

    # The file's requests go through the sync call_s3, which wraps the original coroutine (not the attribute).
    original, original_sync = s3fs.S3FileSystem._call_s3, s3fs.S3FileSystem.call_s3

    async def call_s3(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        before(name)
        return await original(self, name, *args, **kwargs)

    def call_s3_sync(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        before(name)
        return original_sync(self, name, *args, **kwargs)

    s3fs.S3FileSystem._call_s3 = call_s3
    s3fs.S3FileSystem.call_s3 = call_s3_sync


def main(url: str, pages: int, point: str, marker: str) -> None:
    from airflow_provider_surveysphere.output import AtomicJsonLinesWriter

    kind, _, where = point.partition("=")
    if kind == "call":
        method, _, count = where.partition(":")
        _pause_before_call(method, int(count), marker)
    with AtomicJsonLinesWriter(url, part_size=PART) as writer:
        for number in range(pages):
            if kind == "pages" and number == int(where):
                _pause(marker)
            writer.write_records(page(number * 2_000))
        if kind == "pages" and int(where) == pages:
            _pause(marker)
    print(writer.records, flush=True)


class PausedExport:
    """The export process, stopped at its point.

    :param url: the export's target
    :param pages: pages of 2,000 records to write
    :param point: where to pause (see the module)
    :param workdir: where the marker goes
    """

    def __init__(self, url: str, pages: int, point: str, workdir: Path, timeout: float = 120) -> None:
        self.marker = workdir / f"paused-{os.urandom(6).hex()}"
        root = Path(__file__).resolve().parents[2]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.killable", url, str(pages), point, str(self.marker)],
            cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + timeout
        while not self.marker.exists():
            if self.process.poll() is not None:
                raise AssertionError(f"the export ended before its point {point}: {self.process.stderr.read()}")  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"the export did not reach {point} in {timeout} s")
            time.sleep(0.05)

    def kill(self) -> None:
        """``kill -9``: no cleanup of any kind runs."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def release(self) -> str:
        """Let the export go on; its output once it has ended."""
        out, err = self.process.communicate("go\n", timeout=120)
        assert self.process.returncode == 0, err
        return out


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
