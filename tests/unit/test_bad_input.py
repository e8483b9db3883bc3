"""The bad-input table: every kind of bad input, through the public interface, gives a clear error.

Each row is one test. It asserts the error class (permanent errors derive from AirflowFailException,
so Airflow fails the task at once; transient ones do not, so the task's own retries apply), that the
message names the problem (the connection id and field, the status, the page or the argument), that
no secret is in it, and how many HTTP calls were made: none for a configuration error, and no retry
for any permanent error. The transient rows at the end show the other side: those are retried.

The "Bad input" tables of docs/guarantees.md and docs/hardening.md list every row (checked below).
Template rows render the operator's fields with Airflow's own ``render_template_fields``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import responses
from responses import matchers

from airflow.providers.common.compat.sdk import DAG, AirflowFailException
from airflow_provider_surveysphere.exceptions import (
    SurveySphereAPIError,
    SurveySphereArgumentError,
    SurveySphereAuthError,
    SurveySphereClientError,
    SurveySphereConfigError,
    SurveySpherePaginationError,
)
from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
from airflow_provider_surveysphere.operators.surveysphere import SurveySphereOperator
from airflow_provider_surveysphere.output import SurveySphereOutputError
from airflow_provider_surveysphere.pagination import PageNumberPagination

from tests.unit.conftest import BASE_URL, CLIENT_SECRET, TOKEN_URL, token_answer

RESPONSES_PATH = "api/v1/surveys/s1/responses"
RESPONSES = f"{BASE_URL}/{RESPONSES_PATH}"
TOKEN = "tok-bad-input-0123456789"
MAX_RETRIES = 2  # the unit tests' connection sets extra max_retries=2


@dataclass
class World:
    """What a row may arrange: the connection, the mocked server, a folder, and the hook under test."""

    set_connection: Callable[..., None]
    mocked: responses.RequestsMock
    tmp_path: Path
    hook: SurveySphereHook

    def token_ok(self) -> None:
        self.mocked.post(TOKEN_URL, json=token_answer(TOKEN))

    def operator(self, **kwargs: Any) -> SurveySphereOperator:
        op = SurveySphereOperator(task_id="export", **kwargs)
        op.hook = self.hook  # private token cache, no backoff sleeps
        return op

    def export(self, **overrides: Any) -> Any:
        return self.operator(**self._export_arguments(overrides)).execute({})

    def rendered_export(self, **overrides: Any) -> Any:
        """The export with its fields rendered by Airflow from the DAG's params."""
        with DAG(dag_id="bad_input", schedule=None, start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
                 params={"blank": "  ", "text": "open surveys"}) as dag:
            op = SurveySphereOperator(task_id="export", **self._export_arguments(overrides))
        op.render_template_fields({"params": dag.params.validate()})
        op.hook = self.hook
        return op.execute({})

    def _export_arguments(self, overrides: dict[str, Any]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "endpoint": RESPONSES_PATH,
            "pagination": PageNumberPagination(page_size=2),
            "records_key": "data",
            "output_path": str(self.tmp_path / "out.jsonl"),
        }
        kwargs.update(overrides)
        return kwargs


@dataclass
class Row:
    """One kind of bad input.

    :param kind: what is wrong, as the table of docs/guarantees.md says it
    :param arrange: sets up the connection and the server's answers
    :param act: the public call that must fail
    :param error: the exact error class expected
    :param permanent: True when the task must fail without using its retries
    :param words: what the message must contain (names the connection/field/status/page/argument)
    :param calls: how many HTTP calls the failure takes (retries included)
    """

    kind: str
    arrange: Callable[[World], None]
    act: Callable[[World], Any]
    error: type[Exception]
    permanent: bool
    words: tuple[str, ...]
    calls: int
    extra_checks: list[Callable[[World, Exception], None]] = field(default_factory=list)


def _nothing(world: World) -> None:
    pass


def _get(world: World) -> Any:
    return world.hook.request("GET", "api/v1/surveys")


def _paginate(world: World) -> Any:
    return list(world.hook.paginate(RESPONSES_PATH, pagination=PageNumberPagination(page_size=2), records_key="data"))


