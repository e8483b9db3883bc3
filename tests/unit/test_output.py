"""Local exports: "~" and relative paths, fsync before rename, no temporary file left on any failure,
storage errors classified and kept apart from API errors, compression and storage-connection arguments."""

from __future__ import annotations

import errno
import gzip
import json
import os
from pathlib import Path

import pytest

from airflow.providers.common.compat.sdk import AirflowFailException
from airflow_provider_surveysphere.exceptions import SurveySphereAPIError, SurveySphereArgumentError
from airflow_provider_surveysphere.output import (
    AtomicJsonLinesWriter,
    SurveySphereOutputError,
    SurveySphereOutputTransientError,
    resolve_location,
    sinks,
)
from airflow_provider_surveysphere.output.errors import is_transient
from airflow_provider_surveysphere.pagination import PageNumberPagination

from tests.unit.test_operator import RESPONSES, add_pages, add_single_page, operator

ENDPOINT = "api/v1/surveys/s1/responses"


def all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def home_and_work(tmp_path, monkeypatch):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    return home, work


def test_tilde_means_the_home_directory(hook, mocked_api, home_and_work, tmp_path):
    home, work = home_and_work
    add_single_page(mocked_api, 2)
    result = operator(hook, endpoint=ENDPOINT, records_key="data", output_path="~/exports/day.jsonl").execute({})
    assert result["path"] == str(home / "exports" / "day.jsonl")
    assert all_files(tmp_path) == ["home/exports/day.jsonl"]  # no literal "~" directory, no temporary file
    assert not (work / "~").exists()


def test_relative_path_is_relative_to_the_working_directory(hook, mocked_api, home_and_work, tmp_path):
    _, work = home_and_work
    add_single_page(mocked_api, 2)
    result = operator(hook, endpoint=ENDPOINT, records_key="data", output_path="out/day.jsonl").execute({})
    assert result["path"] == str(work / "out" / "day.jsonl")  # absolute in XCom: meaningful to the next task
    assert all_files(tmp_path) == ["work/out/day.jsonl"]


@pytest.mark.parametrize("output_path", ["~/exports/day.jsonl", "out/day.jsonl", "file://~/exports/day.jsonl"])
def test_failed_export_leaves_no_temporary_file_anywhere(hook, mocked_api, home_and_work, tmp_path, output_path):
    add_pages(mocked_api, 1, 2, 2)
    mocked_api.get(RESPONSES, status=404)  # page 2: a permanent API error
    op = operator(hook, endpoint=ENDPOINT, pagination=PageNumberPagination(page_size=2), records_key="data",
                  output_path=output_path)
    with pytest.raises(SurveySphereAPIError):
        op.execute({})
    assert all_files(tmp_path) == []


