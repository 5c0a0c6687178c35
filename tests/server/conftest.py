"""A real Cairn server process on a loopback port, shared by the tests of this package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.live import LiveServer, running_server


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server over SQLite, proxying artifacts into ``<root>/mlartifacts``."""
    root = tmp_path_factory.mktemp("live-server")
    with running_server(root) as server:
        yield server


@pytest.fixture
def quick_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the REST client's retries short, so a failing test fails fast."""
    monkeypatch.setenv("CAIRN_HTTP_REQUEST_MAX_RETRIES", "2")
    monkeypatch.setenv("CAIRN_HTTP_REQUEST_BACKOFF_FACTOR", "0.01")
    monkeypatch.setenv("CAIRN_HTTP_REQUEST_TIMEOUT", "30")
