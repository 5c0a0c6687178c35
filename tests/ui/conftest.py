"""Fixtures for the browser tests: a seeded store behind a real server process, and
Debian's chromium driven by Playwright, failing on any console error."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ui.harness import launch_chromium, missing_build_message, start_server, stop_server
from ui.seed import Seed, seed_store


@dataclass
class UiServer:
    url: str
    seed: Seed


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    """A live server over a seeded SQLite store, serving the built UI."""
    message = missing_build_message()
    if message is not None:
        pytest.fail(message, pytrace=False)
    root = tmp_path_factory.mktemp("ui")
    uri = f"sqlite:///{root / 'cairn.db'}"
    artifacts = root / "artifacts"
    seed = seed_store(uri, artifacts)
    process, url = start_server(uri, artifacts, root / "server.log")
    yield UiServer(url, seed)
    stop_server(process)


@pytest.fixture(scope="session")
def browser(ui_server: UiServer) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    chromium = launch_chromium(playwright)
    yield chromium
    chromium.close()
    playwright.stop()


class ConsoleWatch:
    """Collects the page's console errors; a test names the ones it provokes on purpose."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: list[str] = []

    def allow(self, pattern: str) -> None:
        self.allowed.append(pattern)

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(re.search(p, e) for p in self.allowed)]


@pytest.fixture
def console() -> ConsoleWatch:
    return ConsoleWatch()


@pytest.fixture
def page(browser: Any, ui_server: UiServer, console: ConsoleWatch) -> Iterator[Any]:
    """A fresh browser tab on the server; the test fails if the page logs an error."""
    context = browser.new_context(
        base_url=ui_server.url, accept_downloads=True, viewport={"width": 1400, "height": 900}
    )
    context.set_default_timeout(15_000)
    tab = context.new_page()
    tab.on("console", lambda m: console.errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: console.errors.append(f"uncaught: {e}"))
    yield tab
    context.close()
    assert console.unexpected() == [], f"browser console errors: {console.unexpected()}"
