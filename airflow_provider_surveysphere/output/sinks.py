"""Byte sinks that publish a file all at once, each the native way of its store.

- Local files (``file``): a hidden temporary sibling, fsynced, then renamed over the target: POSIX
  ``rename`` is atomic on one file system, and the fsync makes a crash after it leave the whole file.
  Create-only (``overwrite=False``): hard-linked to the target name instead, which fails if the name exists;
  a file system without hard links (FUSE mounts of buckets, SMB, FAT) fails permanently, saying so.
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

What a killed attempt leaves (it cannot clean up after itself) the next one removes before it writes:
local temporary siblings no live writer holds (:mod:`.temporaries`), and on S3 the key's incomplete
multipart uploads older than its own (:mod:`.stale_uploads`). Other stores: nothing (docs/deployment.md).
"""

from __future__ import annotations

import errno
import logging
import os
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_surveysphere.output.errors import UploadGoneError, is_upload_gone
from airflow_provider_surveysphere.output.stale_uploads import abort_older_uploads
from airflow_provider_surveysphere.output.temporaries import create_temporary, remove_stale_temporaries, temporary_name

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_surveysphere.output.destination import OutputLocation

log = logging.getLogger(__name__)

DIRECT_UPLOAD_PROTOCOLS = frozenset({"s3", "s3a", "s3n", "gs", "gcs"})
S3_PROTOCOLS = frozenset({"s3", "s3a", "s3n"})
S3_MIN_PART_SIZE = 5 * 2**20
DEFAULT_PART_SIZE = 8 * 2**20


class Sink(Protocol):
    """Where the encoded bytes go: ``commit`` publishes them, ``abort`` leaves the target as it was."""

    def write(self, data: bytes) -> Any: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


# What link() answers on a file system without hard links (FUSE mounts of buckets, SMB, FAT).
NO_HARD_LINK_ERRNOS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS})

class LocalSink:
    """A temporary sibling of ``path``, fsynced and renamed (or, create-only, hard-linked) into place on commit.

    Only local directories are created. Opening the temporary file is the writability check. Before it, the
    temporary siblings that no live writer holds (left by killed exports) are removed; this sink holds the lock
    of its own until it is published or removed (:mod:`.temporaries`).

    :param path: the absolute final path
    :param overwrite: replace a file at ``path``; False publishes only if no file has that name
    """

    def __init__(self, path: Path, *, overwrite: bool = True) -> None:
        self.path = path
        self.overwrite = overwrite
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:  # mkdir's word for "a part of the path is a file"
            raise NotADirectoryError(errno.ENOTDIR, "a part of the path is a file, not a directory") from None
        self.remove_stale_temporaries()
        self.temporary, self._file = create_temporary(path.parent)  # closed by commit or abort

    def remove_stale_temporaries(self) -> None:
        """Remove what killed exports left in the target's directory (override to keep them)."""
        remove_stale_temporaries(self.path.parent)

    def write(self, data: bytes) -> int:
        return int(self._file.write(data))

    def commit(self) -> None:
        try:
            self._file.flush()
            os.fsync(self._file.fileno())  # the data is on disk before the name points to it
            self._place()  # still open, so still locked: no cleaner removes the name before it is placed
            self._file.close()
        except BaseException:
            self.abort()
            raise
        self._sync_directory()

    def _place(self) -> None:
        if self.overwrite:
            os.replace(self.temporary, self.path)
            return
        # rename() replaces silently; link() fails with EEXIST, atomically, when the name is taken.
        try:
            os.link(self.temporary, self.path)
        except OSError as exc:
            if exc.errno not in NO_HARD_LINK_ERRNOS:
                raise
            raise PermissionError(  # permanent: the same file system refuses the retry too
                exc.errno,
                "the file system does not support hard links (or refuses them), which a create-only publish "
                "(an incremental export's parts) needs; use one that has them, or object storage (s3://, gs://)",
                str(self.path),
            ) from exc
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
            self.temporary.unlink(missing_ok=True)
        except OSError:  # cleanup must not hide the error that caused it
            log.warning("Could not remove the partial file %s", self.temporary, exc_info=True)
        try:
            self._file.close()
        except OSError:
            pass


