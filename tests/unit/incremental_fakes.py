"""An in-memory listing of records with a ``since`` filter, and a hook whose paginator reads it page by page.

Fast enough for model-based tests (no HTTP) and faithful where the incremental export depends on it: the
listing is in arrival order, each page is cut from the listing as it is when that page is asked for (so a
record that arrives mid-export shows up on a later page), ``since`` is inclusive and parsed by the
sandbox's own parser (not the provider's), and a record without a mark value is returned by a ``since``
query or not as ``markless_in_since`` says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from airflow_provider_surveysphere.sandbox.data import parse_timestamp


@dataclass
class Listing:
    """The server's records, oldest first.

    :param markless_in_since: a record whose ``time_key`` is null or missing matches every ``since`` query
        (True) or none (False, as SQL's ``NULL >= x`` is never true)
    """

    time_key: str = "submitted_at"
    markless_in_since: bool = True
    records: list[dict[str, Any]] = field(default_factory=list)

    def add(self, record: dict[str, Any]) -> None:
        self.records.append(record)

    def query(self, since: Any) -> list[dict[str, Any]]:
        if since is None:
            return list(self.records)
        bound = parse_timestamp(since)
        return [r for r in self.records if (r.get(self.time_key) is None and self.markless_in_since)
                or (r.get(self.time_key) is not None and parse_timestamp(r[self.time_key]) >= bound)]


class FakePaginator:
    def __init__(self, listing: Listing, since: Any, page_size: int, before_page: Callable[[int], None]) -> None:
        self.listing, self.since, self.page_size, self.before_page = listing, since, page_size, before_page
        self.pages = 0

    def iter_pages(self) -> Iterator[SimpleNamespace]:
        number = 1
        while True:
            self.before_page(number)  # a test's hook: records arrive, a failure, another export
            rows = self.listing.query(self.since)[(number - 1) * self.page_size: number * self.page_size]
            self.pages += 1
            yield SimpleNamespace(number=number, records=[dict(r) for r in rows])
            if len(rows) < self.page_size:
                return
            number += 1


class FakeHook:
    """Stands in for SurveySphereHook.paginate over a :class:`Listing`.

    :param before_page: called with the page number before each page is cut (default: nothing)
    """

    def __init__(self, listing: Listing, page_size: int = 3, since_param: str = "since") -> None:
        self.listing, self.page_size, self.since_param = listing, page_size, since_param
        self.before_page: Callable[[int], None] = lambda number: None
        self.queries: list[Any] = []

    def paginate(self, endpoint: str, *, params: dict[str, Any], pagination: Any, records_key: Any) -> FakePaginator:
        since = params.get(self.since_param)
        self.queries.append(since)
        return FakePaginator(self.listing, since, self.page_size, self.before_page)
