"""Keeps secrets out of messages: short, scrubbed excerpts of answers for error texts."""

from __future__ import annotations

import re
import traceback
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests

EXCERPT_LENGTH = 200
_WHITESPACE = re.compile(r"\s+")


def scrub(text: str, *secrets: str | None) -> str:
    """Replace every occurrence of each secret in ``text`` with ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def forget_locals(error: BaseException) -> None:
    """Clear the local variables of the finished frames ``error`` has passed through.

    For errors leaving code whose locals hold the client secret or a token: a traceback that shows locals
    (Airflow 3.0's ``dags test`` renders task errors so; error trackers capture them) would print those.
    """
    traceback.clear_frames(error.__traceback__)


def excerpt_of(response: requests.Response, *secrets: str | None, limit: int = EXCERPT_LENGTH) -> str:
    """A one-line excerpt of an answer's body, at most ``limit`` characters, secrets replaced.

    Secrets are replaced before the cut, so that no prefix of one survives at the edge.
    """
    text = response.content[:65536].decode(response.encoding or "utf-8", errors="replace")
    text = _WHITESPACE.sub(" ", scrub(text, *secrets)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
