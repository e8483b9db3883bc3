"""Local temporary files of an export, and removing the ones a killed export left.

A temporary file is a hidden sibling of its target, ``.surveysphere-<32 hex>.partial``. Its writer holds an
exclusive ``flock`` on it from the moment it creates it until the file is published or removed; the kernel
drops the lock when the writer dies, however it dies (``kill -9`` too). So a temporary file that can be
locked has no live writer: :func:`remove_stale_temporaries` removes exactly those, and never the file of a
live export, of another target or the same one, in another process or in the same one (``flock`` locks
belong to the open file, so two opens in one process exclude each other too).

The limits (docs/deployment.md, "Distributed deployments"): the rule holds where every host that writes into
the directory sees the others' locks. On a network file system that keeps ``flock`` local to each host (NFS
mounted with ``local_lock=flock`` or ``local_lock=all``, some FUSE and SMB mounts), a host would remove the
temporary file of a live export on another host; there, give each host a directory of its own (or use
object storage). Where ``flock`` is not supported at all, nothing can be locked, so nothing is removed.
On NFS, Linux emulates ``flock`` with POSIX locks, which do not exclude each other within one process.
Without :mod:`fcntl` (Windows) there is no lock and no cleanup.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import uuid
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

TEMPORARY_PREFIX = ".surveysphere-"
TEMPORARY_SUFFIX = ".partial"
TEMPORARY_NAME = re.compile(re.escape(TEMPORARY_PREFIX) + r"[0-9a-f]{32}" + re.escape(TEMPORARY_SUFFIX))


def temporary_name() -> str:
    """A fresh hidden name for a file being written, independent of the target's (whose length it would add to)."""
    return f"{TEMPORARY_PREFIX}{uuid.uuid4().hex}{TEMPORARY_SUFFIX}"


def create_temporary(directory: Path) -> tuple[Path, IO[bytes]]:
    """A new temporary file in ``directory``, open for writing and locked for as long as it stays open.

    A cleaner may lock and remove a new file in the moment between its creation and its lock; the file is
    then no longer under its name once locked, and another name is taken.
    """
    while True:
        path = directory / temporary_name()
        file = open(path, "xb")
        if _lock(file, path):
            return path, file
        file.close()


def _lock(file: IO[bytes], path: Path) -> bool:
    """Lock ``file`` (blocking: only a cleaner ever holds the lock of another's file, for a moment); False
    when a cleaner removed ``path`` before the lock was taken."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX)
    except OSError:  # no locks on this file system: no cleaner can lock the file either
        log.debug("Cannot lock %s; stale temporary files are not removed here", path, exc_info=True)
        return True
    return _same_file(path, file.fileno())


def _same_file(path: Path, fd: int) -> bool:
    try:
        named = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Remove the temporary files in ``directory`` that no live writer holds; return what was removed.

    A file that cannot be opened, locked or removed is left as it is (a failure here must not fail an export).
    """
    if fcntl is None:
        return []
    try:
        names = [entry.name for entry in os.scandir(directory) if TEMPORARY_NAME.fullmatch(entry.name)]
    except OSError:
        return []
    removed = [path for path in (directory / name for name in sorted(names)) if _remove_if_unlocked(path)]
    for path in removed:
        log.info("Removed %s, the temporary file of an export that died before publishing it", path)
    return removed


def _open_unfollowed(path: Path) -> int:
    # O_NONBLOCK: opening a FIFO would otherwise wait for a peer, for ever. For writing where allowed: on NFS,
    # flock is emulated with a POSIX lock, whose exclusive form needs a file open for writing (flock(2)).
    flags = os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.open(path, os.O_RDWR | flags)
    except PermissionError:  # another user's file: still lockable where flock is native
        return os.open(path, os.O_RDONLY | flags)


def _remove_if_unlocked(path: Path) -> bool:
    try:
        fd = _open_unfollowed(path)
    except OSError:  # gone meanwhile (published or removed), a symlink, a directory, or not ours to read
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a directory, a FIFO, a device: never one of ours
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: a live export writes it (or this file system has no locks)
            return False
        if not _same_file(path, fd):  # published (renamed) meanwhile
            return False
        os.unlink(path)
        return True
    except OSError as exc:
        log.warning("Could not remove the stale temporary file %s: %s", path, _reason(exc))
        return False
    finally:
        os.close(fd)


def _reason(exc: Any) -> str:
    return f"{type(exc).__name__}: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)
