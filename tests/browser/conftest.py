"""Fixtures of the browser tests: headless Debian Chromium driven by Playwright, against a real deployment.

No browser is downloaded: Playwright drives the Chromium at ``SURVEYSPHERE_CHROMIUM`` (default
``/usr/bin/chromium``, Debian's package). A missing browser or Playwright fails the session with one line
saying what to install: never a skip. Screenshots go to tests/browser/screenshots/ (git-ignored).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SCREENSHOTS = Path(__file__).parent / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("SURVEYSPHERE_CHROMIUM", "/usr/bin/chromium")
    if not os.access(path, os.X_OK):
        pytest.fail(f"browser tests need Chromium at {path}: apt-get install chromium (or `make test-browser` as root)",
                    pytrace=False)
    return path


@pytest.fixture(scope="session")
def browser(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A persistent Chromium context with a fresh profile folder."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("browser tests need Playwright: pip install -r requirements/browser.txt (make test-browser does)",
                    pytrace=False)
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),  # Playwright passes it as --user-data-dir
            executable_path=chromium_path,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        context.set_default_timeout(60_000)
        try:
            yield context
        finally:
            context.close()