def _connection(**fields: Any) -> Callable[[World], None]:
    def arrange(world: World) -> None:
        world.set_connection(**fields)

    return arrange


def _token_answer(**answer: Any) -> Callable[[World], None]:
    def arrange(world: World) -> None:
        world.mocked.post(TOKEN_URL, **answer)

    return arrange


def _data_answer(**answer: Any) -> Callable[[World], None]:
    def arrange(world: World) -> None:
        world.token_ok()
        world.mocked.get(f"{BASE_URL}/api/v1/surveys", **answer)

    return arrange


def _pages(*bodies: Any) -> Callable[[World], None]:
    def arrange(world: World) -> None:
        world.token_ok()
        for number, body in enumerate(bodies, start=1):
            answer = {"json": body} if not isinstance(body, str) else {"body": body, "content_type": "text/html"}
            world.mocked.get(RESPONSES, match=[matchers.query_param_matcher({"page": str(number)}, strict_match=False)],
                             **answer)

    return arrange


def _unwritable(world: World) -> None:
    world.token_ok()
    (world.tmp_path / "a-file").write_text("not a folder")


def _previous_file_untouched(world: World, error: Exception) -> None:
    assert sorted(p.name for p in world.tmp_path.iterdir()) == ["a-file"]  # nothing else written


def _missing_connection(world: World) -> Any:
    op = SurveySphereOperator(task_id="export", endpoint=RESPONSES_PATH, surveysphere_conn_id="nowhere")
    return op.execute({})


def _token_five_oh_three(world: World) -> None:
    world.mocked.post(TOKEN_URL, status=503, json={"error": "temporarily_unavailable"})


def _always(status: int, **headers: str) -> Callable[[World], None]:
    def arrange(world: World) -> None:
        world.token_ok()
        world.mocked.get(f"{BASE_URL}/api/v1/surveys", status=status, json={"error": "busy"}, headers=headers)

    return arrange


def _unauthorized_twice(world: World) -> None:
    world.mocked.post(TOKEN_URL, json=token_answer(TOKEN))
    world.mocked.get(f"{BASE_URL}/api/v1/surveys", status=401, json={"error": "invalid_token"})


def _unauthorized_post(world: World) -> None:
    world.token_ok()
    world.mocked.post(f"{BASE_URL}/api/v1/surveys", status=401, json={"error": "invalid_token"})


def _post_a_generator(world: World) -> Any:
    def body() -> Iterator[bytes]:
        yield b'{"title": "a survey"}'

    return world.hook.request("POST", "api/v1/surveys", data=body())


def _no_credentials_in_the_message(world: World, error: Exception) -> None:
    assert "pa55word" not in str(error)


PAGE_1 = {"data": [{"id": "r1"}, {"id": "r2"}]}

