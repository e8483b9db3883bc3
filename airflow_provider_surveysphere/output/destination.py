"""A resolved export destination: the value both :mod:`.location` (which builds it) and :mod:`.errors`
(which names it) use, kept below both so that imports run one way: destination <- errors <- location."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow.providers.common.compat.sdk import ObjectStoragePath


@dataclass(frozen=True)
class OutputLocation:
    """A resolved export destination.

    :param url: the destination as shown in logs and errors (no password)
    :param protocol: the fsspec protocol, ``""`` or ``file`` for local files
    :param conn_id: the Airflow connection of the store, None for the store's default credentials
    :param local_path: the absolute local path (local files only)
    :param storage_path: the object storage path (other protocols only)
    """

    url: str
    protocol: str
    conn_id: str | None
    local_path: Path | None = None
    storage_path: Any = None

    @property
    def is_local(self) -> bool:
        return self.local_path is not None

    @property
    def name(self) -> str:
        return self.local_path.name if self.local_path is not None else str(self.storage_path.name)

    @property
    def fs_path(self) -> str:
        """The path as the file system knows it (``bucket/key`` on object stores)."""
        return str(self.local_path) if self.local_path is not None else str(self.storage_path.path)

    @property
    def bucket(self) -> str:
        """The first component of the path: the bucket or container on object stores."""
        return self.fs_path.lstrip("/").partition("/")[0]

    @property
    def key(self) -> str:
        return self.fs_path.lstrip("/").partition("/")[2]

    def as_storage_path(self) -> ObjectStoragePath:
        """The destination as an ``ObjectStoragePath`` (local files too)."""
        if self.local_path is not None:
            return ObjectStoragePath(str(self.local_path))
        return self.storage_path  # type: ignore[no-any-return, unused-ignore]

    def describe(self) -> str:
        if self.is_local:
            return self.url
        connection = repr(self.conn_id) if self.conn_id else "none (the store's default credentials)"
        return f"{self.url} (storage connection {connection}, bucket {self.bucket!r}, key {self.key!r})"
