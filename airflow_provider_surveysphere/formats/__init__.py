"""Export formats: JSON Lines (records as they came), CSV and Parquet (flat, stable columns).

One module per job: :mod:`.options` (which format, checked options), :mod:`.flatten` (nested records to flat
rows), :mod:`.columns` (the export's columns and new fields), :mod:`.types` (Parquet types and widening), and
one encoder per format (:mod:`.jsonl`, :mod:`.csv`, :mod:`.parquet`). The encoders only make bytes: the export
writer (:mod:`airflow_provider_surveysphere.output.writer`) publishes them atomically on every store.
"""

from __future__ import annotations

from airflow_provider_surveysphere.formats.base import RecordEncoder
from airflow_provider_surveysphere.formats.errors import SurveySphereFormatError
from airflow_provider_surveysphere.formats.options import FORMATS, FormatOptions, literal_name, resolve_format

__all__ = ["FORMATS", "FormatOptions", "RecordEncoder", "SurveySphereFormatError", "literal_name", "resolve_format"]
