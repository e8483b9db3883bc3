"""Exports to local files and object storage: JSON Lines, optionally compressed, published atomically.

One module per job: :mod:`.location` (which path, which storage connection), :mod:`.sinks` (each
store's native way of publishing a file all at once), :mod:`.writer` (records, compression, errors),
:mod:`.errors` (permanent or transient), :mod:`.destination` (the resolved destination both share),
:mod:`.parts` (numbered parts of an incremental export), :mod:`.progress` (log lines of a long export),
:mod:`.temporaries` (local temporary files, and those killed exports left), :mod:`.stale_uploads` (the S3 uploads
killed exports left).
"""

from __future__ import annotations

from airflow_provider_surveysphere.codec import encode_records
from airflow_provider_surveysphere.output.errors import (
    SurveySphereOutputError,
    SurveySphereOutputExistsError,
    SurveySphereOutputTransientError,
)
from airflow_provider_surveysphere.output.location import OutputLocation, as_storage_path, resolve_location
from airflow_provider_surveysphere.output.progress import ExportProgress
from airflow_provider_surveysphere.output.sinks import DEFAULT_PART_SIZE, DIRECT_UPLOAD_PROTOCOLS
from airflow_provider_surveysphere.output.writer import AtomicJsonLinesWriter

__all__ = [
    "DEFAULT_PART_SIZE",
    "DIRECT_UPLOAD_PROTOCOLS",
    "AtomicJsonLinesWriter",
    "ExportProgress",
    "OutputLocation",
    "SurveySphereOutputError",
    "SurveySphereOutputExistsError",
    "SurveySphereOutputTransientError",
    "as_storage_path",
    "encode_records",
    "resolve_location",
]
