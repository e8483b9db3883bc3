"""Where an export writes: resolving a local path or an object storage URL and the storage connection to use."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from airflow.providers.common.compat.sdk import BaseHook, ObjectStoragePath
from airflow_provider_surveysphere.exceptions import SurveySphereArgumentError
from airflow_provider_surveysphere.output.destination import OutputLocation
from airflow_provider_surveysphere.output.errors import SurveySphereOutputError

LOCAL_PROTOCOLS = frozenset({"", "file", "local"})

__all__ = ["LOCAL_PROTOCOLS", "OutputLocation", "as_storage_path", "resolve_location"]


def _conn_id_of(path: Any) -> str | None:
    # Airflow 3 has ObjectStoragePath.conn_id; Airflow 2.11 keeps it in the storage options only.
    return getattr(path, "conn_id", None) or (getattr(path, "storage_options", None) or {}).get("conn_id")


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()


def _local(text: str) -> Path:
    # "~" and relative paths mean what they mean in a shell: the user's home, the worker's directory.
    return Path(os.path.abspath(os.path.expanduser(text)))


def _check_connection(url: str, conn_id: str) -> None:
    """An undefined storage connection fails now, not after the store's default credentials time out."""
    from airflow.exceptions import AirflowNotFoundException  # type: ignore[attr-defined, unused-ignore]

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise SurveySphereOutputError(
            url, f"the storage connection {conn_id!r} is not defined (output_conn_id or the user part of the URL)"
        ) from None


def resolve_location(
    output_path: str | os.PathLike[str] | Any, conn_id: str | None = None, *, check_connection: bool = True
) -> OutputLocation:
    """Resolve ``output_path`` and the storage connection to use.

    The connection is ``conn_id`` (the operator's ``output_conn_id``), else the URL's user part
    (``s3://conn_id@bucket/key``), else an ``ObjectStoragePath``'s own; two different ones are an error.

    :param output_path: a local path (``~`` and relative paths allowed), a ``file://`` URL, any URL Airflow's
        object storage knows, or an ``ObjectStoragePath``
    :param conn_id: the storage connection, overriding none set on the path
    :param check_connection: fail now when the storage connection is not defined (an export); False only
        names the destination (lineage)
    """
    conn_id = (conn_id or "").strip() or None
    if isinstance(output_path, ObjectStoragePath):
        text = str(output_path)
        path_conn = _conn_id_of(output_path)
        protocol = str(output_path.protocol or "")
        if protocol in LOCAL_PROTOCOLS:
            local = _local(str(output_path.path))
            return OutputLocation(url=str(local), protocol="file", conn_id=None, local_path=local)
    else:
        text = os.fspath(output_path).strip()
        if not text:
            raise SurveySphereArgumentError("output_path", f"{text!r} is empty (did its template render to nothing?)")
        parts = urlsplit(text)
        protocol = parts.scheme.lower()
        if len(protocol) > 1 and any(character in text for character in "\t\r\n"):  # not a Windows drive
            # urlsplit (as WHATWG URLs do) drops them without a word: the object would get another name.
            raise SurveySphereArgumentError(
                "output_path", f"{text!r} is a URL holding a tab or line break, which URLs drop; remove it"
            )
        if protocol in LOCAL_PROTOCOLS or len(protocol) == 1:  # one letter: a Windows drive
            local = _local(parts.netloc + parts.path if protocol == "file" and parts.netloc == "~" else
                           parts.path if protocol == "file" else text)
            return OutputLocation(url=str(local), protocol="file", conn_id=None, local_path=local)
        path_conn = parts.username
    url = _without_password(text)
    if conn_id and path_conn and conn_id != path_conn:
        raise SurveySphereArgumentError(
            "output_conn_id", f"is {conn_id!r} but output_path {url} names the storage connection {path_conn!r}"
        )
    chosen = conn_id or path_conn
    if chosen and check_connection:
        _check_connection(url, chosen)
    try:
        if isinstance(output_path, ObjectStoragePath) and not (conn_id and not path_conn):
            storage_path = output_path
        elif conn_id and not path_conn:
            storage_path = ObjectStoragePath(text, conn_id=conn_id)
        else:
            storage_path = ObjectStoragePath(text)
    except Exception as exc:  # unknown scheme, missing provider or library, malformed URL
        raise SurveySphereOutputError(url, f"{type(exc).__name__}: {exc}") from exc
    return OutputLocation(url=url, protocol=protocol, conn_id=chosen, storage_path=storage_path)


def as_storage_path(path: str | os.PathLike[str] | Any) -> ObjectStoragePath:
    """``path`` as an ``ObjectStoragePath``, resolved as an export destination is (``~``, relative paths).

    Only names the destination: an undefined storage connection is the export's error, not this one's.

    :param path: a local path, a ``file://`` URL, any URL Airflow's object storage knows, or an ``ObjectStoragePath``
    """
    return resolve_location(path, check_connection=False).as_storage_path()
