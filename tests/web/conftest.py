"""Browser tests: Debian's chromium driven by Playwright, against a real server on loopback.

Screenshots of the main steps are kept under ``artifacts/screenshots/`` (ignored by git; CI keeps
the folder of its run).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tickets.conftest import LiveServer, start_server
from triage import TriageModel

CHROMIUM = os.environ.get("TRIAGE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}: apt-get install chromium (or set TRIAGE_TEST_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


@pytest.fixture
def web(tmp_path: Path, model: TriageModel) -> Iterator[LiveServer]:
    """A real server on SQLite with the SLA monitor and background jobs running."""
    server = start_server(f"sqlite:///{tmp_path}/web.db", model, run_jobs=True)
    yield server
    server.stop()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """``screenshot(page, "step")`` saves artifacts/screenshots/<test>-<step>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, step: str) -> Path:  # type: ignore[no-untyped-def]
        path = SCREENSHOTS / f"{request.node.name}-{step}.png".replace("/", "_")
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
