"""Byte sinks that publish a file all at once, each the native way of its store.

- Local files (``file``): a hidden temporary sibling, fsynced, then renamed over the target: POSIX
  ``rename`` is atomic on one file system, and the fsync makes a crash after it leave the whole file.
- Object stores that publish an object only when its upload completes, and can abort an upload
  (``s3``/``s3a``/``s3n`` with s3fs, ``gs``/``gcs`` with gcsfs): the final key is written directly in parts
  of ``part_size`` bytes; a failure aborts the upload, so nothing becomes visible and no part is kept.
  A temporary key and a copy would buy nothing there but a server-side copy of the whole file.
- Any other protocol: a temporary sibling renamed with the file system's ``mv``; atomic only where
  that file system's rename is (see docs/object-storage.md).
"""

from __future__ import annotations

import errno
import logging
import os
import uuid
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_surveysphere.output.location import OutputLocation

log = logging.getLogger(__name__)

DIRECT_UPLOAD_PROTOCOLS = frozenset({"s3", "s3a", "s3n", "gs", "gcs"})
S3_MIN_PART_SIZE = 5 * 2**20
DEFAULT_PART_SIZE = 8 * 2**20


class Sink(Protocol):
    """Where the encoded bytes go: ``commit`` publishes them, ``abort`` leaves the target as it was."""

    def write(self, data: bytes) -> Any: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


def temporary_name(name: str) -> str:
    return f".{name}.{uuid.uuid4().hex}.partial"


class LocalSink:
    """A temporary sibling of ``path``, fsynced and renamed into place on commit.

    Only local directories are created. Opening the temporary file is the writability check.

    :param path: the absolute final path
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.temporary = path.with_name(temporary_name(path.name))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:  # mkdir's word for "a part of the path is a file"
            raise NotADirectoryError(errno.ENOTDIR, "a part of the path is a file, not a directory") from None
        self._file = open(self.temporary, "xb")  # closed by commit or abort

    def write(self, data: bytes) -> int:
        return int(self._file.write(data))

    def commit(self) -> None:
        try:
            self._file.flush()
            os.fsync(self._file.fileno())  # the data is on disk before the name points to it
            self._file.close()
            os.replace(self.temporary, self.path)
        except BaseException:
            self.abort()
            raise
        self._sync_directory()

    def _sync_directory(self) -> None:
        try:
            fd = os.open(self.path.parent, os.O_RDONLY)
        except OSError:  # not every platform opens directories
            return
        try:
            os.fsync(fd)
        except OSError:
            log.debug("Could not fsync directory %s", self.path.parent, exc_info=True)
        finally:
            os.close(fd)

    def abort(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass
        try:
            self.temporary.unlink(missing_ok=True)
        except OSError:  # cleanup must not hide the error that caused it
            log.warning("Could not remove the partial file %s", self.temporary, exc_info=True)


class DirectUploadSink:
    """Writes the final key of an object store directly, with a multipart (or resumable) upload.

    Before anything is written the bucket is checked (an existing bucket is required: none is ever
    created). ``commit`` completes the upload; ``abort`` aborts it, so no part stays billed or visible.

    :param location: the destination
    :param part_size: bytes per uploaded part: the most this sink holds in memory, plus one page
    """

    def __init__(self, location: OutputLocation, part_size: int) -> None:
        self.location = location
        fs = location.storage_path.fs
        self.check_bucket(fs)
        self._file = fs.open(location.fs_path, "wb", block_size=part_size)

    def check_bucket(self, fs: Any) -> None:
        """A cheap probe: the bucket's metadata (S3 ``HeadBucket``); no object is written."""
        fs.info(self.location.bucket)

    def write(self, data: bytes) -> int:
        return int(self._file.write(data))

    def commit(self) -> None:
        try:
            self._file.close()
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        discard = getattr(self._file, "discard", None)
        try:
            if discard is not None:
                discard()
        except Exception:
            log.warning(
                "Could not abort the upload to %s; an incomplete multipart upload may remain until the bucket's "
                "AbortIncompleteMultipartUpload lifecycle rule removes it",
                self.location.describe(),
                exc_info=True,
            )
        finally:
            # A closed file is never completed later (fsspec files complete their upload on close).
            self._file.closed = True


class RenameSink:
    """A temporary sibling on the target's file system, moved into place with its ``mv`` on commit.

    :param location: the destination
    """

    def __init__(self, location: OutputLocation) -> None:
        self.location = location
        self.fs = location.storage_path.fs
        parent, _, name = location.fs_path.rpartition("/")
        self.final = location.fs_path
        self.temporary = f"{parent}/{temporary_name(name)}" if parent else temporary_name(name)
        self._file = self.fs.open(self.temporary, "wb")

    def write(self, data: bytes) -> int:
        return int(self._file.write(data))

    def commit(self) -> None:
        try:
            self._file.close()
            self.fs.mv(self.temporary, self.final)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        try:
            discard = getattr(self._file, "discard", None)
            if discard is not None:
                discard()
                self._file.closed = True
            else:
                self._file.close()
            if self.fs.exists(self.temporary):
                self.fs.rm(self.temporary)
        except Exception:
            log.warning("Could not remove the partial file %s", self.temporary, exc_info=True)


def open_sink(location: OutputLocation, part_size: int = DEFAULT_PART_SIZE) -> Sink:
    """The sink for ``location``'s protocol; opening it checks that the destination can be written."""
    if location.local_path is not None:
        return LocalSink(location.local_path)
    if location.protocol in DIRECT_UPLOAD_PROTOCOLS:
        return DirectUploadSink(location, part_size)
    return RenameSink(location)
