"""JSON for pages, records and the sandbox's answers: msgspec when it is installed, the standard library otherwise.

msgspec is already in Airflow's own dependency tree on every supported line (the task SDK on 3.x,
flask-session on 2.11), so no new package is installed for it. It parses a page about 3x and
encodes records about 20x faster than the standard library (see BENCHMARKS.md).

The output of decoded records is the same JSON Lines as the standard library's compact encoder with
``ensure_ascii=False``: same keys in the same order, same strings (non-ASCII as UTF-8), same integers
of any size. Three differences, all valid JSON that parses to the same values: float exponents are
written without ``+`` or a leading zero (``1e16``, ``1e-7`` where the standard library writes
``1e+16``, ``1e-07``); NaN or infinities, which only non-standard input can carry, are written as
``null`` (the standard library writes ``NaN``, which is not JSON); and in JSON Lines a record holding a lone
surrogate (only an escape such as ``"\\ud800"`` can carry one, UTF-8 cannot) is written with ``\\u`` escapes,
its other non-ASCII characters too (:func:`dumps` still raises UnicodeEncodeError there, for its callers to name).

Raw records (:func:`split_records`, for exports that write records unchanged) are the server's own bytes of
each record; :func:`encode_records` writes them as they are, one a line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

_std_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_ascii_encode = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode

try:
    import msgspec
except ImportError:  # pragma: no cover - msgspec ships with Airflow; the fallback keeps the provider working
    msgspec = None  # type: ignore[assignment]


def _std_line(record: Any) -> bytes:
    text = _std_encode(record)
    try:
        return text.encode() + b"\n"
    except UnicodeEncodeError:
        # A lone surrogate (decoded from an escape such as "\ud800") has no UTF-8 form; a JSON escape keeps it.
        return _ascii_encode(record).encode() + b"\n"


def _std_encode_records(records: Iterable[Any]) -> bytes:
    return b"".join(_std_line(record) for record in records)


if msgspec is not None:
    _decoder = msgspec.json.Decoder()
    _encoder = msgspec.json.Encoder()
    _raw_list = msgspec.json.Decoder(list[msgspec.Raw])
    _raw_fields = msgspec.json.Decoder(dict[str, msgspec.Raw])

    def loads(data: bytes | str) -> Any:
        """Parse one JSON document; input msgspec refuses (``NaN``, ``1e400``) goes to the standard library."""
        try:
            return _decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return json.loads(data)  # raises ValueError for what is not JSON at all

    def dumps(value: Any) -> bytes:
        """One compact JSON document, UTF-8."""
        try:
            return _encoder.encode(value)
        except (TypeError, UnicodeEncodeError, msgspec.EncodeError):
            return _std_encode(value).encode()

    def encode_records(records: Iterable[Any]) -> bytes:
        """JSON Lines: one JSON document per record, each ending with a newline.

        A decoded record is written compact; a raw record (:class:`msgspec.Raw`) as it is: one from
        :func:`split_records` holds no line break.
        """
        if not isinstance(records, (list, tuple)):
            records = list(records)
        try:
            return _encoder.encode_lines(records)
        except (TypeError, UnicodeEncodeError, msgspec.EncodeError):
            # A type msgspec does not know (a record built by a user's code, not parsed JSON):
            # the standard library's rules and errors, as before.
            return _std_encode_records(records)

    def split_records(content: bytes, records_key: str | None) -> tuple[Any, list[Any]] | None:
        """A page body split into its fields, decoded, and its records, raw (:class:`msgspec.Raw`, the server's bytes).

        The body returned is the decoded body with the records' list holding the raw records, so pagination
        fields (a cursor, a next link, a total) read as from a decoded body. Only the object fields on the way to
        the records are split; every other field is decoded.

        Each raw record is one line: a body with line breaks (a pretty-printed answer) is split once to check it
        is JSON, then again without its CR and LF bytes. JSON strings cannot hold those unescaped, so in JSON
        they are only whitespace between tokens, which the grammar never needs (tokens are delimited by the
        structural characters ``[]{},:`` or by other whitespace); the records keep their other whitespace.

        :param content: the page body
        :param records_key: dotted path to the records' list; None when the body is the list
        :return: ``(body, records)``, or None when the body cannot be split this way: not JSON, not UTF-8, JSON
            msgspec refuses (``NaN``, a lone surrogate escape, a number beyond a double), no list at
            ``records_key``. The caller then decodes the page as usual, with its errors.
        """
        # msgspec skips a raw value without checking its UTF-8; decoding the body checks (only if it is not ASCII).
        if not content.isascii():
            try:
                content.decode()
            except UnicodeDecodeError:
                return None
        split = _split_body(content, records_key)
        if split is not None and (b"\n" in content or b"\r" in content):
            return _split_body(content.replace(b"\n", b"").replace(b"\r", b""), records_key)
        return split

    def _split_body(content: bytes, records_key: str | None) -> tuple[Any, list[Any]] | None:
        try:
            if records_key is None:
                records: list[Any] = _raw_list.decode(content)
                return records, records
            return _split(content, records_key.split("."))
        except (msgspec.DecodeError, msgspec.ValidationError, KeyError):
            return None

    def _split(content: bytes | msgspec.Raw, path: list[str]) -> tuple[dict[str, Any], list[Any]]:
        fields = _raw_fields.decode(content)
        head, rest = path[0], path[1:]
        if head not in fields:
            raise KeyError(head)
        body: dict[str, Any] = {}
        records: list[Any] = []
        for key, value in fields.items():
            if key != head:
                body[key] = _decoder.decode(value)
            elif rest:
                body[key], records = _split(value, rest)
            else:
                body[key] = records = _raw_list.decode(value)
        return body, records

else:  # pragma: no cover

    def loads(data: bytes | str) -> Any:
        """Parse one JSON document."""
        return json.loads(data)

    def dumps(value: Any) -> bytes:
        """One compact JSON document, UTF-8."""
        return _std_encode(value).encode()

    def encode_records(records: Iterable[Any]) -> bytes:
        """JSON Lines: one compact JSON document per record, each ending with a newline."""
        return _std_encode_records(records)

    def split_records(content: bytes, records_key: str | None) -> tuple[Any, list[Any]] | None:
        """Without msgspec there are no raw records: the page is decoded as usual."""
        return None
