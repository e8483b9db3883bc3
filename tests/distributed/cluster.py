"""The distributed test deployment: Airflow 3 with the CeleryExecutor on PostgreSQL and Redis, two workers, two
triggerers, outputs on moto's S3, and the helpers the scenarios share (kills, the seam, the trigger table, S3).

Built on :class:`tests.deploy.harness.Deployment` (every Airflow component a process group of its own, stopped
by pid at the end, also on failure) with a component list of its own:

* ``api-server``, ``scheduler``, ``dag-processor``;
* ``worker-a`` and ``worker-b``: ``airflow celery worker`` with a host name each (``[core] hostname_callable``
  reads ``SURVEYSPHERE_TEST_HOSTNAME``), a working folder and TMPDIR each (a local path on one is not on the
  other, as on two machines), and the test-only kill points of ``seam/sitecustomize.py`` on their PYTHONPATH;
* ``triggerer-a`` and ``triggerer-b``.

AIRFLOW_HOME (its ``logs`` folder included) is shared, as a log volume or remote logging would be. Timeouts are
lowered so that a lost task or triggerer is noticed in seconds (:data:`FAST_FAILURE_DETECTION`).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from tests.deploy.harness import Component, Deployment, DeploymentError

HERE = Path(__file__).parent
SEAM = HERE / "seam"
WORKERS = ("worker-a", "worker-b")
TRIGGERERS = ("triggerer-a", "triggerer-b")
BUCKET = "surveysphere-distributed"

#: Airflow 3.3's names for the timeouts that decide how fast a lost task or triggerer is noticed.
FAST_FAILURE_DETECTION = {
    # A task whose supervisor stopped heartbeating (its worker was killed) is failed (and retried) after 10 s,
    # looked for every second; the supervisor heartbeats every second.
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "10",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "1",
    "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
    # A triggerer that stopped heartbeating is unhealthy after 5 s and the other one takes over its triggers.
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "5",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
    # The default retry delay (5 minutes) of tasks that set none, e.g. the example DAGs'.
    "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "1",
}


def deployment(
    root: Path, dags_folder: Path, *, database_url: str, redis_url: str, result_backend: str, env: dict[str, str]
) -> Deployment:
    """The (not yet started) distributed deployment in ``root``."""
    seam_dir = root / "seam"
    seam_dir.mkdir(parents=True, exist_ok=True)
    common = {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.distributed.hostname.from_env",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
        "AIRFLOW__CELERY__BROKER_URL": redis_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": result_backend,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        **FAST_FAILURE_DETECTION,
        **env,
    }
    airflow = Deployment(root, env=common, dags_folder=dags_folder, components=[], start_timeout=300)
    airflow.components = [
        Component("api-server", ("api-server", "--host", "127.0.0.1", "--port", str(airflow.port), "--workers", "1")),
        Component("scheduler", ("scheduler",)),
        Component("dag-processor", ("dag-processor",)),
        *(
            Component(
                name,
                ("celery", "worker", "--celery-hostname", f"{name}@localhost", "--concurrency", "2",
                 "--without-mingle", "--without-gossip", "--skip-serve-logs"),
                env={
                    "SURVEYSPHERE_TEST_HOSTNAME": name,
                    "SURVEYSPHERE_TEST_SEAM_DIR": str(seam_dir),
                    "TMPDIR": str(root / name / "tmp"),
                    "PYTHONPATH": os.pathsep.join([str(SEAM), airflow.env()["PYTHONPATH"]]),
                },
                cwd=root / name,
            )
            for name in WORKERS
        ),
        *(
            Component(name, ("triggerer", "--skip-serve-logs"), env={"SURVEYSPHERE_TEST_HOSTNAME": name})
            for name in TRIGGERERS
        ),
    ]
    for name in WORKERS:
        (root / name / "tmp").mkdir(parents=True, exist_ok=True)
    return airflow


def wait_for_workers(airflow: Deployment, timeout: float = 180) -> None:
    """Wait until every running Celery worker has said it is ready (once per start, in its log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        starts = {name: sum(1 for p in airflow.processes if p.name == name) for name in WORKERS}
        ready = {
            name: airflow.process(name).log.read_text(errors="replace").count(f"{name}@localhost ready.")
            for name in WORKERS
        }
        if all(ready[name] >= starts[name] for name in WORKERS):
            return
        time.sleep(0.5)
    raise DeploymentError(f"Celery workers not ready after {timeout:.0f} s\n{airflow.diagnostics()}")


# -- kills ------------------------------------------------------------------------------------------------------


def component_of(airflow: Deployment, pid: int) -> str:
    """The name of the started component whose process tree holds ``pid``."""
    lineage = [pid] + [parent.pid for parent in psutil.Process(pid).parents()]
    for process in airflow.processes:
        if process.popen.poll() is None and process.popen.pid in lineage:
            return process.name
    raise DeploymentError(f"pid {pid} belongs to no started component")


def kill_tree(airflow: Deployment, name: str) -> list[int]:
    """SIGKILL a component's main process and every descendant at once (a lost machine); return their pids."""
    process = airflow.process(name)
    main = psutil.Process(process.popen.pid)
    victims = [main, *main.children(recursive=True)]
    for victim in victims:
        try:
            victim.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(victims, timeout=30)
    process.popen.wait(timeout=30)
    return [victim.pid for victim in victims]


def kill_pid(pid: int) -> None:
    """SIGKILL one process (a task process killed by the out-of-memory killer, say) and reap nothing else."""
    victim = psutil.Process(pid)
    victim.send_signal(signal.SIGKILL)
    psutil.wait_procs([victim], timeout=30)


# -- the seam (seam/sitecustomize.py) -----------------------------------------------------------------------------


class Seam:
    """The test's side of the workers' kill points: arm one, wait until a task process stops there."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def arm(self, point: str, dag_id: str, mode: str = "pause", **options: Any) -> None:
        self.reset(point)
        (self.folder / f"{point}.arm").write_text(json.dumps({"dag_id": dag_id, "mode": mode, **options}))

    def wait_hit(self, point: str, timeout: float = 240) -> dict[str, Any]:
        hit = self.folder / f"{point}.hit"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if hit.exists():
                return dict(json.loads(hit.read_text()))
            time.sleep(0.2)
        raise DeploymentError(f"no task process reached the kill point {point!r} within {timeout:.0f} s")

    def barrier_size(self, point: str) -> int:
        barrier = self.folder / f"{point}.barrier"
        return len(list(barrier.iterdir())) if barrier.exists() else 0

    def release(self, point: str) -> None:
        """Disarm ``point`` and let a process stopped there go on (one the test did not kill, after a failure)."""
        (self.folder / f"{point}.arm").unlink(missing_ok=True)
        (self.folder / f"{point}.release").touch()

    def reset(self, point: str) -> None:
        for path in self.folder.glob(f"{point}.*"):
            if path.is_dir():
                for child in path.iterdir():
                    child.unlink()
                path.rmdir()
            else:
                path.unlink()


# -- the metadata database ---------------------------------------------------------------------------------------


def trigger_holders(connection: Any, classpath_like: str) -> list[tuple[int, int | None, str | None]]:
    """``(trigger id, triggerer_id, that triggerer job's hostname)`` of the triggers whose class path matches."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.id, t.triggerer_id, j.hostname FROM trigger t LEFT JOIN job j ON j.id = t.triggerer_id "
            "WHERE t.classpath LIKE %s ORDER BY t.id",
            (classpath_like,),
        )
        return list(cursor.fetchall())


def wait_for_holder(connection: Any, classpath_like: str, *, not_host: str | None = None,
                    timeout: float = 120) -> tuple[int, str]:
    """Wait until one triggerer (other than ``not_host``) holds the matching trigger; ``(trigger id, host)``."""
    deadline = time.monotonic() + timeout
    rows: list[Any] = []
    while time.monotonic() < deadline:
        rows = trigger_holders(connection, classpath_like)
        held = [(trigger, host) for trigger, triggerer, host in rows if triggerer is not None and host != not_host]
        if len(rows) == 1 and held:
            return held[0]
        time.sleep(0.5)
    raise DeploymentError(f"no triggerer {'other than ' + not_host if not_host else ''} holds {classpath_like}: {rows}")


# -- S3 ----------------------------------------------------------------------------------------------------------


def incomplete_uploads(client: Any, prefix: str = "") -> list[dict[str, Any]]:
    """The multipart uploads under ``prefix`` that were neither completed nor aborted, with their parts."""
    uploads = client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads", [])
    for upload in uploads:
        parts = client.list_parts(Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"])
        upload["Parts"] = parts.get("Parts", [])
    return list(uploads)


def object_ids(client: Any, key: str) -> list[str]:
    body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return [json.loads(line)["id"] for line in body.decode().splitlines()]


def keys(client: Any, prefix: str) -> list[str]:
    listing: Iterator[dict[str, Any]] = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"] for page in listing for item in page.get("Contents", []))
