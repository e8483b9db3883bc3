"""Writing records to files and object storage as JSON Lines, atomically.

A reader of the final path sees the previous file or the complete new one, never a partial one:
records go to a hidden temporary sibling, which is moved into place only once the export succeeded,
and removed when it failed.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from typing import TYPE_CHECKING, Any, BinaryIO

from airflow.providers.common.compat.sdk import ObjectStoragePath
from airflow_provider_surveysphere.codec import encode_records

if TYPE_CHECKING:
    from types import TracebackType

log = logging.getLogger(__name__)

LOCAL_PROTOCOLS = frozenset({"", "file", "local"})


def as_storage_path(path: str | os.PathLike[str] | ObjectStoragePath) -> ObjectStoragePath:
    """Accept a local path, a ``file://`` URL or any scheme Airflow's object storage knows."""
    if isinstance(path, ObjectStoragePath):
        return path
    text = os.fspath(path).strip()
    if not text:
        raise ValueError(f"{text!r} is empty (did its template render to nothing?)")
    return ObjectStoragePath(text)


class AtomicJsonLinesWriter:
    """Streams records to ``path`` as JSON Lines and publishes the file only when complete.

    Use it as a context manager: leaving the block normally moves the temporary file into place
    (replacing an earlier one, so a rerun overwrites its own output); leaving it with an exception
    deletes the temporary file and leaves the final path as it was.

    :param path: the final location (local path, ``file://`` or another object storage URL)
    """

    def __init__(self, path: str | os.PathLike[str] | ObjectStoragePath) -> None:
        self.path = as_storage_path(path)
        self.temporary = self.path.parent / f".{self.path.name}.{uuid.uuid4().hex}.partial"
        self.records = 0
        self._file: BinaryIO | None = None

    def __enter__(self) -> AtomicJsonLinesWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.temporary.open("wb")  # type: ignore[no-untyped-call,unused-ignore]  # untyped on 3.3
        return self

    def write_records(self, records: list[Any]) -> None:
        """Append one page of records."""
        assert self._file is not None, "use the writer as a context manager"
        self._file.write(encode_records(records))
        self.records += len(records)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            if self._file is not None:
                self._file.close()
        except Exception:
            self._discard()
            raise
        if exc_type is not None:
            self._discard()
            return
        self._publish()

    def _publish(self) -> None:
        try:
            if self.path.protocol in LOCAL_PROTOCOLS:
                os.replace(self.temporary.path, self.path.path)  # atomic on one file system
            else:
                # Object stores publish an object only once it is completely written or copied.
                self.temporary.rename(self.path)
        except Exception:
            self._discard()
            raise

    def _discard(self) -> None:
        try:
            if self.temporary.exists():
                self.temporary.unlink()
        except Exception:  # cleanup must not hide the error that caused it
            log.warning("Could not remove the partial file %s", self.temporary, exc_info=True)


class ExportProgress:
    """Logs pages, records and records per second every ``every_seconds`` or ``every_pages``.

    :param logger: where to log
    :param every_seconds: log at least this often while pages arrive
    :param every_pages: and at least every this many pages
    :param clock: monotonic clock, replaceable in tests
    """

    def __init__(
        self,
        logger: logging.Logger | Any,
        *,
        every_seconds: float = 10.0,
        every_pages: int = 50,
        clock: Any = time.monotonic,
    ) -> None:
        self.logger = logger
        self.every_seconds = every_seconds
        self.every_pages = every_pages
        self.clock = clock
        self.started = clock()
        self._last_time = self.started
        self._last_pages = 0

    def rate(self, records: int) -> float:
        """Records per second since the start."""
        elapsed = self.clock() - self.started
        return records / elapsed if elapsed > 0 else 0.0

    def update(self, pages: int, records: int) -> None:
        """Log when a report is due."""
        now = self.clock()
        if now - self._last_time >= self.every_seconds or pages - self._last_pages >= self.every_pages:
            self.logger.info("Exported %d pages, %d records (%.0f records/s)", pages, records, self.rate(records))
            self._last_time = now
            self._last_pages = pages
