"""A real Airflow deployment for tests: every component in its own process, talking over loopback.

:class:`Deployment` starts what ``airflow standalone`` starts, each as a separate process group:

* Airflow 3: ``api-server`` (REST API, UI and the task execution API), ``scheduler`` with the
  LocalExecutor, ``dag-processor`` and ``triggerer``; the simple auth manager with every user an admin,
  so a JWT comes from ``GET /auth/token``.
* Airflow 2.11: ``webserver`` (REST API ``/api/v1`` with the basic-auth backend and an ``admin`` user),
  ``scheduler`` and ``triggerer``. Airflow 2 refuses the LocalExecutor on SQLite, so this line runs the
  SequentialExecutor, as ``airflow standalone`` does on SQLite.

Everything is private to one folder: AIRFLOW_HOME, the SQLite database, the logs of each process; every
port (API, worker and triggerer log servers) is a free loopback port chosen at start. Another executor,
database or set of components (two Celery workers and two triggerers, say: tests/distributed) is a matter of
``env`` overrides and a list of :class:`Component` s; :meth:`Deployment.restart` starts a killed one again. :meth:`Deployment.stop`
ends every process it started and their children (SIGTERM, then SIGKILL), and runs at interpreter exit too.

Use it from tests through ``tests/deploy/fixtures.py`` (one deployment per test session), or by hand::

    with Deployment(tmp, env={"AIRFLOW_CONN_SURVEYSPHERE_DEFAULT": ...}) as airflow:
        run_id = airflow.trigger("surveysphere_adhoc_call")
        airflow.wait_for_run("surveysphere_adhoc_call", run_id)
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import psutil
import requests

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "dags_examples"
AIRFLOW_VERSION = version("apache-airflow")
AIRFLOW_3 = int(AIRFLOW_VERSION.split(".")[0]) >= 3
ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-" + secrets.token_hex(4)  # Airflow 2.11's basic-auth user; a test-only value
FINISHED = frozenset({"success", "failed"})


class DeploymentError(RuntimeError):
    """The deployment did not start, or a wait ran out; the message carries the processes' log tails."""


def free_port() -> int:
    """A loopback port that is free now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Component:
    """One Airflow process to start: ``airflow <args>``, with environment additions and a working folder.

    :param name: unique within a deployment; names its log file (``processes/<name>.log``)
    :param args: the arguments after ``airflow``
    :param env: added to the deployment's environment for this process only
    :param cwd: its working folder (the deployment's root by default)
    """

    name: str
    args: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None


@dataclass
class Process:
    """One started component: its command, its process and the file its output goes to."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    component: Component | None = None

    def tail(self, chars: int = 3000) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} (pid {self.popen.pid}, exit {self.popen.poll()}) {self.log}\n{text[-chars:]}"


