"""Fixtures for the client and fluent API: a fresh store per test, clean fluent state."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from cairn.tracking import fluent, uri


@pytest.fixture(autouse=True)
def _clean_fluent_state() -> Iterator[None]:
    """No active run, experiment or tracking URI leaks from one test into the next."""
    fluent._reset_for_tests()
    uri.set_tracking_uri(None)
    yield
    fluent._reset_for_tests()
    uri.set_tracking_uri(None)


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
