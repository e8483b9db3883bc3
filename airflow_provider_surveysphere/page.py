"""The types every part of the paging shares: a page's request, a page as read, and the sender of one page.

They sit below their users, so that imports run one way: :mod:`~airflow_provider_surveysphere.strategies`
(how to ask for the next page) and :mod:`~airflow_provider_surveysphere.fetching` (getting the answers) import
this module, :mod:`~airflow_provider_surveysphere.paging` (the loop) imports all three, and
:mod:`~airflow_provider_surveysphere.pagination`, the public face, re-exports their names.
"""

from __future__ import annotations

import hashlib
import json as jsonlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import requests

    from airflow_provider_surveysphere.stopping import Stop


@dataclass(frozen=True)
class PageRequest:
    """What to send for one page.

    :param endpoint: path relative to the base URL, or an absolute URL on the same host
    :param params: query parameters
    :param json: JSON body
    :param data: form or raw body
    """

    endpoint: str
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None
    data: Any = None

    def fingerprint(self) -> bytes:
        """A digest that is the same for two requests that ask for the same page."""
        text = jsonlib.dumps(
            [self.endpoint, sorted((str(k), str(v)) for k, v in self.params.items()), self.json, self.data],
            default=str,
        )
        return hashlib.blake2b(text.encode(), digest_size=16).digest()


@dataclass(frozen=True)
class Page:
    """One page as read: the request that fetched it, the answer, its parsed body and its records.

    With raw records (``Paginator(raw_records=True)``) each record is its JSON bytes (:class:`msgspec.Raw`), and
    ``body`` is decoded but for the records' list, which is ``records``.

    :param number: 1 for the first page
    """

    number: int
    request: PageRequest
    response: requests.Response
    body: Any
    records: list[Any]


class PageSender(Protocol):
    """Sends the request of one page and returns its answer (2xx; anything else raises).

    ``stop`` is set when the answer is no longer wanted (the consumer has gone, or the export's result is
    known): a sender must not send, nor re-send after a failed attempt, once it is set, and should end any
    wait (a backoff, ``Retry-After``) at once, raising
    :class:`~airflow_provider_surveysphere.exceptions.SurveySpherePagingStopped`. The hook's sender does all
    of that; a sender that ignores ``stop`` still works, it only makes closing wait for its waits.
    """

    def __call__(self, request: PageRequest, stop: Stop, /) -> requests.Response: ...


def dig(body: Any, dotted_key: str) -> Any:
    """Follow a dotted path (``"result.items"``) into nested objects; raise KeyError when it is absent."""
    value = body
    for part in dotted_key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(part)
        value = value[part]
    return value
