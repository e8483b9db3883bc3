"""Aborting the incomplete S3 multipart uploads of a key that a killed attempt left.

An attempt killed mid-upload (``kill -9``, out of memory, an evicted node) never aborts its multipart upload:
its parts stay stored and billed, invisible, until the bucket's ``AbortIncompleteMultipartUpload`` lifecycle
rule removes them. So the next attempt, right after it starts its own upload of the key (before its first
part), lists the uploads of that exact key and aborts the ones older than its own.

"Older" is decided by the server alone, so that clock skew between workers cannot matter: an upload whose
``Initiated`` time is before this upload's, or equal to it and listed before it (S3 lists the uploads of one
key in the order they were initiated, finer than the timestamp shows). ``ListMultipartUploads``' prefix also
matches longer keys; only the exact key counts.

The limits (docs/deployment.md, "Distributed deployments"): an older attempt that is still alive (one the
scheduler gave up on, a zombie) has its upload aborted too, and then fails with a transient error saying so
(:func:`~airflow_provider_surveysphere.output.errors.is_upload_gone`); it publishes nothing. A store that does
not list uploads, or a role without ``s3:ListBucketMultipartUploads`` / ``s3:AbortMultipartUpload``, gets a
warning naming the key, and the export carries on. An attempt that writes less than one part makes a single
``PutObject`` and has no upload of its own to compare with, so it leaves older uploads to the lifecycle rule.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)

LIFECYCLE = "until the bucket's AbortIncompleteMultipartUpload lifecycle rule removes it"


def older_uploads(uploads: Sequence[dict[str, Any]], upload_id: str) -> list[dict[str, Any]]:
    """The uploads (of one key, as listed) initiated before ``upload_id``; none if it is not listed.

    :param uploads: the key's uploads in the order the store listed them, each with ``UploadId`` and ``Initiated``
    :param upload_id: this attempt's own upload
    """
    position = next((index for index, upload in enumerate(uploads) if upload["UploadId"] == upload_id), None)
    if position is None:
        return []
    initiated = uploads[position]["Initiated"]
    return [
        upload
        for index, upload in enumerate(uploads)
        if upload["UploadId"] != upload_id
        and (upload["Initiated"] < initiated or (upload["Initiated"] == initiated and index < position))
    ]


def list_key_uploads(fs: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    """The incomplete multipart uploads of exactly ``key``, in the order the store lists them."""
    uploads: list[dict[str, Any]] = []
    markers: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    while True:
        page = fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=key, **markers)
        listed = {upload.get("UploadId") for upload in uploads}
        uploads.extend(
            upload
            for upload in page.get("Uploads", [])
            if upload.get("Key") == key and upload.get("UploadId") not in listed
        )
        # Listed by key: once the listing has moved past ``key``, the rest are longer keys.
        if not page.get("IsTruncated") or page.get("NextKeyMarker") != key:
            return uploads
        marker = (page["NextKeyMarker"], page["NextUploadIdMarker"])
        if marker in seen:  # a store that ignores UploadIdMarker would answer the same pages for ever
            log.warning(
                "The store listed the uploads of s3://%s/%s from one marker twice; listing stopped", bucket, key
            )
            return uploads
        seen.add(marker)
        markers = {"KeyMarker": marker[0], "UploadIdMarker": marker[1]}


def abort_older_uploads(fs: Any, bucket: str, key: str, upload_id: str) -> list[str]:
    """Abort the uploads of ``bucket/key`` older than ``upload_id``; return the ids aborted.

    A store that refuses the listing or an abort gets a warning naming the key; nothing here fails the export.

    :param fs: the s3fs file system
    :param bucket: the bucket
    :param key: the exact key
    :param upload_id: this attempt's own multipart upload
    """
    where = f"s3://{bucket}/{key}"
    try:
        uploads = list_key_uploads(fs, bucket, key)
    except Exception as exc:  # noqa: BLE001 (no ListMultipartUploads on this store, permission denied, ...)
        log.warning(
            "Could not list the incomplete multipart uploads of %s (%s: %s); an upload that a killed earlier "
            "attempt left, if any, stays %s", where, type(exc).__name__, exc, LIFECYCLE,
        )
        return []
    try:
        if not any(upload["UploadId"] == upload_id for upload in uploads):
            log.warning("The store did not list this attempt's own upload of %s; no older upload is aborted", where)
            return []
        older = older_uploads(uploads, upload_id)
    except Exception as exc:  # noqa: BLE001 (a listing without UploadId or a comparable Initiated)
        log.warning(
            "Could not tell which incomplete multipart uploads of %s are older than this attempt's (%s: %s); an "
            "upload that a killed earlier attempt left, if any, stays %s", where, type(exc).__name__, exc, LIFECYCLE,
        )
        return []
    aborted = []
    for upload in older:
        try:
            fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload["UploadId"])
        except FileNotFoundError:  # NoSuchUpload: completed or aborted meanwhile
            continue
        except Exception as exc:  # noqa: BLE001 (a cleanup that fails must not fail the export)
            log.warning(
                "Could not abort the incomplete multipart upload %s of %s (%s: %s); it stays %s",
                upload["UploadId"], where, type(exc).__name__, exc, LIFECYCLE,
            )
            continue
        aborted.append(upload["UploadId"])
        log.info(
            "Aborted the incomplete multipart upload %s of %s (initiated %s, before this attempt's): an earlier "
            "attempt left it", upload["UploadId"], where, upload["Initiated"],
        )
    return aborted
