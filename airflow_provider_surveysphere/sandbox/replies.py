"""Sandbox replies: the reply and drop markers, and the error replies the handlers and state send."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REALM = "surveysphere-sandbox"


@dataclass
class _Reply:
    status: int
    body: dict[str, Any] | bytes  # bytes: JSON already encoded
    headers: dict[str, str] = field(default_factory=dict)


class _Drop:
    """Marker: close the connection without answering."""


_DROP = _Drop()


def _error(status: int, error: str, description: str, **headers: str) -> _Reply:
    return _Reply(status, {"error": error, "error_description": description}, headers)


def _token_error(status: int, error: str, description: str, **headers: str) -> _Reply:
    reply = _error(status, error, description, **headers)
    reply.headers.update({"Cache-Control": "no-store", "Pragma": "no-cache"})
    return reply


def _invalid_client(description: str) -> _Reply:
    return _token_error(401, "invalid_client", description,
                        **{"WWW-Authenticate": f'Basic realm="{REALM}"'})


def _invalid_token(description: str, *, missing: bool = False) -> _Reply:
    challenge = f'Bearer realm="{REALM}"' if missing else 'Bearer error="invalid_token"'
    return _error(401, "invalid_token", description, **{"WWW-Authenticate": challenge})


def _seconds_json(seconds: float) -> int | float:
    return int(seconds) if float(seconds).is_integer() else round(seconds, 3)
