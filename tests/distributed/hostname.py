"""``[core] hostname_callable`` of the distributed test deployment: each process's host name from the environment.

Both Celery workers and both triggerers run on this one machine; ``SURVEYSPHERE_TEST_HOSTNAME`` gives each the
name a machine of its own would have (``worker-a``, ``triggerer-b``, ...), which Airflow records on the task
instances and the triggerer jobs.
"""

from __future__ import annotations

import os
import socket


def from_env() -> str:
    return os.environ.get("SURVEYSPHERE_TEST_HOSTNAME") or socket.getfqdn()