ROWS = [
    # -- the connection: refused before any request ---------------------------------------------------------
    Row("missing connection", _nothing, _missing_connection, SurveySphereConfigError, True,
        ("'nowhere'", "connection", "is not defined", "AIRFLOW_CONN_NOWHERE"), 0),
    Row("empty client id", _connection(login=""), _get, SurveySphereConfigError, True,
        ("'surveysphere_default'", "login (Client ID)", "is empty"), 0),
    Row("empty client secret", _connection(password="  "), _get, SurveySphereConfigError, True,
        ("'surveysphere_default'", "password (Client Secret)", "is empty"), 0),
    Row("host that is not a URL", _connection(host="not a url"), _get, SurveySphereConfigError, True,
        ("'surveysphere_default'", "host (Base URL)", "'not a url' is not an http(s) URL"), 0),
    Row("plain HTTP to a remote host", _connection(host="http://api.surveysphere.test"), _get,
        SurveySphereConfigError, True,
        ("'surveysphere_default'", "host (Base URL)", "plain http:// is only allowed to a loopback host"), 0),
    # -- the token endpoint: one call, never retried ---------------------------------------------------------
    Row("invalid_client", _token_answer(status=401, json={"error": "invalid_client", "error_description": "bad secret"}),
        _get, SurveySphereAuthError, True,
        ("'surveysphere_default'", "/connect/token", "refused the credentials: invalid_client", "bad secret"), 1),
    Row("HTML token answer", _token_answer(body="<html><body>Sign in</body></html>", content_type="text/html"),
        _get, SurveySphereAuthError, True, ("/connect/token", "text/html", "not a JSON object"), 1),
    Row("non-JSON token answer", _token_answer(body="access_token=abc", content_type="text/plain"),
        _get, SurveySphereAuthError, True, ("/connect/token", "text/plain", "not a JSON object"), 1),
    Row("no access_token", _token_answer(json={"token_type": "Bearer", "expires_in": 3600}),
        _get, SurveySphereAuthError, True, ("/connect/token", "without an access_token"), 1),
    Row("token_type other than Bearer", _token_answer(json=token_answer(TOKEN, token_type="mac")),
        _get, SurveySphereAuthError, True, ("token of type 'mac'", "only Bearer"), 1),
    Row("negative expires_in", _token_answer(json=token_answer(TOKEN, expires_in=-5)),
        _get, SurveySphereAuthError, True, ("expires_in=-5", "must be positive"), 1),
    Row("non-numeric expires_in", _token_answer(json=token_answer(TOKEN, expires_in="soon")),
        _get, SurveySphereAuthError, True, ("expires_in='soon'", "not a number"), 1),
    # -- data calls: token + one call, never retried ----------------------------------------------------------
    Row("400 on a data call", _data_answer(status=400, json={"error": "invalid_request"}), _get,
        SurveySphereClientError, True, ("GET /api/v1/surveys answered 400", "invalid_request"), 2),
    Row("403 on a data call", _data_answer(status=403, json={"error": "forbidden"}), _get,
        SurveySphereClientError, True, ("GET /api/v1/surveys answered 403", "forbidden"), 2),
    Row("404 on a data call", _data_answer(status=404, json={"error": "not_found"}), _get,
        SurveySphereClientError, True, ("GET /api/v1/surveys answered 404", "not_found"), 2),
    Row("401 again with a new token", _unauthorized_twice, _get, SurveySphereClientError, True,
        ("GET /api/v1/surveys answered 401", "invalid_token"), 4),  # token, 401, new token, 401: re-sent once only
    Row("non-JSON data", _pages("<html>maintenance</html>"), _paginate, SurveySpherePaginationError, True,
        ("page 1 of api/v1/surveys/s1/responses", "is not JSON", "text/html"), 2),
    Row("page without the records_key", _pages({"items": []}), _paginate, SurveySpherePaginationError, True,
        ("page 1 of api/v1/surveys/s1/responses", "records_key 'data' not found", "keys: items"), 2),
    Row("more pages than max_pages", _pages(PAGE_1, PAGE_1, PAGE_1),
        lambda w: list(w.hook.paginate(RESPONSES_PATH, pagination=PageNumberPagination(page_size=2),
                                       records_key="data", max_pages=2)),
        SurveySpherePaginationError, True,
        ("api/v1/surveys/s1/responses: page 2 still names a next page", "max_pages is 2", "stopping"), 3),
    # -- operator arguments ------------------------------------------------------------------------------------
    Row("output path that cannot be written", _unwritable,
        lambda w: w.export(output_path=str(w.tmp_path / "a-file" / "sub" / "out.jsonl")),
        SurveySphereOutputError, True, ("output_path: cannot write", "a-file/sub/out.jsonl"), 0,
        [_previous_file_untouched]),
    Row("endpoint template that renders to nothing", _nothing, lambda w: w.rendered_export(endpoint="{{ params.blank }}"),
        SurveySphereArgumentError, True, ("endpoint:", "did its template render to nothing?"), 0),
    Row("output_path template that renders to nothing", _nothing,
        lambda w: w.rendered_export(output_path="{{ params.blank }}"),
        SurveySphereArgumentError, True, ("output_path", "did its template render to nothing?"), 0),
    Row("query_params template that renders to a string that is not a mapping", _nothing,
        lambda w: w.rendered_export(query_params="{{ params.text }}"), SurveySphereArgumentError, True,
        ("query_params: rendered to 'open surveys', not a JSON object or Python dict literal",), 0),
    Row("json template that renders to a string that is not an object or array", _nothing,
        lambda w: w.rendered_export(method="POST", json="{{ params.text }}"), SurveySphereArgumentError, True,
        ("json: rendered to 'open surveys', not a JSON object or array", "pass a raw text body as data"), 0),
    # -- more connection values: refused before any request ----------------------------------------------------
    Row("verify that is neither a word nor a CA bundle", _connection(extra={"verify": "of"}), _get,
        SurveySphereConfigError, True,
        ("'surveysphere_default'", "extra.verify", "'of' is neither true/false", "existing CA bundle"), 0),
    Row("schema set", _connection(schema="api"), _get, SurveySphereConfigError, True,
        ("'surveysphere_default'", "schema: 'api' is not used", "https://host/api"), 0),
    Row("credentials in the host", _connection(host="https://user:pa55word@api.surveysphere.test"), _get,
        SurveySphereConfigError, True, ("host (Base URL)", "holds credentials"), 0, [_no_credentials_in_the_message]),
    Row("max_retries that is not a whole number", _connection(extra={"max_retries": 2.5}), _get,
        SurveySphereConfigError, True, ("extra.max_retries", "2.5 is not a whole number"), 0),
    Row("401 to a body that cannot be re-sent", _unauthorized_post, _post_a_generator, SurveySphereAPIError, False,
        ("POST /api/v1/surveys answered 401", "not re-sent with a new one", "cannot be rewound"), 2),
    # -- transient: retried by the hook, then left to the task's retries ----------------------------------
    Row("500 on every try of a data call", _always(500), _get, SurveySphereAPIError, False,
        ("GET /api/v1/surveys answered 500",), 2 + MAX_RETRIES),
    Row("429 on every try of a data call", _always(429, **{"Retry-After": "0"}), _get, SurveySphereAPIError, False,
        ("GET /api/v1/surveys answered 429",), 2 + MAX_RETRIES),
    Row("503 on every try of the token request", _token_five_oh_three, _get, SurveySphereAPIError, False,
        ("POST /connect/token answered 503",), 1 + MAX_RETRIES),
]