class Deployment:
    """A running Airflow deployment in ``root``, with a client for its REST API.

    :param root: a private, empty folder for AIRFLOW_HOME, logs and exports
    :param env: extra environment for every component (connections, variables, config overrides)
    :param dags_folder: the DAG files to serve
    :param start_timeout: seconds to wait for every component to report healthy
    :param components: the processes to start (by default what ``airflow standalone`` starts, see above)
    """

    def __init__(
        self,
        root: Path,
        *,
        env: Mapping[str, str] | None = None,
        dags_folder: Path = DAGS_FOLDER,
        start_timeout: float = 240,
        components: Sequence[Component] | None = None,
    ) -> None:
        self.root = root
        self.home = root / "airflow-home"
        self.process_logs = root / "processes"
        self.dags_folder = dags_folder
        self.start_timeout = start_timeout
        self.extra_env = dict(env or {})
        self.components = list(components) if components is not None else None
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.processes: list[Process] = []
        self.session = requests.Session()
        self._stopped = False

    # -- environment -------------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The environment of every Airflow process: private home, loopback ports, shared secrets."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRFLOW__", "_AIRFLOW"))
        }
        env.update(
            HOME=str(self.root),  # e.g. gunicorn's control socket goes to $HOME/.gunicorn: keep it private
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folder),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__TEST_CONNECTION="Enabled",
            AIRFLOW__CORE__PARALLELISM="4",
            AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
            AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
            AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
            AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK="False",
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])),
            PYTHONUNBUFFERED="1",
            # The SequentialExecutor and LocalExecutor of 2.11 run `airflow` from PATH: this interpreter's.
            PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        )
        secret = self._secret()
        if AIRFLOW_3:
            env.update(
                AIRFLOW__CORE__EXECUTOR="LocalExecutor",
                AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.base_url}/execution/",
                AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
                AIRFLOW__API__BASE_URL=self.base_url,
                AIRFLOW__API__HOST="127.0.0.1",
                AIRFLOW__API__PORT=str(self.port),
                AIRFLOW__API__WORKERS="1",
                AIRFLOW__API__SECRET_KEY=secret,
                AIRFLOW__API_AUTH__JWT_SECRET=secret,
                AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            )
        else:
            env.update(
                AIRFLOW__CORE__EXECUTOR="SequentialExecutor",
                AIRFLOW__API__AUTH_BACKENDS="airflow.api.auth.backend.basic_auth,airflow.api.auth.backend.session",
                AIRFLOW__WEBSERVER__BASE_URL=self.base_url,
                AIRFLOW__WEBSERVER__WEB_SERVER_HOST="127.0.0.1",
                AIRFLOW__WEBSERVER__WEB_SERVER_PORT=str(self.port),
                AIRFLOW__WEBSERVER__WORKERS="1",
                AIRFLOW__WEBSERVER__SECRET_KEY=secret,
                AIRFLOW__WEBSERVER__WARN_DEPLOYMENT_EXPOSURE="False",
                AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL="5",
            )
        env.update(self.extra_env)
        return env

    def _secret(self) -> str:
        path = self.root / ".secret"
        if not path.exists():
            path.write_text(secrets.token_hex(32))
        return path.read_text()

    def cli(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``airflow <args>`` against this deployment's home (output captured)."""
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env(), capture_output=True, text=True, timeout=timeout, check=False,
        )
        if check and result.returncode != 0:
            raise DeploymentError(
                f"airflow {' '.join(args)} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> Deployment:
        """Migrate the database, start every component and wait until the API says they are healthy."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.process_logs.mkdir(parents=True, exist_ok=True)
        atexit.register(self.stop)
        try:
            self.cli("db", "migrate")
            if not AIRFLOW_3:
                self.cli(
                    "users", "create", "--role", "Admin", "--username", ADMIN_USER, "--password", ADMIN_PASSWORD,
                    "--firstname", "Test", "--lastname", "Admin", "--email", "admin@example.invalid",
                )
            for component in self.components if self.components is not None else self.default_components():
                self.spawn(component)
            self._wait_healthy()
            self._authenticate()
        except BaseException:
            self.stop()
            raise
        return self

    def default_components(self) -> list[Component]:
        """What ``airflow standalone`` starts on this Airflow line, each as a process of its own."""
        if AIRFLOW_3:
            return [
                Component("api-server", ("api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1")),
                Component("scheduler", ("scheduler",)),
                Component("dag-processor", ("dag-processor",)),
                Component("triggerer", ("triggerer",)),
            ]
        return [
            Component("webserver", ("webserver", "--hostname", "127.0.0.1", "--port", str(self.port), "--workers", "1")),
            Component("scheduler", ("scheduler",)),
            Component("triggerer", ("triggerer",)),
        ]

    def spawn(self, component: Component) -> Process:
        """Start one component (its output appended to its log file); return it."""
        log = self.process_logs / f"{component.name}.log"
        cwd = component.cwd or self.root
        cwd.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "airflow", *component.args],
                env={**self.env(), **component.env}, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=cwd, start_new_session=True,  # its own process group: stop() ends all of it
            )
        process = Process(component.name, popen, log, component)
        self.processes.append(process)
        return process

    def _spawn(self, name: str, args: list[str]) -> None:
        self.spawn(Component(name, tuple(args)))

    def process(self, name: str) -> Process:
        """The running process of the component ``name`` (the newest, after a restart)."""
        running = [p for p in self.processes if p.name == name and p.popen.poll() is None]
        if not running:
            raise self._fail(f"component {name} is not running")
        return running[-1]

    def restart(self, name: str) -> Process:
        """Start the component ``name`` again, as it was first started (after it was stopped or killed)."""
        if any(p.name == name and p.popen.poll() is None for p in self.processes):
            raise self._fail(f"component {name} is still running")
        started = [p.component for p in self.processes if p.name == name and p.component is not None]
        if not started:
            raise self._fail(f"no component {name} was started")
        return self.spawn(started[-1])

    def stop(self) -> None:
        """End every started process and all their descendants; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        self.session.close()
        victims: list[psutil.Process] = []
        for process in self.processes:
            try:
                parent = psutil.Process(process.popen.pid)
                victims += [parent, *parent.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
            try:
                os.killpg(process.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for victim in victims:
            try:
                victim.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(victims, timeout=20)
        for victim in alive:
            try:
                victim.kill()
            except psutil.NoSuchProcess:
                pass
        for process in self.processes:
            try:
                os.killpg(process.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                process.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        psutil.wait_procs(alive, timeout=5)
        atexit.unregister(self.stop)

    def __enter__(self) -> Deployment:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def alive(self) -> list[str]:
        """Names of the started components still running."""
        return [p.name for p in self.processes if p.popen.poll() is None]

    def diagnostics(self) -> str:
        """The tail of every component's output, for failure messages."""
        return "\n".join(p.tail() for p in self.processes)

    def _fail(self, message: str) -> DeploymentError:
        return DeploymentError(f"{message}\n{self.diagnostics()}")

    def _wait_healthy(self) -> None:
        wanted = ("metadatabase", "scheduler", "triggerer") + (("dag_processor",) if AIRFLOW_3 else ())
        url = f"{self.base_url}/api/v2/monitor/health" if AIRFLOW_3 else f"{self.base_url}/health"
        deadline = time.monotonic() + self.start_timeout
        last: Any = None
        while time.monotonic() < deadline:
            dead = [p.name for p in self.processes if p.popen.poll() is not None]
            if dead:
                raise self._fail(f"Airflow component(s) exited during start: {', '.join(dead)}")
            try:
                last = requests.get(url, timeout=5).json()
                if all((last.get(name) or {}).get("status") == "healthy" for name in wanted):
                    return
            except (requests.RequestException, ValueError):
                pass
            time.sleep(1)
        raise self._fail(f"Airflow was not healthy after {self.start_timeout:.0f} s; last health answer: {last}")

    def _authenticate(self) -> None:
        if AIRFLOW_3:
            # The simple auth manager with all_admins hands out a JWT without credentials.
            response = requests.get(f"{self.base_url}/auth/token", timeout=30)
            response.raise_for_status()
            self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        else:
            self.session.auth = (ADMIN_USER, ADMIN_PASSWORD)

    # -- REST API ----------------------------------------------------------------------------------------

    @property
    def api(self) -> str:
        """The REST API's root URL."""
        return f"{self.base_url}/api/v2" if AIRFLOW_3 else f"{self.base_url}/api/v1"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One call to the REST API (``path`` relative to :attr:`api`); the answer is not checked."""
        kwargs.setdefault("timeout", 60)
        return self.session.request(method, f"{self.api}/{path.lstrip('/')}", **kwargs)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One call to the REST API; its JSON, or an error naming the call and the answer."""
        response = self.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise DeploymentError(f"{method} {path} answered {response.status_code}: {response.text[:2000]}")
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> dict[str, Any]:
        """Wait until the DAG processor has parsed ``dag_id``; fail with the import errors otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.request("GET", f"dags/{dag_id}")
            if response.status_code == 200:
                return response.json()
            time.sleep(1)
        errors = self.request("GET", "importErrors").text[:3000]
        raise self._fail(f"DAG {dag_id} was not parsed within {timeout:.0f} s; import errors: {errors}")

    def unpause(self, dag_id: str) -> None:
        """Unpause ``dag_id`` (the scheduler then creates its due scheduled run, if any)."""
        self.call("PATCH", f"dags/{dag_id}", params={"update_mask": "is_paused"}, json={"is_paused": False})

    def pause(self, dag_id: str) -> None:
        """Pause ``dag_id``."""
        self.call("PATCH", f"dags/{dag_id}", params={"update_mask": "is_paused"}, json={"is_paused": True})

    def trigger(
        self, dag_id: str, *, conf: Mapping[str, Any] | None = None, logical_date: str | None = None,
        run_id: str | None = None,
    ) -> str:
        """Trigger a run through the REST API; return its run id. No logical date: the API's default; no run id:
        one Airflow makes up."""
        body: dict[str, Any] = {"conf": dict(conf or {})}
        if run_id is not None:
            body["dag_run_id"] = run_id
        if AIRFLOW_3:
            body["logical_date"] = logical_date  # required by the v2 API; null lets Airflow 3 leave it unset
        elif logical_date is not None:
            body["logical_date"] = logical_date
        return self.call("POST", f"dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        """Every run of ``dag_id``."""
        return self.call("GET", f"dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """One run of ``dag_id``."""
        return self.call("GET", f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> dict[str, Any]:
        """Wait until the run has finished (success or failed); return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(dag_id, run_id)
            if run["state"] in FINISHED:
                return run
            time.sleep(1)
        raise self._fail(f"run {run_id} of {dag_id} did not finish within {timeout:.0f} s: {self.run(dag_id, run_id)}")

    def wait_for_all_runs(self, dag_id: str, min_runs: int = 1, timeout: float = 300) -> list[dict[str, Any]]:
        """Wait until ``dag_id`` has at least ``min_runs`` runs and none is queued or running; return every run."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.runs(dag_id)
            if len(runs) >= min_runs and all(run["state"] in FINISHED for run in runs):
                return runs
            time.sleep(1)
        raise self._fail(f"runs of {dag_id} did not finish within {timeout:.0f} s: {self.runs(dag_id)}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The task instances of one run (mapped instances one by one)."""
        answer = self.call("GET", f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances", params={"limit": 100})
        return answer["task_instances"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        """The log of one task try, as the REST API serves it."""
        path = f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/logs/{try_number}"
        params: dict[str, Any] = {"full_content": "true", "map_index": map_index}
        if AIRFLOW_3:
            answer = self.call("GET", path, params=params, headers={"Accept": "application/json"})
            content = answer["content"]
            return "\n".join(json.dumps(line) if not isinstance(line, str) else line for line in content)
        response = self.request("GET", path, params=params, headers={"Accept": "text/plain"})
        if response.status_code >= 400:
            raise DeploymentError(f"GET {path} answered {response.status_code}: {response.text[:2000]}")
        return response.text

    def run_logs(self, dag_id: str, run_id: str) -> dict[str, str]:
        """Every try's log of every task instance of a run, keyed ``task_id[map_index]#try``."""
        logs = {}
        for ti in self.task_instances(dag_id, run_id):
            for try_number in range(1, (ti.get("try_number") or 0) + 1):
                key = f"{ti['task_id']}[{ti['map_index']}]#{try_number}"
                logs[key] = self.task_log(dag_id, run_id, ti["task_id"], try_number, ti["map_index"])
        return logs
