"""Crash-only on a local disk: an export killed (``kill -9``) at a chosen point leaves its temporary file behind;
the next export into the directory removes it, and never the temporary file of a live export (in another process
or in this one, of another target or the same one). The races at both ends of a temporary file's life (a cleaner
between its creation and its lock, and between its last write and its rename) are forced, not hoped for."""

from __future__ import annotations

import json
import logging

import pytest

from airflow_provider_surveysphere.output import AtomicJsonLinesWriter, sinks, temporaries
from airflow_provider_surveysphere.output.temporaries import TEMPORARY_NAME, remove_stale_temporaries

from tests.support.killable import PausedExport, page

PAGES = 3


def partials(directory) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if TEMPORARY_NAME.fullmatch(path.name))


def ids(path) -> list[int]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def write(path, pages: int = PAGES) -> AtomicJsonLinesWriter:
    with AtomicJsonLinesWriter(path) as writer:
        for number in range(pages):
            writer.write_records(page(number * 2_000))
    return writer


def test_the_next_export_removes_a_killed_exports_temporary_file_and_spares_a_live_ones(tmp_path, caplog):
    """Killed before its first page, mid-export and just before its commit (one live export beside all three:
    each process costs an Airflow import)."""
    out = tmp_path / "out"
    out.mkdir()
    live = PausedExport(str(out / "other.jsonl"), PAGES, "pages=1", tmp_path)  # alive, holding its lock
    try:
        alive = partials(out)
        for point in ("pages=0", "pages=2", f"pages={PAGES}"):
            PausedExport(str(out / "day.jsonl"), PAGES, point, tmp_path).kill()
            killed = sorted(set(partials(out)) - set(alive))
            assert len(alive) == len(killed) == 1, point  # the kill left its temporary file
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="airflow_provider_surveysphere"):
                write(out / "day.jsonl")
            assert partials(out) == alive, point  # the dead export's file is gone, the live one's is not
            assert killed[0] in caplog.text and "died before publishing" in caplog.text, point
            assert ids(out / "day.jsonl") == list(range(PAGES * 2_000)), point
            (out / "day.jsonl").unlink()
        assert live.release().split()[-1] == str(PAGES * 2_000)  # the live export publishes undisturbed
    finally:
        if live.process.poll() is None:
            live.kill()
    assert ids(out / "other.jsonl") == list(range(PAGES * 2_000))
    assert partials(out) == []


def test_a_live_export_in_this_process_keeps_its_temporary_file(tmp_path):
    """flock locks belong to the open file, so two exports in one process exclude each other too (POSIX fcntl
    locks would not); of another target and of the same one."""
    first = AtomicJsonLinesWriter(tmp_path / "day.jsonl")
    with first:
        first.write_records(page(0, 10))
        mine = partials(tmp_path)
        write(tmp_path / "other.jsonl", pages=1)
        write(tmp_path / "day.jsonl", pages=1)  # the same target, as a concurrent rerun would
        assert set(mine) <= set(partials(tmp_path))
        first.write_records(page(10, 10))
    assert ids(tmp_path / "day.jsonl") == list(range(20))  # the last to publish wins, whole
    assert partials(tmp_path) == []


def test_a_cleaner_between_creating_and_locking_a_temporary_file_costs_only_its_name(tmp_path, monkeypatch):
    """Forced: another export's cleaner runs after the file is created and before it is locked, so it can lock
    the new file and remove it. The writer notices once it holds the lock, and takes another name."""
    flock = temporaries.fcntl.flock
    calls: list[int] = []

    def cleaner_first(fd, operation):
        if operation == temporaries.fcntl.LOCK_EX and not calls:  # the writer's own (blocking) lock
            calls.append(fd)
            assert len(remove_stale_temporaries(tmp_path)) == 1  # the cleaner took the new, unlocked file
        return flock(fd, operation)

    monkeypatch.setattr(temporaries.fcntl, "flock", cleaner_first)
    write(tmp_path / "day.jsonl", pages=1)
    assert calls and ids(tmp_path / "day.jsonl") == list(range(2_000))
    assert partials(tmp_path) == []


@pytest.mark.parametrize("overwrite", [True, False], ids=["rename", "create-only-link"])
def test_a_cleaner_while_a_file_is_being_published_does_not_remove_it(tmp_path, monkeypatch, overwrite):
    """Forced: another export's cleaner runs just before the temporary file is renamed (or linked) into place;
    the writer still holds its lock there, so the file is published."""
    place = sinks.LocalSink._place
    removed: list[list] = []

    def cleaner_then_place(self):
        removed.append(remove_stale_temporaries(tmp_path))
        place(self)

    monkeypatch.setattr(sinks.LocalSink, "_place", cleaner_then_place)
    with AtomicJsonLinesWriter(tmp_path / "part-00000001.jsonl", overwrite=overwrite) as writer:
        writer.write_records(page(0, 10))
    assert removed == [[]]
    assert ids(tmp_path / "part-00000001.jsonl") == list(range(10))


def test_a_fifo_directory_or_symlink_with_a_temporary_name_is_left_alone_and_does_not_hang_the_export(tmp_path, caplog):
    import os
    import threading

    fifo = tmp_path / temporaries.temporary_name()
    os.mkfifo(fifo)
    directory = tmp_path / temporaries.temporary_name()
    directory.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.jsonl").write_text("keep\n")
    link = tmp_path / temporaries.temporary_name()
    link.symlink_to(elsewhere / "precious.jsonl")  # an unlocked file behind it: the cleaner must not follow it
    done = threading.Event()
    cleaner = threading.Thread(target=lambda: (remove_stale_temporaries(tmp_path), done.set()), daemon=True)
    with caplog.at_level(logging.WARNING):
        cleaner.start()
        finished = done.wait(10)
        if not finished:  # opening a FIFO to read waits for a writer: give it one, so the thread ends
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            cleaner.join(10)
    assert finished, "the cleaner hung on a FIFO named like a temporary file"
    assert fifo.exists() and directory.is_dir()
    assert link.is_symlink() and (elsewhere / "precious.jsonl").read_text() == "keep\n"
    assert "Could not remove" not in caplog.text  # not a file of ours: no warning at every export


def test_on_nfs_where_flock_is_a_posix_lock_a_dead_writers_temporary_file_is_still_removed(tmp_path, monkeypatch):
    # Linux's NFS client emulates flock() with a POSIX lock of the whole file, and an exclusive POSIX lock needs
    # the file open for writing (flock(2)): a cleaner that opens it read-only is refused (EBADF) and removes nothing.
    import fcntl
    import types

    nfs = types.SimpleNamespace(LOCK_EX=fcntl.LOCK_EX, LOCK_NB=fcntl.LOCK_NB, flock=fcntl.lockf)
    monkeypatch.setattr(temporaries, "fcntl", nfs)
    dead = tmp_path / temporaries.temporary_name()
    dead.write_bytes(b'{"id": 1}\n')  # its writer died: no lock
    assert remove_stale_temporaries(tmp_path) == [dead]
    assert partials(tmp_path) == []


def test_without_fcntl_as_on_windows_an_export_still_publishes_and_removes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(temporaries, "fcntl", None)
    stale = tmp_path / temporaries.temporary_name()
    stale.write_bytes(b"left by a killed export\n")
    write(tmp_path / "out.jsonl")
    assert ids(tmp_path / "out.jsonl") == list(range(PAGES * 2_000))
    assert partials(tmp_path) == [stale.name]  # no lock tells a dead writer from a live one: kept
