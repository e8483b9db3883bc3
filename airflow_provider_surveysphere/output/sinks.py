"""Byte sinks that publish a file all at once, each the native way of its store.

- Local files (``file``): a hidden temporary sibling, fsynced, then renamed over the target: POSIX
  ``rename`` is atomic on one file system, and the fsync makes a crash after it leave the whole file.
  Create-only (``overwrite=False``): hard-linked to the target name instead, which fails if the name exists.
- Object stores that publish an object only when its upload completes, and can abort an upload
  (``s3``/``s3a``/``s3n`` with s3fs, ``gs``/``gcs`` with gcsfs): the final key is written directly in parts
  of ``part_size`` bytes; a failure aborts the upload, so nothing becomes visible and no part is kept.
  A temporary key and a copy would buy nothing there but a server-side copy of the whole file.
  Create-only: the store's exclusive mode (``"xb"``; on S3 ``If-None-Match: *`` on the PutObject or
  CompleteMultipartUpload), so the store itself refuses a name that exists.
- Any other protocol: a temporary sibling renamed with the file system's ``mv``; atomic only where
  that file system's rename is (see docs/object-storage.md). Create-only: the target is checked just
  before the move, which narrows the race with another writer but cannot close it.

The temporary name is ``.surveysphere-<32 hex>.partial`` whatever the target is called (54 bytes), so any
name the file system accepts as a target works (a name derived from the target's would be longer than it).
A create-only publish that finds the name taken raises ``FileExistsError`` and leaves the target untouched.
"""

from __future__ import annotations

import errno
import logging
import os
import uuid
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_surveysphere.output.destination import OutputLocation

log = logging.getLogger(__name__)

DIRECT_UPLOAD_PROTOCOLS = frozenset({"s3", "s3a", "s3n", "gs", "gcs"})
S3_MIN_PART_SIZE = 5 * 2**20
DEFAULT_PART_SIZE = 8 * 2**20


class Sink(Protocol):
    """Where the encoded bytes go: ``commit`` publishes them, ``abort`` leaves the target as it was."""

    def write(self, data: bytes) -> Any: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


TEMPORARY_PREFIX = ".surveysphere-"
TEMPORARY_SUFFIX = ".partial"


def temporary_name() -> str:
    """A fresh hidden name for a file being written, independent of the target's (whose length it would add to)."""
    return f"{TEMPORARY_PREFIX}{uuid.uuid4().hex}{TEMPORARY_SUFFIX}"


class LocalSink:
    """A temporary sibling of ``path``, fsynced and renamed (or, create-only, hard-linked) into place on commit.

    Only local directories are created. Opening the temporary file is the writability check.

    :param path: the absolute final path
    :param overwrite: replace a file at ``path``; False publishes only if no file has that name
    """

    def __init__(self, path: Path, *, overwrite: bool = True) -> None:
        self.path = path
        self.overwrite = overwrite
        self.temporary = path.with_name(temporary_name())
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
            self._place()
        except BaseException:
            self.abort()
            raise
        self._sync_directory()

    def _place(self) -> None:
        if self.overwrite:
            os.replace(self.temporary, self.path)
            return
        # rename() replaces silently; link() fails with EEXIST, atomically, when the name is taken.
        os.link(self.temporary, self.path)
        try:
            self.temporary.unlink()
        except OSError:  # published already: a stray hidden name must not fail the export
            log.warning("Could not remove the temporary name %s", self.temporary, exc_info=True)

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
    :param overwrite: replace an object at the key; False completes the upload only if no object has it
    """

    def __init__(self, location: OutputLocation, part_size: int, *, overwrite: bool = True) -> None:
        self.location = location
        fs = location.storage_path.fs
        self.check_bucket(fs)
        self._file = fs.open(location.fs_path, "wb" if overwrite else "xb", block_size=part_size)

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
    :param overwrite: replace a file at the target; False refuses a target that exists just before the move
    """

    def __init__(self, location: OutputLocation, *, overwrite: bool = True) -> None:
        self.location = location
        self.overwrite = overwrite
        self.fs = location.storage_path.fs
        parent = location.fs_path.rpartition("/")[0]
        self.final = location.fs_path
        self.temporary = f"{parent}/{temporary_name()}" if parent else temporary_name()
        self._file = self.fs.open(self.temporary, "wb")

    def write(self, data: bytes) -> int:
        return int(self._file.write(data))

    def commit(self) -> None:
        try:
            self._file.close()
            if not self.overwrite and self.fs.exists(self.final):
                raise FileExistsError(errno.EEXIST, "the target exists", self.final)
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


def open_sink(location: OutputLocation, part_size: int = DEFAULT_PART_SIZE, *, overwrite: bool = True) -> Sink:
    """The sink for ``location``'s protocol; opening it checks that the destination can be written.

    :param location: the destination
    :param part_size: bytes per part uploaded to an object store
    :param overwrite: replace what is at the destination; False publishes only where nothing is
    """
    if location.local_path is not None:
        return LocalSink(location.local_path, overwrite=overwrite)
    if location.protocol in DIRECT_UPLOAD_PROTOCOLS:
        return DirectUploadSink(location, part_size, overwrite=overwrite)
    return RenameSink(location, overwrite=overwrite)
