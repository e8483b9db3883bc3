"""Sandbox settings: :class:`SandboxConfig`, its validation and conversion helpers, the default start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_surveysphere.sandbox.data import Dataset, format_timestamp, parse_timestamp

__all__ = [
    "DEFAULT_RESPONSES", "DEFAULT_RESPONSE_INTERVAL", "DEFAULT_START", "ENDS_NOW", "SandboxConfig", "recent_start",
]

DEFAULT_START = datetime(2026, 11, 1, tzinfo=timezone.utc)  # what tests pin; the default start is recent_start()
DEFAULT_RESPONSES = 14 * 24 * 60
DEFAULT_RESPONSE_INTERVAL = 60.0


#: The default of ``start``: replaced by :func:`recent_start` for the config's own count and interval.
ENDS_NOW = datetime(1, 1, 1, tzinfo=timezone.utc)


def recent_start(responses: int = DEFAULT_RESPONSES, interval: float = DEFAULT_RESPONSE_INTERVAL) -> datetime:
    """The start that makes the last of ``responses`` responses, ``interval`` seconds apart, the current minute.

    The default data then ends now (none is submitted in the future) and covers the 14 days before it, so
    "yesterday" and today so far have responses.

    :param responses: responses in each survey
    :param interval: seconds between two responses
    """
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    return now - timedelta(seconds=interval * max(responses - 1, 0))


@dataclass
class SandboxConfig:
    """Credentials, data shape and failure knobs of a sandbox; mutable while the server runs.

    Failure knobs are off by default. The ``*_every`` knobs count data requests that carried a
    valid token (since start or the last reset), so their effect is reproducible; when several
    fire on the same request, a drop wins over a 429, which wins over a 500.

    :param client_id: the client id the token endpoint accepts.
    :param client_secret: the client secret the token endpoint accepts.
    :param token_lifetime: seconds an issued token stays valid (fractions allowed).
    :param surveys: number of surveys.
    :param responses_per_survey: responses in each survey (generated lazily, millions are fine); the
        default, one a minute for 14 days from ``start``, covers the 14 days up to now.
    :param start: submission time of each survey's first response; by default the time that makes the last
        response the current minute (:func:`recent_start`): the data ends now, none is in the future.
    :param response_interval: seconds between consecutive responses of a survey.
    :param seed: makes the generated data and ``error_rate`` draws reproducible.
    :param token_endpoint_failures: the next this many token requests answer 503 (counts down).
    :param error_rate: fraction of data requests answered 500, drawn from ``random.Random(seed)``.
    :param error_every: every Nth data request answers 500 (0 = off).
    :param rate_limit_every: every Nth data request answers 429 with ``Retry-After`` (0 = off).
    :param retry_after: whole seconds sent in ``Retry-After`` with a 429.
    :param latency: seconds of delay added to every token and data request.
    :param drop_every: every Nth data request closes the connection without answering (0 = off).
    :param revoke_after: revoke a token once this many data requests were made with it (0 = off).
    :param revoke_times: how many tokens ``revoke_after`` revokes in all (0 = no limit).
    :param latency_jitter: up to this many more seconds of delay, drawn per request (uniform, seeded).
    :param concurrency_limit: a request arriving while this many are in flight answers 429 with
        ``Retry-After`` at once, without the latency (0 = no limit).
    :param close_survey: a survey whose status turns ``closed`` at ``close_at`` (empty = none).
    :param close_at: ISO 8601 time at which ``close_survey`` closes (empty = stays open until set).
    :param live_survey: a survey whose responses keep arriving: only its first ``live_visible`` exist.
    :param live_visible: how many of ``live_survey``'s responses have arrived (grows with ``/__sandbox/arrive``).
    :param page_cache: keep this many answered pages of responses, encoded, and answer them again from memory
        (least recently used first out; 0 = build every page). Generating and encoding a page of 500 records
        costs the sandbox more CPU than reading it costs a client, so a benchmark on a small machine turns
        this on to measure its client rather than the sandbox.
    :param indent: pretty-print data answers with this many spaces of indent, a line break inside every
        record (0 = compact JSON, the default).
    """

    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"
    token_lifetime: float = 3600.0
    surveys: int = 3
    responses_per_survey: int = DEFAULT_RESPONSES
    start: datetime = ENDS_NOW
    response_interval: float = DEFAULT_RESPONSE_INTERVAL
    seed: int = 0
    token_endpoint_failures: int = 0
    error_rate: float = 0.0
    error_every: int = 0
    rate_limit_every: int = 0
    retry_after: int = 1
    latency: float = 0.0
    drop_every: int = 0
    revoke_after: int = 0
    revoke_times: int = 1
    latency_jitter: float = 0.0
    concurrency_limit: int = 0
    close_survey: str = ""
    close_at: str = ""
    live_survey: str = ""
    live_visible: int = 0
    page_cache: int = 0
    indent: int = 0

    def __post_init__(self) -> None:
        if self.start == ENDS_NOW:
            self.start = recent_start(self.responses_per_survey, self.response_interval)
        self.validate()

    def validate(self) -> None:
        """Raise ValueError if a field holds an impossible value."""
        if self.response_interval <= 0:
            raise ValueError("response_interval must be positive")
        if not 0 <= self.error_rate <= 1:
            raise ValueError("error_rate must be between 0 and 1")
        for name in ("surveys", "responses_per_survey", "token_endpoint_failures", "error_every",
                     "rate_limit_every", "retry_after", "drop_every", "revoke_after", "revoke_times",
                     "concurrency_limit", "page_cache", "indent"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.token_lifetime < 0 or self.latency < 0 or self.latency_jitter < 0:
            raise ValueError("token_lifetime, latency and latency_jitter must not be negative")
        _validate_waiting_fields(self)

    def update(self, values: Mapping[str, Any]) -> None:
        """Set fields from JSON-style values (``start`` may be an ISO 8601 string), all or none.

        :param values: field names mapped to new values.
        :raises ValueError: for an unknown field, a value of the wrong type or an impossible value.
        """
        types = {f.name: str(f.type) for f in fields(self)}  # annotations are strings here
        converted = {}
        for name, value in values.items():
            if name not in types:
                raise ValueError(f"unknown config field {name!r}")
            converted[name] = _convert_field(name, types[name], value)
        replace(self, **converted)  # validates the combination before anything changes
        for name, value in converted.items():
            setattr(self, name, value)

    def to_json(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict, without ``client_secret``."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "client_secret"}
        values["start"] = format_timestamp(self.start)
        return values

    def dataset(self) -> Dataset:
        """The data set these settings describe."""
        return Dataset(
            seed=self.seed,
            surveys=self.surveys,
            responses_per_survey=self.responses_per_survey,
            start=self.start,
            response_interval=self.response_interval,
        )


def _validate_waiting_fields(config: SandboxConfig) -> None:
    """The fields of the waiting examples: a survey that closes, a survey whose responses keep arriving."""
    if config.close_at:
        parse_timestamp(config.close_at)  # ValueError names the text
    if config.live_visible < 0:
        raise ValueError("live_visible must not be negative")


def _survey_status(config: SandboxConfig, survey: dict[str, Any]) -> dict[str, Any]:
    """``survey`` with the status ``close_survey``/``close_at`` give it now."""
    if config.close_survey and survey["id"] == config.close_survey:
        closed = bool(config.close_at) and datetime.now(timezone.utc) >= parse_timestamp(config.close_at)
        survey = {**survey, "status": "closed" if closed else "open"}
    return survey


def _convert_field(name: str, type_name: str, value: Any) -> Any:
    if type_name == "datetime":
        if not isinstance(value, str):
            raise ValueError(f"{name} must be an ISO 8601 string")
        return parse_timestamp(value)
    if type_name == "str":
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number")
    if type_name == "int" and not isinstance(value, int):
        raise ValueError(f"{name} must be an integer")
    return value
