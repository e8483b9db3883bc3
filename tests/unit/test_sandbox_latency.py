"""The sandbox's knobs for a latency-bound server: jittered latency and a concurrency limit (real servers on 127.0.0.1)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from airflow_provider_surveysphere.sandbox import SandboxConfig, SandboxServer

from tests.unit.test_sandbox import start_cli, token_for


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


def test_a_request_past_the_concurrency_limit_answers_429_with_retry_after(sandbox: SandboxServer) -> None:
    token = token_for(sandbox)
    sandbox.config.update({"concurrency_limit": 2, "latency": 0.5, "retry_after": 3})
    barrier = threading.Barrier(4)
    answers: list[requests.Response] = []

    def call() -> None:
        barrier.wait()
        answers.append(requests.get(f"{sandbox.base_url}/api/v1/surveys",
                                    headers={"Authorization": f"Bearer {token}"}, timeout=10))

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(answer.status_code for answer in answers) == [200, 200, 429, 429]
    limited = [answer for answer in answers if answer.status_code == 429]
    assert all(answer.headers["Retry-After"] == "3" for answer in limited)
    assert "more than 2 requests in flight" in limited[0].json()["error_description"]
    assert sandbox.stats["statuses"] == {"200": 3, "429": 2}  # the token request too


def test_jitter_is_drawn_per_request_within_bounds_and_reproducible(sandbox: SandboxServer) -> None:
    sandbox.config.update({"latency": 0.02, "latency_jitter": 0.05, "seed": 7})
    sandbox.reset()
    first = [sandbox._state.delay() for _ in range(50)]
    sandbox.reset()
    second = [sandbox._state.delay() for _ in range(50)]

    assert first == second
    assert all(0.02 <= delay <= 0.07 for delay in first)
    assert len(set(first)) == 50


@pytest.mark.parametrize("field", ["latency_jitter", "concurrency_limit"])
def test_negative_knobs_are_refused(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SandboxConfig(**{field: -1})


def test_cli_sets_latency_and_the_concurrency_limit(tmp_path: Path) -> None:
    process, url = start_cli(tmp_path, "--latency", "0.01", "--latency-jitter", "0.02",
                             "--concurrency-limit", "4", "--retry-after", "2")
    try:
        config = requests.get(f"{url}/__sandbox/config", timeout=5).json()
    finally:
        process.terminate()
        process.communicate(timeout=30)

    assert (config["latency"], config["latency_jitter"], config["concurrency_limit"], config["retry_after"]) == (
        0.01, 0.02, 4, 2)
