"""Deterministic, lazily generated sandbox data: surveys and their responses.

Sandbox-only: SurveySphere does not publish its data API, so these records are the sandbox's own
illustrative shapes, not a copy of the real service.

Nothing is stored. Response ``i`` (0-based) of a survey is a pure function of the seed, the survey
number and ``i``; it was submitted at ``start + i * interval``. Because submission times grow
strictly with ``i``, the index range matching a ``since``/``until`` window is found with arithmetic,
so a page costs O(page size) whatever the number of responses.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = [
    "Dataset",
    "Page",
    "format_timestamp",
    "paginate",
    "parse_timestamp",
]

_SHORT_TEXTS = (
    "Great service",
    "Could be better",
    "Fast and friendly",
    "Too slow",
    "Very helpful staff",
    "Not sure",
    "Would recommend",
    "Confusing checkout",
    "Loved it",
    "Average overall",
)
_SURVEY_ID = re.compile(r"srv-(\d{4,})")
_MICROSECOND = timedelta(microseconds=1)
# Parsed by hand so Python 3.10 (whose fromisoformat is narrow) accepts the same texts as 3.11+.
# A space may stand for the "+" of an offset when a query string was not percent-encoded.
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"(Z|[+\- ](\d{2}):?(\d{2}))?)?",
    re.IGNORECASE,
)


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO 8601 timestamp or date into an aware UTC datetime.

    Accepts a ``Z`` suffix, numeric offsets, a bare date (midnight UTC) and, leniently, a naive
    timestamp (taken as UTC).

    :param value: the text to parse.
    :raises ValueError: if the text is not an ISO 8601 date or timestamp.
    """
    match = _TIMESTAMP.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not an ISO 8601 date or timestamp: {value!r}")
    year, month, day, hour, minute, second, fraction, offset, off_hours, off_minutes = match.groups()
    tz = timezone.utc
    if offset and offset.upper() != "Z":
        delta = timedelta(hours=int(off_hours), minutes=int(off_minutes))
        tz = timezone(-delta if offset[0] == "-" else delta)
    parsed = datetime(
        int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
        int((fraction or "0")[:6].ljust(6, "0")), tzinfo=tz,
    )
    return parsed.astimezone(timezone.utc)


def format_timestamp(moment: datetime) -> str:
    """Format an aware datetime as ISO 8601 in UTC with a ``Z`` suffix (microseconds only if set).

    :param moment: the datetime to format.
    """
    moment = moment.astimezone(timezone.utc)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


_MASK64 = (1 << 64) - 1


