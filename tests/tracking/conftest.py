"""Fixtures for the client and fluent API: a fresh store per test, clean fluent state."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cairn.tracking import batching, fluent, uri


@pytest.fixture(autouse=True)
def _clean_fluent_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No active run, experiment, tracking URI or background failure leaks between tests,
    and offline journals stay out of the user's cache directory."""
    monkeypatch.setenv("CAIRN_JOURNAL_DIR", str(tmp_path / "journals"))
    fluent._reset_for_tests()
    uri.set_tracking_uri(None)
    yield
    fluent._reset_for_tests()
    uri.set_tracking_uri(None)
    # a test that wanted a background failure asserted it; the next one starts clean
    with contextlib.suppress(batching.AsyncLoggingError):
        batching.flush(timeout=60)


@pytest.fixture(params=["sqlite", "file"])
def any_store_uri(request: pytest.FixtureRequest, store_uri_factory: Callable[[str], str]) -> str:
    """A URI of an empty store, once per local backend."""
    return store_uri_factory(request.param)


@pytest.fixture
def tracking_uri(store_uri_factory: Callable[[str], str]) -> str:
    """An empty SQLite store, set as the tracking URI of the fluent API."""
    store_uri = store_uri_factory("sqlite")
    uri.set_tracking_uri(store_uri)
    return store_uri
