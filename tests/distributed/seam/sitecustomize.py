"""Test-only kill points, loaded only by the distributed test deployment's Celery workers (on their PYTHONPATH).

Python imports ``sitecustomize`` at start; this one installs an import hook that wraps three functions when
their modules are first imported, so that a task process can stop at a chosen point and tell the test so:

* ``execute``: the start of ``SurveySphereOperator.execute`` (before the first page is requested);
* ``part_uploaded``: s3fs has just uploaded a part of a multipart upload (not the last one);
* ``commit``: s3fs is about to complete the upload (every part uploaded, ``CompleteMultipartUpload`` or the
  single ``PutObject`` not sent yet): the writer's final commit.

A point does nothing unless the test armed it for the running task's DAG (and, if given, DAG run):
``<seam dir>/<point>.arm`` holds ``{"dag_id": ..., "run_id": ..., "mode": "pause"}`` or
``{"dag_id": ..., "mode": "barrier", "parties": 2}``. ``pause``: the first
task process to get there claims the arm file (a rename: exactly one wins), writes ``<point>.hit`` with its pid
and waits until ``<point>.release`` exists (the test kills it before that). ``barrier``: each process adds itself
to ``<point>.barrier/`` and waits until ``parties`` processes are there (at most ``timeout`` seconds).
Nothing of this is in the provider: the product has no test flag.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SEAM_DIR = os.environ.get("SURVEYSPHERE_TEST_SEAM_DIR")


def reach(point: str) -> None:
    """Stop here if the test armed ``point`` for this task's DAG."""
    if not SEAM_DIR:
        return
    folder = Path(SEAM_DIR)
    arm = folder / f"{point}.arm"
    try:
        spec = json.loads(arm.read_text())
    except (FileNotFoundError, ValueError):
        return
    if spec.get("dag_id") != os.environ.get("AIRFLOW_CTX_DAG_ID"):
        return
    if spec.get("run_id") not in (None, os.environ.get("AIRFLOW_CTX_DAG_RUN_ID")):
        return
    if spec["mode"] == "pause":
        try:
            os.rename(arm, folder / f"{point}.taken-{os.getpid()}")
        except FileNotFoundError:
            return  # another process claimed it
        hit = folder / f"{point}.hit"
        temporary = folder / f".{point}.hit.{os.getpid()}"
        temporary.write_text(json.dumps({"pid": os.getpid(), "run_id": os.environ.get("AIRFLOW_CTX_DAG_RUN_ID")}))
        os.rename(temporary, hit)
        while not (folder / f"{point}.release").exists():
            time.sleep(0.1)
    elif spec["mode"] == "barrier":
        barrier = folder / f"{point}.barrier"
        barrier.mkdir(exist_ok=True)
        (barrier / str(os.getpid())).touch()
        deadline = time.monotonic() + float(spec.get("timeout", 120))
        while len(list(barrier.iterdir())) < int(spec["parties"]) and time.monotonic() < deadline:
            time.sleep(0.1)


def _before(function: Callable[..., Any], point: str) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        reach(point)
        return function(*args, **kwargs)

    return wrapper


def _patch_operator(module: Any) -> None:
    cls = module.SurveySphereOperator
    cls.execute = _before(cls.execute, "execute")


def _patch_s3fs(module: Any) -> None:
    cls = module.S3File
    upload_chunk = cls._upload_chunk

    @functools.wraps(upload_chunk)
    def _upload_chunk(self: Any, final: bool = False) -> Any:
        result = upload_chunk(self, final)
        if not final and self.parts:
            reach("part_uploaded")
        return result

    cls._upload_chunk = _upload_chunk
    cls.commit = _before(cls.commit, "commit")


PATCHES: dict[str, Callable[[Any], None]] = {
    "airflow_provider_surveysphere.operators.surveysphere": _patch_operator,
    "s3fs.core": _patch_s3fs,
}


def _patch_when_executed(loader: Any, patch: Callable[[Any], None]) -> None:
    execute = loader.exec_module

    def exec_module(module: Any) -> None:
        execute(module)
        patch(module)

    loader.exec_module = exec_module


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    """Finds a patched module with the next finders and wraps its loader to patch it once executed."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        patch = PATCHES.get(name)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                _patch_when_executed(spec.loader, patch)
                return spec
        return None


if SEAM_DIR:
    sys.meta_path.insert(0, _PatchAfterImport())