def _table_kinds(markdown: str, heading: str) -> set[str]:
    """The first cells of the table under ``heading``, normalized: lower case, no article, no backticks."""
    section = markdown.split(heading, 1)[1].split("\n## ", 1)[0]
    cells = re.findall(r"^\| ([^|]+?) \|", section, flags=re.MULTILINE)
    return {_normalized(cell) for cell in cells if cell.strip() not in ("Kind", "---")}


def _normalized(kind: str) -> str:
    return re.sub(r"^(a|an) ", "", kind.replace("`", "").strip().lower())


def test_the_documented_tables_list_every_row():
    root = Path(__file__).parents[2]
    documented = _table_kinds((root / "docs" / "guarantees.md").read_text(), "## Bad input")
    new_rows = _table_kinds((root / "docs" / "hardening.md").read_text(), "## Bad input")
    kinds = {_normalized(row.kind) for row in ROWS}
    assert kinds - documented - new_rows == set()  # every row is documented
    assert new_rows - kinds == set()  # and the hardening page documents no row that is not tested


@pytest.mark.parametrize("row", ROWS, ids=[row.kind.replace(" ", "_") for row in ROWS])
def test_bad_input_gives_a_clear_error(row: Row, set_connection, mocked, tmp_path, hook):
    world = World(set_connection, mocked, tmp_path, hook)
    row.arrange(world)

    with pytest.raises(Exception) as caught:
        row.act(world)

    error = caught.value
    assert type(error) is row.error, f"{row.kind}: {type(error).__name__}: {error}"
    message = str(error)
    for words in row.words:
        assert words in message, f"{row.kind}: {words!r} not in {message!r}"
    # Permanent errors fail the task at once; transient ones leave the task's retries to Airflow.
    assert isinstance(error, AirflowFailException) is row.permanent, row.kind
    assert len(mocked.calls) == row.calls, f"{row.kind}: {[c.request.url for c in mocked.calls]}"
    # No secret in any message.
    assert CLIENT_SECRET not in message and TOKEN not in message and CLIENT_SECRET not in repr(error)
    for check in row.extra_checks:
        check(world, error)
