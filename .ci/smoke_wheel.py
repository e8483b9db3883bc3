"""Smoke test of the installed wheel: run it with the python of a virtualenv that holds the wheel, not the checkout.

``make smoke-wheel AIRFLOW=<line>`` creates that virtualenv and runs this script in it. It checks that the
package is imported from the virtualenv's site-packages (installed from a wheel, not editable), that
``airflow providers list`` lists it with the package's version, that ``airflow providers hooks`` registers the
``surveysphere`` connection type, and that the daily export example DAG, run by ``airflow dags test`` against the
wheel's own ``surveysphere-sandbox`` command, exports every response of its day. Everything runs in a
temporary folder (working directory, AIRFLOW_HOME, DAGs folder), and every process it starts is stopped,
also on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import distribution
from pathlib import Path

DIST_NAME = "airflow-provider-surveysphere"
DAG_ID = "surveysphere_daily_export"
LOGICAL_DATE = "2026-11-02"  # the run that exports 2026-11-01
# One survey, one response every 30 s from 2026-11-01 00:00 UTC: 2,880 of them fall on the exported day.
SANDBOX_DATA = [
    "--surveys",
    "1",
    "--responses-per-survey",
    "3000",
    "--response-interval",
    "30",
    "--start",
    "2026-11-01",
]
EXPECTED_RECORDS = 2880
BIN = Path(sys.executable).parent


class SmokeFailure(Exception):
    """A check of the installed wheel failed."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


def check_installed_from_the_wheel() -> str:
    """The package comes from this virtualenv's site-packages, installed from a wheel; return its version."""
    # The working directory is a fresh temporary folder: nothing there shadows the installed package.
    import airflow_provider_surveysphere
    from airflow_provider_surveysphere.provider_info import get_provider_info

    site_packages = Path(sysconfig.get_paths()["purelib"]).resolve()
    module_file = Path(airflow_provider_surveysphere.__file__).resolve()
    check(
        module_file.is_relative_to(site_packages),
        f"the package was imported from {module_file}, not from {site_packages}",
    )
    dist = distribution(DIST_NAME)
    direct_url = json.loads(dist.read_text("direct_url.json") or "{}")
    check(
        "archive_info" in direct_url and direct_url.get("url", "").endswith(".whl"),
        f"{DIST_NAME} was not installed from a wheel file: direct_url.json is {direct_url}",
    )
    version = airflow_provider_surveysphere.__version__
    check(dist.version == version, f"installed metadata says {dist.version}, __version__ says {version}")
    check(
        get_provider_info()["versions"] == [version], f"get_provider_info versions: {get_provider_info()['versions']}"
    )
    print(f"ok: {DIST_NAME} {version} imported from {module_file.parent} (installed from {direct_url['url']})")
    return version


class Airflow:
    """The virtualenv's ``airflow`` command with a private home, environment and working directory."""

    def __init__(self, workdir: Path, dags_folder: Path) -> None:
        self.workdir = workdir
        self.home = workdir / "airflow-home"
        self.home.mkdir()
        self.dags_folder = dags_folder

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON"))}
        env.update(
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folder),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
        )
        env.update(extra or {})
        return env

    def run(self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 900) -> str:
        result = subprocess.run(
            [str(BIN / "airflow"), *args],
            cwd=self.workdir,
            env=self.env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            output = f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            raise SmokeFailure(f"airflow {' '.join(args)} exited {result.returncode}:\n{output}")
        return result.stdout


def json_output(text: str) -> list[dict[str, str]]:
    """The JSON list an ``airflow ... -o json`` command printed (Airflow may log lines before it)."""
    start = text.find("[")
    check(start >= 0, f"no JSON list in the output:\n{text[-2000:]}")
    return json.loads(text[start:])


def check_registered(airflow: Airflow, version: str) -> None:
    providers = {p["package_name"]: p for p in json_output(airflow.run("providers", "list", "-o", "json"))}
    check(DIST_NAME in providers, f"airflow providers list does not list {DIST_NAME}: {sorted(providers)}")
    check(providers[DIST_NAME]["version"] == version, f"airflow providers list shows {providers[DIST_NAME]}")
    print(f"ok: airflow providers list shows {DIST_NAME} {version}")
    hooks = {h["connection_type"]: h for h in json_output(airflow.run("providers", "hooks", "-o", "json"))}
    check("surveysphere" in hooks, f"connection type surveysphere is not registered: {sorted(hooks)}")
    hook = hooks["surveysphere"]
    check(hook["class"] == "airflow_provider_surveysphere.hooks.surveysphere.SurveySphereHook", f"hook: {hook}")
    print(f"ok: connection type surveysphere registered ({hook['class']})")


@contextmanager
def sandbox(workdir: Path) -> Iterator[str]:
    """The wheel's ``surveysphere-sandbox`` command on a free loopback port; yields its base URL."""
    port_file = workdir / "sandbox-url"
    log = (workdir / "sandbox.log").open("w")
    process = subprocess.Popen(
        [str(BIN / "surveysphere-sandbox"), "--port", "0", "--port-file", str(port_file), *SANDBOX_DATA],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists():
            check(
                process.poll() is None,
                f"surveysphere-sandbox exited {process.returncode}: {(workdir / 'sandbox.log').read_text()}",
            )
            check(time.monotonic() < deadline, "surveysphere-sandbox did not start within 60 s")
            time.sleep(0.1)
        yield port_file.read_text().strip()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def check_example_dag(airflow: Airflow, workdir: Path) -> None:
    airflow.run("db", "migrate")
    exports = workdir / "exports"
    with sandbox(workdir) as base_url:
        connection = {
            "conn_type": "surveysphere",
            "host": base_url,
            "login": "sandbox-client",
            "password": "sandbox-secret",
        }
        started = time.monotonic()
        airflow.run(
            "dags",
            "test",
            DAG_ID,
            LOGICAL_DATE,
            env={
                "AIRFLOW_CONN_SURVEYSPHERE_DEFAULT": json.dumps(connection),
                "AIRFLOW_VAR_SURVEYSPHERE_EXPORT_BASE": str(exports),
            },
        )
        elapsed = time.monotonic() - started
    files = sorted(exports.rglob("*.jsonl"))
    check(len(files) == 1, f"expected one export file under {exports}, found {files}")
    ids = [json.loads(line)["id"] for line in files[0].read_text().splitlines()]
    check(
        len(ids) == EXPECTED_RECORDS and len(set(ids)) == EXPECTED_RECORDS,
        f"{files[0]} holds {len(ids)} records ({len(set(ids))} distinct), expected {EXPECTED_RECORDS}",
    )
    where = files[0].relative_to(workdir)
    print(f"ok: airflow dags test {DAG_ID} exported {len(ids):,} records to {where} in {elapsed:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dag-file", type=Path, required=True, help=f"the {DAG_ID} example DAG file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder, for a look after a failure")
    args = parser.parse_args(argv)
    dag_file = args.dag_file.resolve(strict=True)
    workdir = Path(tempfile.mkdtemp(prefix="surveysphere-smoke-")).resolve()
    try:
        os.chdir(workdir)
        dags_folder = workdir / "dags"
        dags_folder.mkdir()
        shutil.copy(dag_file, dags_folder)
        version = check_installed_from_the_wheel()
        airflow = Airflow(workdir, dags_folder)
        check_registered(airflow, version)
        check_example_dag(airflow, workdir)
    except SmokeFailure as failure:
        kept = f"its files are in {workdir}" if args.keep else "rerun with --keep to look at its files"
        print(f"SMOKE TEST FAILED: {failure}\n({kept})", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
