"""JSON Lines: each record as it came, one JSON document a line (the default export format)."""

from __future__ import annotations

from typing import Any

from airflow_provider_surveysphere.codec import encode_records


class JsonLinesEncoder:
    """Records as they came, one per line; no columns, nothing buffered.

    Raw records (:class:`msgspec.Raw`) are written as the server's bytes, decoded ones compact (see
    :mod:`airflow_provider_surveysphere.codec`).
    """

    name = "jsonl"
    compresses_itself = False
    takes_raw_records = True

    def encode_page(self, records: list[Any]) -> bytes:
        return encode_records(records)

    def finish(self) -> bytes:
        return b""

    def schema(self) -> list[tuple[str, str | None]] | None:
        return None

    def summary(self) -> dict[str, Any]:
        return {"format": self.name}