class DirectUploadSink:
    """Writes the final key of an object store directly, with a multipart (or resumable) upload.

    Before anything is written the bucket is checked (an existing bucket is required: none is ever
    created). ``commit`` completes the upload; ``abort`` aborts it, so no part stays billed or visible.
    On S3, once this sink has started its multipart upload (before its first part), it aborts the key's
    incomplete uploads older than its own, which killed attempts left (:mod:`.stale_uploads`).

    :param location: the destination
    :param part_size: bytes per uploaded part: the most this sink holds in memory, plus one page
    :param overwrite: replace an object at the key; False completes the upload only if no object has it
    """

    def __init__(self, location: OutputLocation, part_size: int, *, overwrite: bool = True) -> None:
        self.location = location
        self.overwrite = overwrite
        self.written = 0
        self.fs = location.storage_path.fs
        self.check_bucket(self.fs)
        self._file = self.fs.open(location.fs_path, "wb" if overwrite else "xb", block_size=part_size)
        if location.protocol in S3_PROTOCOLS:
            self._on_upload_started(self.abort_stale_uploads)

    def _on_upload_started(self, callback: Any) -> None:
        # s3fs starts the multipart upload in S3File._initiate_upload (when the first part is due) and keeps
        # it in .mpu; s3fs has no hook there, so the instance's method is wrapped.
        initiate = getattr(self._file, "_initiate_upload", None)
        if initiate is None:
            log.warning("This s3fs starts uploads elsewhere; stale uploads of %s are not aborted", self.location.url)
            return

        def initiate_then_call() -> None:
            initiate()
            upload = getattr(self._file, "mpu", None)
            if upload:
                callback(upload["UploadId"])

        self._file._initiate_upload = initiate_then_call

    def abort_stale_uploads(self, upload_id: str) -> None:
        """Abort the key's incomplete multipart uploads older than ``upload_id`` (this sink's own)."""
        abort_older_uploads(self.fs, self._file.bucket, self._file.key, upload_id)

    def check_bucket(self, fs: Any) -> None:
        """A cheap probe: the bucket's metadata (S3 ``HeadBucket``); no object is written."""
        fs.info(self.location.bucket)

    def write(self, data: bytes) -> int:
        self.written += len(data)
        try:
            return int(self._file.write(data))
        except Exception as exc:
            self._check_upload(exc)
            raise

    def _check_upload(self, exc: Exception) -> None:
        """Raise :class:`UploadGoneError` when a failure comes from this sink's upload having been aborted.

        Asked of the store (ListParts answers ``NoSuchUpload``), since stores differ in what a part or a
        completion sent to an aborted upload answers (S3: ``NoSuchUpload``; moto: a 500).
        """
        upload = getattr(self._file, "mpu", None)
        if is_upload_gone(exc) or not upload or self.location.protocol not in S3_PROTOCOLS:
            return
        try:
            self.fs.call_s3(
                "list_parts", Bucket=self._file.bucket, Key=self._file.key, UploadId=upload["UploadId"], MaxParts=1
            )
        except Exception as probe:
            # NoSuchUpload only: a FileNotFoundError may also be NoSuchBucket (deleted under the export).
            if is_upload_gone(probe):
                raise UploadGoneError(str(exc)) from exc
            log.debug("Could not ask the store whether the upload still exists", exc_info=True)

    def commit(self) -> None:
        try:
            if self.overwrite or self.written:
                try:
                    self._file.close()
                except Exception as exc:
                    self._check_upload(exc)
                    raise
                return
            # An empty file: fsspec publishes it with a plain touch, which replaces an object of that name
            # even in mode "xb"; a one-shot exclusive put (S3 If-None-Match: *) instead.
            self.abort()
            self.fs.pipe_file(self.location.fs_path, b"", mode="create")
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        discard = getattr(self._file, "discard", None)
        try:
            if discard is not None:
                discard()
        except Exception as exc:
            if is_upload_gone(exc):  # a later attempt aborted it already (see stale_uploads)
                return
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
