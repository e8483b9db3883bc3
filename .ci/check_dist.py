"""Check the built sdist and wheel: what they hold and the metadata a package registry shows.

``make dist`` runs it after ``python -m build`` and ``twine check``; it exits non-zero and names every
problem it finds. Run it by hand with ``.venv/dist/bin/python .ci/check_dist.py dist``.
"""

from __future__ import annotations

import argparse
import ast
import sys
import tarfile
import zipfile
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath

from trove_classifiers import classifiers as KNOWN_CLASSIFIERS

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_surveysphere"
DIST_NAME = "airflow-provider-surveysphere"
# Files the wheel must hold besides the Python modules: the typing marker and the sandbox's CLI.
REQUIRED_IN_WHEEL = {f"{PACKAGE}/py.typed", f"{PACKAGE}/sandbox/__init__.py", f"{PACKAGE}/sandbox/__main__.py"}
SDIST_TOP_LEVEL = {
    "PKG-INFO",
    "pyproject.toml",
    "setup.cfg",
    "MANIFEST.in",
    "README.md",
    "CHANGELOG.md",
    "LICENSE",
    PACKAGE,
    f"{PACKAGE}.egg-info",
    "tests",
    "dags_examples",
    "docs",
}
SDIST_REQUIRED = {
    "PKG-INFO",
    "pyproject.toml",
    "README.md",
    "CHANGELOG.md",
    "LICENSE",
    PACKAGE,
    "tests",
    "dags_examples",
}
REQUIRED_CLASSIFIERS = {
    "Framework :: Apache Airflow",
    "Framework :: Apache Airflow :: Provider",
    "Typing :: Typed",  # the wheel ships py.typed
}


def source_version() -> str:
    """``__version__`` as written in the package's ``__init__.py``, read without importing it."""
    tree = ast.parse((REPO / PACKAGE / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__version__"]:
            return ast.literal_eval(node.value)
    raise SystemExit(f"no __version__ in {PACKAGE}/__init__.py")


def source_package_files() -> set[str]:
    """Every file of the package in the checkout, as wheel paths (bytecode caches and hidden files aside)."""
    root = REPO / PACKAGE
    files = set()
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if (
            path.is_file()
            and path.suffix != ".pyc"
            and not any(part == "__pycache__" or part.startswith(".") for part in relative.parts)
        ):
            files.add(f"{PACKAGE}/{relative.as_posix()}")
    return files


def check_metadata(metadata: Message, version: str, where: str) -> list[str]:
    problems = []

    def expect(field: str, wanted: str) -> None:
        if metadata.get(field) != wanted:
            problems.append(f"{where}: {field} is {metadata.get(field)!r}, expected {wanted!r}")

    expect("Name", DIST_NAME)
    expect("Version", version)
    expect("License-Expression", "Apache-2.0")
    expect("License-File", "LICENSE")
    expect("Requires-Python", ">=3.10")
    expect("Description-Content-Type", "text/markdown")
    classifiers = set(metadata.get_all("Classifier") or [])
    problems += [f"{where}: unknown trove classifier {c!r}" for c in sorted(classifiers - set(KNOWN_CLASSIFIERS))]
    problems += [f"{where}: missing classifier {c!r}" for c in sorted(REQUIRED_CLASSIFIERS - classifiers)]
    if not any(r.startswith("apache-airflow>=") for r in metadata.get_all("Requires-Dist") or []):
        problems.append(f"{where}: no apache-airflow requirement")
    if not (metadata.get_payload() or "").lstrip().startswith(f"# {DIST_NAME}"):
        problems.append(f"{where}: the long description is not the README")
    return problems


def check_wheel(wheel: Path, version: str) -> list[str]:
    dist_info = f"{PACKAGE}-{version}.dist-info"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = HeaderParser().parsestr(archive.read(f"{dist_info}/METADATA").decode())
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    problems = []
    package_files = {n for n in names if n.startswith(f"{PACKAGE}/")}
    strays = names - package_files - {n for n in names if n.startswith(f"{dist_info}/")}
    problems += [f"wheel: holds {n}, which is not part of the package" for n in sorted(strays)]
    problems += [f"wheel: misses {n}" for n in sorted(source_package_files() - package_files)]
    problems += [
        f"wheel: holds {n}, which is not in the checkout" for n in sorted(package_files - source_package_files())
    ]
    problems += [f"wheel: misses {n}" for n in sorted(REQUIRED_IN_WHEEL - names)]
    if f"{dist_info}/licenses/LICENSE" not in names:
        problems.append("wheel: misses the license file")
    problems += check_metadata(metadata, version, "wheel METADATA")
    for line in (
        f"provider_info = {PACKAGE}.provider_info:get_provider_info",
        f"surveysphere-sandbox = {PACKAGE}.sandbox.__main__:main",
    ):
        if line not in entry_points.splitlines():
            problems.append(f"wheel: entry point missing: {line}")
    return problems


def check_sdist(sdist: Path, version: str) -> list[str]:
    root = f"{PACKAGE}-{version}"
    with tarfile.open(sdist) as archive:
        names = {PurePosixPath(m.name) for m in archive.getmembers()}
        pkg_info = archive.extractfile(f"{root}/PKG-INFO")
        assert pkg_info is not None
        metadata = HeaderParser().parsestr(pkg_info.read().decode())
    problems = []
    outside = sorted(str(n) for n in names if n.parts[0] != root)
    problems += [f"sdist: {n} is outside {root}/" for n in outside]
    top_level = {n.parts[1] for n in names if len(n.parts) > 1 and n.parts[0] == root}
    problems += [f"sdist: unexpected top-level entry {n!r}" for n in sorted(top_level - SDIST_TOP_LEVEL)]
    problems += [f"sdist: misses {n!r}" for n in sorted(SDIST_REQUIRED - top_level)]
    caches = sorted(str(n) for n in names if "__pycache__" in n.parts or n.suffix == ".pyc")
    problems += [f"sdist: holds bytecode {n}" for n in caches]
    sdist_package = {"/".join(n.parts[1:]) for n in names if len(n.parts) > 2 and n.parts[1] == PACKAGE}
    problems += [f"sdist: misses {n}" for n in sorted(source_package_files() - sdist_package)]
    problems += check_metadata(metadata, version, "sdist PKG-INFO")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dist", type=Path, help="the folder python -m build wrote to")
    args = parser.parse_args(argv)
    version = source_version()
    wheel = args.dist / f"{PACKAGE}-{version}-py3-none-any.whl"
    sdist = args.dist / f"{PACKAGE}-{version}.tar.gz"
    found = sorted(p.name for p in args.dist.iterdir())
    if found != sorted([wheel.name, sdist.name]):
        print(f"{args.dist} holds {found}, expected exactly {wheel.name} and {sdist.name}", file=sys.stderr)
        return 1
    problems = check_wheel(wheel, version) + check_sdist(sdist, version)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    with zipfile.ZipFile(wheel) as archive:
        print(f"{wheel.name}: {len(archive.namelist())} files, the package and its metadata only")
    print(f"{sdist.name}: the package, tests, example DAGs, README, CHANGELOG and LICENSE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
