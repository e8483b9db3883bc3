"""Registering a token with Airflow's masker never writes the token anywhere.

Airflow 3.0's ``mask_secret`` sends ``MaskSecret(value=...)`` to the supervisor before it registers the value,
and the in-process channel of ``airflow dags test`` logs every message it sends, unmasked (structlog is left
unconfigured there). Under that channel the provider registers the value with the process's masker and sends
nothing. These tests put a real ``InProcessSupervisorComms`` in place, as ``dags test`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import version
from typing import Any
from unittest import mock

import pytest

from airflow_provider_surveysphere._compat import mask_secret

AIRFLOW_LINE = tuple(int(part) for part in version("apache-airflow").split(".")[:2])
TOKEN = "tok-Never-In-A-Log-9f3b2c"

pytestmark = pytest.mark.skipif(AIRFLOW_LINE < (3, 0), reason="Airflow 2 has no supervisor channel")


@pytest.fixture
def in_process_comms(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The channel ``dags test`` gives a task: messages go to a supervisor in this same process."""
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.supervisor import InProcessSupervisorComms

    supervisor = mock.Mock()
    comms = InProcessSupervisorComms(supervisor=supervisor)
    supervisor._handle_request.side_effect = lambda *args, **kwargs: comms.messages.append(None)
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", comms, raising=False)
    yield comms


@pytest.mark.skipif(AIRFLOW_LINE != (3, 0), reason="Airflow 3.1+ registers a value before sending it")
def test_on_airflow_3_0_dags_test_the_token_is_masked_without_a_message_that_logs_it(in_process_comms):
    import structlog  # Airflow 3's logging library; Airflow 2.11 does not install it

    from airflow.sdk.execution_time.secrets_masker import redact

    with structlog.testing.capture_logs() as logged:
        mask_secret(TOKEN)

    assert [event for event in logged if TOKEN in repr(event)] == []
    in_process_comms.supervisor._handle_request.assert_not_called()
    assert redact(f"Authorization: Bearer {TOKEN}") == "Authorization: Bearer ***"


@pytest.mark.skipif(AIRFLOW_LINE == (3, 0), reason="the Airflow 3.0 case is the test above")
def test_on_other_airflow_3_lines_the_supervisor_is_told_as_airflow_does(in_process_comms):
    mask_secret(TOKEN)

    message = in_process_comms.supervisor._handle_request.call_args.args[0]
    assert type(message).__name__ == "MaskSecret" and message.value == TOKEN
