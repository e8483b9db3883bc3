"""The export writer: records in, a format's bytes (optionally compressed) out, published all at once."""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_surveysphere.exceptions import SurveySphereArgumentError
from airflow_provider_surveysphere.formats.jsonl import JsonLinesEncoder
from airflow_provider_surveysphere.output.errors import is_storage_error, output_error
from airflow_provider_surveysphere.output.location import OutputLocation, resolve_location
from airflow_provider_surveysphere.output.sinks import DEFAULT_PART_SIZE, S3_MIN_PART_SIZE, Sink, open_sink

if TYPE_CHECKING:
    from types import TracebackType

    from airflow_provider_surveysphere.formats import RecordEncoder

T = TypeVar("T")

COMPRESSIONS = ("infer", "gzip", "zstd", None)
SUFFIXES = {".gz": "gzip", ".zst": "zstd"}

def choose_compression(compression: str | None, name: str) -> str | None:
    """``"infer"`` picks by suffix (``.gz``, ``.zst``); ``"gzip"``, ``"zstd"`` or None choose directly."""
    if compression not in COMPRESSIONS:
        raise SurveySphereArgumentError("compression", f"is {compression!r}; use one of {COMPRESSIONS}")
    if compression == "infer":
        return SUFFIXES.get(os.path.splitext(name)[1].lower())
    return compression


def _compressor(compression: str | None, sink: Sink) -> tuple[Any, Callable[[], None]]:
    """A stream that compresses into ``sink``, and the call that writes its end."""
    if compression is None:
        return sink, lambda: None
    if compression == "gzip":
        stream = gzip.GzipFile(filename="", mode="wb", fileobj=sink, mtime=0)  # type: ignore[call-overload, arg-type, unused-ignore]
        return stream, stream.close  # writes the gzip trailer, leaves the sink open
    writer = _zstandard().ZstdCompressor().stream_writer(sink, closefd=False)
    return writer, writer.close


def _zstandard() -> Any:
    try:
        import zstandard
    except ImportError:
        raise SurveySphereArgumentError(
            "compression",
            "zstd needs the zstandard package: pip install 'airflow-provider-surveysphere[zstd]'",
        ) from None
    return zstandard


class AtomicJsonLinesWriter:
    """Streams records to ``path`` as JSON Lines and publishes the file only when complete.

    Creating the writer resolves the path and the storage connection (an undefined one fails here);
    entering it checks that the destination can be written, before the first page is fetched.
    Leaving the block normally publishes the file, replacing an earlier one (a rerun overwrites its
    own output); leaving it with an exception discards everything written and leaves the target as it
    was. Storage errors become :class:`~.errors.SurveySphereOutputError` (permanent) or
    :class:`~.errors.SurveySphereOutputTransientError`, naming the URL, the connection and the key;
    any other exception passes through untouched.

    :param path: the final location: a local path, ``file://`` or another object storage URL, or an
        ``ObjectStoragePath``
    :param conn_id: the storage connection (else the URL's ``conn_id@`` or the path's own)
    :param compression: ``"infer"`` (by suffix: ``.gz``, ``.zst``), ``"gzip"``, ``"zstd"`` or None
    :param part_size: bytes per part uploaded to an object store, at least 5 MiB
    :param encoder: turns pages into the file's bytes (:mod:`airflow_provider_surveysphere.formats`);
        JSON Lines by default. A format that compresses inside the file (Parquet) gets no stream compression.
    :param overwrite: False publishes only if nothing has the name yet (local hard link, S3 ``If-None-Match``);
        a name taken meanwhile raises :class:`~.errors.SurveySphereOutputExistsError` and publishes nothing
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | Any,
        *,
        conn_id: str | None = None,
        compression: str | None = "infer",
        part_size: int = DEFAULT_PART_SIZE,
        encoder: RecordEncoder | None = None,
        overwrite: bool = True,
    ) -> None:
        if not isinstance(part_size, int) or part_size < S3_MIN_PART_SIZE:
            raise SurveySphereArgumentError(
                "output_part_size",
                f"is {part_size!r}; object stores take parts of at least 5 MiB ({S3_MIN_PART_SIZE})",
            )
        self.location: OutputLocation = resolve_location(path, conn_id)
        self.encoder: RecordEncoder = encoder if encoder is not None else JsonLinesEncoder()
        self.compression = choose_compression(compression, self.location.name)
        if self.encoder.compresses_itself:
            self.compression = None  # the format compresses inside the file
        if self.compression == "zstd":
            _zstandard()  # a missing library fails before anything is opened
        self.part_size = part_size
        self.overwrite = overwrite
        self.records = 0
        self._sink: Sink | None = None
        self._stream: Any = None
        self._finish: Callable[[], None] = lambda: None

    def __enter__(self) -> AtomicJsonLinesWriter:
        sink = self._storage("opening", lambda: open_sink(self.location, self.part_size, overwrite=self.overwrite))
        self._sink = sink
        self._stream, self._finish = self._storage("opening", lambda: _compressor(self.compression, sink))
        return self

    def write_records(self, records: list[Any]) -> None:
        """Append one page of records."""
        assert self._stream is not None, "use the writer as a context manager"
        data = self.encoder.encode_page(records)
        self._storage("writing", lambda: self._stream.write(data))
        self.records += len(records)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self._abort()
            return
        self._storage("publishing", self._publish)

    def _publish(self) -> None:
        assert self._sink is not None
        tail = self.encoder.finish()
        if tail:
            self._stream.write(tail)
        self._finish()
        self._sink.commit()
        self._sink = None

    def _abort(self) -> None:
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.abort()

    def _storage(self, doing: str, action: Callable[[], T]) -> T:
        """Run a storage action; abort on failure and turn storage errors into classified output errors."""
        try:
            return action()
        except BaseException as exc:
            self._abort()
            if is_storage_error(exc):
                raise output_error(self.location, exc, doing) from exc
            raise
