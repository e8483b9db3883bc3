"""Model-based test of the incremental export: every record the listing can return is exported exactly once.

Hypothesis generates a server history and a sequence of actions on it:

* records arrive, with random ids, ties on the mark's timestamp, later ones (whole seconds or fractions),
  ``null`` or missing mark values, and the same instant written in different ISO 8601 forms; or, for a
  numeric mark field, the same value as an int or a float (``1000`` and ``1000.0``);
* exports run with any page size, while records arrive between their pages, crash at any page or at the
  publish, or race a second export of the same folder that runs to completion in the middle of them;
* a listing that returns mark-less records to every ``since`` query, or to none (SQL ``NULL`` semantics).

The invariants, checked after every step against real part files on disk:

* no id appears twice across the published parts, and no temporary file is left;
* a failed export (crash or lost race) publishes nothing of its own;
* every record the listing returned to an export that succeeded is in the parts;
* after a catch-up export, every record with a mark value (and every mark-less one, when the listing
  returns them to ``since`` queries) is in the parts.

Fake hook and listing (tests/unit/incremental_fakes.py), real files: the CI profile runs in seconds.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from contextlib import nullcontext
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from airflow.providers.common.compat.sdk import ObjectStoragePath
from airflow_provider_surveysphere.incremental import (
    SurveySphereConcurrentExportError,
    export_new_records,
    part_records,
    parts_of,
)
from airflow_provider_surveysphere.output.sinks import LocalSink

from tests.unit.incremental_fakes import FakeHook, Listing

BASE = datetime(2026, 11, 30, 10, 0, 0, tzinfo=timezone.utc)
OUTPUT_FORMATS = ("jsonl", "csv", "parquet")  # the folder's format, drawn once per run
FORMS = {  # one instant, as an API may write it
    "Z": lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    "offset": lambda t: t.isoformat(),
    "naive": lambda t: t.replace(tzinfo=None).isoformat(),
    "plus-one": lambda t: t.astimezone(timezone(timedelta(hours=1))).isoformat(),
    "short-fraction": lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.") + str(t.microsecond // 100000) + "Z",
}
NUMBER_FORMS = {  # one sequence value, as an API may write it (a numeric mark field)
    "Z": float, "offset": lambda seconds: int(seconds) if seconds.is_integer() else seconds,
    "naive": float, "plus-one": lambda seconds: int(seconds) if seconds.is_integer() else seconds,
    "short-fraction": float,
}
KINDS = ["tie", "tie", "later", "later-fraction", "null", "missing"]
ARRIVALS = st.lists(st.tuples(st.sampled_from(KINDS), st.sampled_from(sorted(FORMS)), st.integers(0, 99)),
                    min_size=1, max_size=4)


class Crash(Exception):
    """An export dies here (a worker killed, a page that fails for good, the store refusing the publish)."""


class IncrementalExportModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="surveysphere-model-"))
        self.folder = self.directory / "parts"
        self.listing = Listing()
        self.page_size = 2
        self.clock = timedelta(0)
        self.count = 0
        self.numbers = False
        self.returned_to_successes: set[str] = set()
        self.output_format = "jsonl"

    def teardown(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    # The server

    @initialize(
        markless_in_since=st.booleans(), numbers=st.booleans(), output_format=st.sampled_from(OUTPUT_FORMATS)
    )
    def a_listing(self, markless_in_since: bool, numbers: bool, output_format: str) -> None:
        self.listing.markless_in_since = markless_in_since
        self.numbers = numbers  # the mark field holds numbers (1, 1.0, 1.5) instead of timestamps
        self.output_format = output_format  # the folder's format: every export and rival writes it

    def arrive(self, arrivals: list[tuple[str, str, int]]) -> None:
        for kind, form, salt in arrivals:
            self.count += 1
            record: dict[str, Any] = {"id": f"{salt:02d}-{self.count}"}
            if kind == "later":
                self.clock += timedelta(seconds=1)
            elif kind == "later-fraction":
                self.clock += timedelta(milliseconds=500)
            if kind == "null":
                record["submitted_at"] = None
            elif kind != "missing" and self.numbers:
                record["submitted_at"] = NUMBER_FORMS[form](1000 + self.clock.total_seconds())
            elif kind != "missing":
                record["submitted_at"] = FORMS[form](BASE + self.clock)
            self.listing.add(record)

    @rule(arrivals=ARRIVALS)
    def records_arrive(self, arrivals: list[tuple[str, str, int]]) -> None:
        self.arrive(arrivals)

    # The exports

    def parts(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in self.folder.iterdir()} if self.folder.exists() else {}

    def run_export(self, hook: FakeHook) -> dict[str, Any]:
        yielded: list[str] = []
        real = hook.paginate

        def recording_paginate(*args: Any, **kwargs: Any) -> Any:
            paginator = real(*args, **kwargs)
            pages = paginator.iter_pages

            def iter_pages() -> Any:
                for page in pages():
                    yielded.extend(r["id"] for r in page.records)
                    yield page

            paginator.iter_pages = iter_pages
            return paginator

        hook.paginate = recording_paginate  # type: ignore[method-assign]
        result = export_new_records(
            hook, "responses", str(self.folder), pagination=None, records_key=None, output_format=self.output_format
        )
        self.returned_to_successes.update(yielded)  # reached only when the export succeeded
        return result

    @rule(
        page_size=st.integers(1, 4),
        during=st.lists(st.tuples(st.integers(1, 4), ARRIVALS), max_size=2),
        crash=st.one_of(st.none(), st.integers(1, 4), st.just("publish")),
        rival_at=st.one_of(st.none(), st.integers(1, 4)),
    )
    def export(self, page_size: int, during: list[tuple[int, list[tuple[str, str, int]]]],
               crash: int | str | None, rival_at: int | None) -> None:
        before = self.parts()
        rival_parts: dict[str, bytes] = {}
        hook = FakeHook(self.listing, page_size=page_size)

        def before_page(number: int) -> None:
            for at, arrivals in during:
                if at == number:
                    self.arrive(arrivals)
            if rival_at == number:  # a second export of the same folder runs to the end meanwhile
                rival_before = self.parts()
                self.run_export(FakeHook(self.listing, page_size=self.page_size))
                rival_parts.update({k: v for k, v in self.parts().items() if k not in rival_before})
            if crash == number:
                raise Crash(f"the export dies before page {number}")

        hook.before_page = before_page

        def publish_fails(sink: LocalSink) -> None:
            raise Crash("the export dies at the publish")

        with mock.patch.object(LocalSink, "_place", publish_fails) if crash == "publish" else nullcontext():
            try:
                result = self.run_export(hook)
            except (Crash, SurveySphereConcurrentExportError) as failure:
                if isinstance(failure, SurveySphereConcurrentExportError):
                    assert rival_parts, "a lost race without a rival"
                assert self.parts() == {**before, **rival_parts}, "a failed export published something"
                return
        published = {k: v for k, v in self.parts().items() if k not in before and k not in rival_parts}
        assert len(published) == (1 if result["records"] else 0)
        assert before.items() <= self.parts().items(), "a published part was rewritten"

    @rule()
    def catch_up(self) -> None:
        """An export with nothing in its way: afterwards every record the listing can return is exported."""
        self.run_export(FakeHook(self.listing, page_size=self.page_size))
        exported = set(self.exported())
        required = {r["id"] for r in self.listing.records
                    if r.get("submitted_at") is not None or self.listing.markless_in_since}
        assert required <= exported, f"never exported: {sorted(required - exported)}"

    # The invariants

    def exported(self) -> list[str]:
        ids: list[str] = []
        for part in parts_of(ObjectStoragePath(str(self.folder))):
            with part.open("rb") as file:
                ids += [str(record["id"]) for _, record in part_records(part.name, file, "submitted_at", "id")]
        return ids

    @invariant()
    def every_record_at_most_once_and_no_temporary_file(self) -> None:
        counts = Counter(self.exported())
        assert not [i for i, n in counts.items() if n > 1], f"exported twice: {[i for i, n in counts.items() if n > 1]}"
        assert not [p.name for p in self.directory.rglob(".*")], "a temporary file was left"

    @invariant()
    def every_record_returned_to_a_successful_export_is_exported(self) -> None:
        missing = self.returned_to_successes - set(self.exported())
        assert not missing, f"returned to a successful export but not exported: {sorted(missing)}"


TestIncrementalExportModel = pytest.mark.model(IncrementalExportModel.TestCase)
TestIncrementalExportModel.settings = settings(stateful_step_count=12)
