"""Progress reports of a long export."""

from __future__ import annotations

import logging
import time
from typing import Any


class ExportProgress:
    """Logs pages, records and records per second every ``every_seconds`` or ``every_pages``.

    :param logger: where to log
    :param every_seconds: log at least this often while pages arrive
    :param every_pages: and at least every this many pages
    :param clock: monotonic clock, replaceable in tests
    """

    def __init__(
        self,
        logger: logging.Logger | Any,
        *,
        every_seconds: float = 10.0,
        every_pages: int = 50,
        clock: Any = time.monotonic,
    ) -> None:
        self.logger = logger
        self.every_seconds = every_seconds
        self.every_pages = every_pages
        self.clock = clock
        self.started = clock()
        self._last_time = self.started
        self._last_pages = 0

    def rate(self, records: int) -> float:
        """Records per second since the start."""
        elapsed = self.clock() - self.started
        return records / elapsed if elapsed > 0 else 0.0

    def update(self, pages: int, records: int, *, total_pages: int | None = None) -> None:
        """Log when a report is due.

        :param pages: pages read so far
        :param records: records written so far
        :param total_pages: the pages the server says there are, when it says
        """
        now = self.clock()
        if now - self._last_time >= self.every_seconds or pages - self._last_pages >= self.every_pages:
            self.logger.info("%s", self.describe(pages, records, total_pages))
            self._last_time = now
            self._last_pages = pages

    def describe(self, pages: int, records: int, total_pages: int | None = None) -> str:
        """A progress line that reads as one: counts "so far", the rate, and the share done when known.

        ``Export in progress: 9 pages, 9,000 records so far (1,250 records/s); page 9 of 20 (45%)``
        """
        line = f"Export in progress: {pages:,} pages, {records:,} records so far ({self.rate(records):,.0f} records/s)"
        if total_pages and total_pages > 0:
            line += f"; page {pages:,} of {total_pages:,} ({min(pages / total_pages, 1.0):.0%})"
        return line