def _mix(value: int) -> int:
    """SplitMix64 finaliser: a cheap, well-spread 64-bit hash of an integer."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def _naive_utc_iso(moment: datetime) -> str:
    """ISO 8601 with ``Z`` for a naive datetime that holds UTC (isoformat is faster than strftime)."""
    return moment.isoformat() + "Z"


@dataclass(frozen=True)
class Page:
    """One page of a paginated listing.

    :param data: the records on this page.
    :param page: the 1-based page number.
    :param page_size: the requested page size.
    :param total_count: the number of records across all pages.
    """

    data: list[dict[str, Any]]
    page: int
    page_size: int
    total_count: int

    @property
    def total_pages(self) -> int:
        """The number of pages (0 when there are no records)."""
        return math.ceil(self.total_count / self.page_size)

    def to_json(self) -> dict[str, Any]:
        """The JSON envelope the sandbox answers with."""
        return {
            "data": self.data,
            "page": self.page,
            "pageSize": self.page_size,
            "totalPages": self.total_pages,
            "totalCount": self.total_count,
        }


def paginate(lo: int, hi: int, page: int, page_size: int) -> tuple[range, int]:
    """The indexes on ``page`` of the half-open index range ``[lo, hi)``, and the total count.

    :param lo: first index of the whole listing.
    :param hi: index just past the end of the whole listing.
    :param page: the 1-based page number.
    :param page_size: records per page.
    """
    total = max(0, hi - lo)
    first = lo + (page - 1) * page_size
    return range(min(first, hi), min(first + page_size, hi)), total


class Dataset:
    """The sandbox's surveys and responses, generated on demand from a seed.

    :param seed: seed that makes every generated value reproducible.
    :param surveys: number of surveys (ids ``srv-0001`` upwards).
    :param responses_per_survey: number of responses in every survey.
    :param start: submission time of each survey's first response (naive means UTC).
    :param response_interval: seconds between consecutive responses of a survey (> 0).
    """

    def __init__(
        self,
        *,
        seed: int,
        surveys: int,
        responses_per_survey: int,
        start: datetime,
        response_interval: float,
    ) -> None:
        if response_interval <= 0:
            raise ValueError("response_interval must be positive")
        self.seed = seed
        self.surveys = max(0, surveys)
        self.responses_per_survey = max(0, responses_per_survey)
        self.start = start if start.tzinfo else start.replace(tzinfo=timezone.utc)
        self._naive_start = self.start.astimezone(timezone.utc).replace(tzinfo=None)
        # Whole microseconds keep the window arithmetic exact.
        self.interval_us = max(1, round(response_interval * 1_000_000))

    @property
    def identity(self) -> tuple[Any, ...]:
        """The settings every generated value is a function of: equal for two data sets with the same data."""
        return self.seed, self.surveys, self.responses_per_survey, self.start, self.interval_us

    # Surveys

    def survey_number(self, survey_id: str) -> int | None:
        """The 1-based number of ``survey_id``, or None if no such survey exists.

        :param survey_id: an id such as ``srv-0001``.
        """
        match = _SURVEY_ID.fullmatch(survey_id)
        if match is None:
            return None
        number = int(match.group(1))
        if not 1 <= number <= self.surveys or self.survey_id(number) != survey_id:
            return None
        return number

    @staticmethod
    def survey_id(number: int) -> str:
        """The id of survey ``number`` (1-based).

        :param number: the survey number.
        """
        return f"srv-{number:04d}"

    def survey(self, number: int) -> dict[str, Any]:
        """Survey ``number`` (1-based) as a JSON-ready dict.

        :param number: the survey number.
        """
        created = self.start - timedelta(days=30) + timedelta(hours=number - 1)
        return {
            "id": self.survey_id(number),
            "title": f"Survey {number}",
            "status": "closed" if _mix(self._survey_key(number) ^ 0x5EED) % 4 == 0 else "open",
            "created_at": format_timestamp(created),
        }

    def survey_page(self, page: int, page_size: int) -> Page:
        """A page of the survey listing.

        :param page: the 1-based page number.
        :param page_size: surveys per page.
        """
        indexes, total = paginate(1, self.surveys + 1, page, page_size)
        return Page([self.survey(n) for n in indexes], page, page_size, total)

    # Responses

    def submitted_at(self, index: int) -> datetime:
        """Submission time of response ``index`` (0-based) of any survey.

        :param index: the response index.
        """
        return self.start + index * self.interval_us * _MICROSECOND

    def index_window(self, since: datetime | None, until: datetime | None) -> tuple[int, int]:
        """The half-open index range of responses submitted in ``[since, until)``.

        :param since: inclusive lower bound, or None for no bound.
        :param until: exclusive upper bound, or None for no bound.
        """
        lo = 0 if since is None else self._first_index_at_or_after(since)
        hi = self.responses_per_survey if until is None else self._first_index_at_or_after(until)
        return lo, max(lo, hi)

    def _first_index_at_or_after(self, moment: datetime) -> int:
        offset_us = (moment - self.start) // _MICROSECOND
        index = -(-offset_us // self.interval_us)  # ceiling division
        return min(max(index, 0), self.responses_per_survey)

    def _survey_key(self, number: int) -> int:
        return _mix((self.seed << 32) ^ number)

    def response(self, number: int, index: int) -> dict[str, Any]:
        """Response ``index`` (0-based) of survey ``number`` as a JSON-ready dict.

        :param number: the 1-based survey number.
        :param index: the 0-based response index.
        """
        return self._responses(number, range(index, index + 1))[0]

    def _responses(self, number: int, indexes: range) -> list[dict[str, Any]]:
        # Hot path (a 1000-record page per call): locals and isoformat on purpose.
        survey_id = self.survey_id(number)
        key = self._survey_key(number)
        start, step = self._naive_start, self.interval_us * _MICROSECOND
        texts, text_count = _SHORT_TEXTS, len(_SHORT_TEXTS)
        records = []
        for index in indexes:
            bits = _mix(key + index)
            records.append({
                "id": f"{survey_id}-r{index + 1:07d}",
                "survey_id": survey_id,
                "submitted_at": _naive_utc_iso(start + index * step),
                "respondent": f"resp-{(bits >> 24) % 100_000:05d}",
                "answers": {
                    "q1": 1 + bits % 5,
                    "q2": texts[(bits >> 8) % text_count],
                    "q3": bool((bits >> 16) & 1),
                },
            })
        return records

    def response_page(
        self,
        number: int,
        page: int,
        page_size: int,
        since: datetime | None = None,
        until: datetime | None = None,
        visible: int | None = None,
    ) -> Page:
        """A page of survey ``number``'s responses submitted in ``[since, until)``, oldest first.

        :param number: the 1-based survey number.
        :param page: the 1-based page number.
        :param page_size: responses per page.
        :param since: inclusive lower bound on ``submitted_at``, or None.
        :param until: exclusive upper bound on ``submitted_at``, or None.
        :param visible: how many responses have arrived so far (a live survey); None for all of them.
        """
        lo, hi = self.index_window(since, until)
        if visible is not None:
            hi = max(lo, min(hi, visible))
        indexes, total = paginate(lo, hi, page, page_size)
        return Page(self._responses(number, indexes), page, page_size, total)
