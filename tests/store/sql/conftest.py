"""Fixtures for the SQL store's own tests: one store per database server."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from cairn.store.sql.store import SqlStore

SQL_BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgresql),
    pytest.param("mysql", marks=pytest.mark.mysql),
]


@pytest.fixture(params=SQL_BACKENDS)
def sql_uri(request: pytest.FixtureRequest, store_uri_factory: Callable[[str], str]) -> str:
    """The URI of an empty database of each kind."""
    uri: str = store_uri_factory(request.param)
    return uri


@pytest.fixture
def sql_store(sql_uri: str) -> Iterator[SqlStore]:
    store = SqlStore(sql_uri)
    yield store
    store.dispose()
