"""The version is written once (``__version__``) and everything else reads it.

What the built wheel and sdist hold is checked by ``make dist`` (``.ci/check_dist.py``), and the installed
wheel by ``make smoke-wheel`` (``.ci/smoke_wheel.py``).
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import metadata, version
from pathlib import Path

import airflow_provider_surveysphere
from airflow_provider_surveysphere.provider_info import get_provider_info

REPO = Path(__file__).resolve().parents[2]
DIST_NAME = "airflow-provider-surveysphere"


def test_installed_metadata_and_provider_info_carry_the_package_version():
    # The editable install's metadata comes from pyproject.toml, which reads __version__.
    assert version(DIST_NAME) == airflow_provider_surveysphere.__version__
    assert get_provider_info()["versions"] == [airflow_provider_surveysphere.__version__]


def test_readme_install_line_names_the_wheel_of_this_version():
    wheels = re.findall(r"airflow_provider_surveysphere-(\S+?)-py3-none-any\.whl", (REPO / "README.md").read_text())
    assert wheels, "the README names no wheel file to install"
    assert set(wheels) == {airflow_provider_surveysphere.__version__}


def test_changelog_newest_release_is_this_version():
    headings = re.findall(r"^## \[([^\]]+)\]", (REPO / "CHANGELOG.md").read_text(), flags=re.MULTILINE)
    releases = [heading for heading in headings if heading != "Unreleased"]
    assert releases[0] == airflow_provider_surveysphere.__version__


def test_metadata_declares_the_license_and_the_provider_classifier():
    meta = metadata(DIST_NAME)
    assert meta["License-Expression"] == "Apache-2.0"
    assert "Framework :: Apache Airflow :: Provider" in (meta.get_all("Classifier") or [])


def test_importing_the_package_root_imports_no_airflow():
    # setuptools reads __version__ from __init__.py; the package root must stay importable without Airflow.
    code = (
        "import sys, airflow_provider_surveysphere\n"
        "print(sorted(m for m in sys.modules if m.partition('.')[0] == 'airflow'))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