def test_file_is_fsynced_before_it_replaces_the_target(tmp_path, monkeypatch):
    events: list[tuple[str, object]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        if os.path.isfile(f"/proc/self/fd/{fd}") or not os.path.isdir(f"/proc/self/fd/{fd}"):
            events.append(("fsync file", os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.path.basename(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(sinks.os, "fsync", fsync)
    monkeypatch.setattr(sinks.os, "replace", replace)
    with AtomicJsonLinesWriter(tmp_path / "day.jsonl") as writer:
        writer.write_records([{"id": 1}])
    file_syncs = [e for e in events if e[0] == "fsync file" and e[1].endswith(".partial")]
    assert file_syncs and events.index(file_syncs[0]) < events.index(("replace", "day.jsonl"))


def test_temporary_file_is_removed_when_the_rename_fails(tmp_path, monkeypatch):
    def replace(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(sinks.os, "replace", replace)
    with pytest.raises(SurveySphereOutputError, match=r"output_path: cannot write .*day\.jsonl: publishing"):
        with AtomicJsonLinesWriter(tmp_path / "day.jsonl") as writer:
            writer.write_records([{"id": 1}])
    assert all_files(tmp_path) == []


def test_api_side_os_error_is_not_reported_as_an_output_error(hook, mocked_api, tmp_path, monkeypatch):
    """An OSError raised while fetching (e.g. requests' missing CA bundle) is the API side's, not output_path's."""
    op = operator(hook, endpoint=ENDPOINT, pagination=PageNumberPagination(page_size=2), records_key="data",
                  output_path=str(tmp_path / "day.jsonl"))

    class FailingPaginator:
        pages = records = 0

        def iter_pages(self):
            raise OSError("Could not find a suitable TLS CA certificate bundle, invalid path: off")
            yield

    monkeypatch.setattr(op, "_paginate", lambda **_: FailingPaginator())
    with pytest.raises(OSError, match="CA certificate bundle") as caught:
        op.execute({})
    assert not isinstance(caught.value, (SurveySphereOutputError, SurveySphereOutputTransientError))
    assert all_files(tmp_path) == []


def test_transient_storage_error_while_writing_is_retried_and_names_output_path(tmp_path, monkeypatch):
    def reset(self, data):
        raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")

    monkeypatch.setattr(sinks.LocalSink, "write", reset)
    with pytest.raises(SurveySphereOutputTransientError) as caught:
        with AtomicJsonLinesWriter(tmp_path / "day.jsonl") as writer:
            writer.write_records([{"id": 1}])
    assert not isinstance(caught.value, AirflowFailException)  # the task's retries apply
    assert "output_path" in str(caught.value) and str(tmp_path / "day.jsonl") in str(caught.value)
    assert "ConnectionResetError" in str(caught.value)
    assert all_files(tmp_path) == []


def test_permission_denied_fails_before_the_first_request(hook, mocked_api, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.access(locked, os.W_OK):  # root ignores permissions
        pytest.skip("running as a user that can write anywhere")
    op = operator(hook, endpoint=ENDPOINT, records_key="data", output_path=str(locked / "day.jsonl"))
    with pytest.raises(SurveySphereOutputError, match="PermissionError") as caught:
        op.execute({})
    assert isinstance(caught.value, AirflowFailException)
    assert len(mocked_api.calls) == 0


def test_not_a_directory_fails_before_the_first_request(hook, mocked_api, tmp_path):
    (tmp_path / "a-file").write_text("x")
    op = operator(hook, endpoint=ENDPOINT, records_key="data", output_path=str(tmp_path / "a-file" / "day.jsonl"))
    with pytest.raises(SurveySphereOutputError, match="NotADirectoryError") as caught:
        op.execute({})
    assert isinstance(caught.value, AirflowFailException)
    assert len(mocked_api.calls) == 0


class ClientError(Exception):
    """The shape of botocore's ClientError: a parsed error response."""

    def __init__(self, code: str, status: int) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (PermissionError(errno.EACCES, "Permission denied"), False),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory"), False),
        (FileNotFoundError("The specified bucket does not exist"), False),  # s3fs: NoSuchBucket
        (OSError(errno.EINVAL, "The specified bucket is not valid"), False),  # s3fs: InvalidBucketName
        (ValueError("unknown scheme"), False),  # a bad URL
        (ClientError("AccessDenied", 403), False),
        (ClientError("NoSuchBucket", 404), False),
        (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), True),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), True),
        (TimeoutError("timed out"), True),
        (OSError(errno.EIO, "We encountered an internal error"), True),  # s3fs: any unmapped 5xx code
        (ClientError("SlowDown", 503), True),
        (ClientError("InternalError", 500), True),
        (ClientError("Throttling", 400), True),
        (ClientError("RequestTimeout", 400), True),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_storage_errors_are_classified(exc, transient):
    assert is_transient(exc) is transient


def test_gzip_by_suffix_round_trips(tmp_path):
    records = [{"id": i, "text": "ünïcode"} for i in range(1000)]
    with AtomicJsonLinesWriter(tmp_path / "day.jsonl.gz") as writer:
        writer.write_records(records[:500])
        writer.write_records(records[500:])
    lines = gzip.decompress((tmp_path / "day.jsonl.gz").read_bytes()).decode().splitlines()
    assert [json.loads(line) for line in lines] == records


def test_compression_argument_overrides_the_suffix(tmp_path):
    with AtomicJsonLinesWriter(tmp_path / "day.jsonl.gz", compression=None) as writer:
        writer.write_records([{"id": 1}])
    with AtomicJsonLinesWriter(tmp_path / "day.jsonl", compression="gzip") as writer:
        writer.write_records([{"id": 2}])
    assert (tmp_path / "day.jsonl.gz").read_bytes() == b'{"id":1}\n'
    assert gzip.decompress((tmp_path / "day.jsonl").read_bytes()) == b'{"id":2}\n'


def test_unknown_compression_names_the_argument(tmp_path):
    with pytest.raises(SurveySphereArgumentError, match="compression: is 'bz2'"):
        AtomicJsonLinesWriter(tmp_path / "day.jsonl", compression="bz2")


def test_zstd_without_its_library_says_what_to_install(tmp_path):
    try:
        import zstandard  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("zstandard is installed")
    with pytest.raises(SurveySphereArgumentError, match=r"compression: zstd needs .*\[zstd\]"):
        with AtomicJsonLinesWriter(tmp_path / "day.jsonl.zst"):
            pass
    assert all_files(tmp_path) == []


def test_part_size_below_the_store_minimum_names_the_argument(tmp_path):
    with pytest.raises(SurveySphereArgumentError, match="output_part_size: is 1024"):
        AtomicJsonLinesWriter(tmp_path / "day.jsonl", part_size=1024)


@pytest.mark.parametrize(
    ("output_path", "conn_id"),
    [("s3://no_such_conn@bucket/day.jsonl", None), ("s3://bucket/day.jsonl", "no_such_conn")],
    ids=["in-url", "output_conn_id"],
)
def test_undefined_storage_connection_fails_at_once_naming_it(hook, mocked_api, output_path, conn_id):
    op = operator(hook, endpoint=ENDPOINT, records_key="data", output_path=output_path, output_conn_id=conn_id)
    with pytest.raises(SurveySphereOutputError, match="storage connection 'no_such_conn' is not defined"):
        op.execute({})
    assert len(mocked_api.calls) == 0


def test_two_different_storage_connections_are_refused():
    with pytest.raises(SurveySphereArgumentError, match=r"output_conn_id: is 'b' but output_path .* names .* 'a'"):
        resolve_location("s3://a@bucket/day.jsonl", "b")


def test_password_in_a_url_never_reaches_an_error():
    with pytest.raises(SurveySphereOutputError) as caught:
        resolve_location("nosuchscheme://user:hunter2@host/day.jsonl")
    assert "hunter2" not in str(caught.value) and "user:***@host" in str(caught.value)


def test_output_conn_id_is_rendered_by_airflow(hook):
    op = operator(hook, endpoint=ENDPOINT, records_key="data", output_path="s3://bucket/{{ ds }}.jsonl",
                  output_conn_id="{{ params.storage }}")
    op.render_template_fields({"params": {"storage": "aws_exports"}, "ds": "2026-11-01"})
    assert (op.output_conn_id, op.output_path) == ("aws_exports", "s3://bucket/2026-11-01.jsonl")


@pytest.mark.parametrize("url", ["s3://exports/day\t1.jsonl", "s3://exports/day\n1.jsonl", "file:///tmp/day\r1.jsonl"])
def test_a_url_holding_a_tab_or_line_break_is_refused_not_written_under_another_name(url):
    # urlsplit (WHATWG) drops them silently: s3://exports/day\t1.jsonl would be written as day1.jsonl.
    with pytest.raises(SurveySphereArgumentError, match="output_path: .*tab or line break") as caught:
        resolve_location(url, check_connection=False)
    assert isinstance(caught.value, AirflowFailException)


def test_a_local_path_holding_a_tab_is_written_as_named(tmp_path):
    assert resolve_location(str(tmp_path / "day\t1.jsonl")).local_path == tmp_path / "day\t1.jsonl"
