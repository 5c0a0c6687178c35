"""Binds the tracking-store contract (tests/store/contract) to every backend.

The backends are tests/conftest.py's ``BACKENDS`` plus ``EXTRA_BACKENDS`` below. A
backend whose store is more than ``create_tracking_store(uri)`` (the REST store needs a
live server) also registers a context-manager builder in ``STORE_BUILDERS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from contract.bad_input import BadInputContract
from contract.concurrency import ConcurrencyContract
from contract.datasets import DatasetContract
from contract.experiments import ExperimentContract
from contract.gc import GcContract
from contract.metrics import MetricContract
from contract.runs import RunContract
from contract.search_experiments import SearchExperimentsContract
from contract.search_runs import SearchRunsContract
from contract.values import ValueContract

from cairn.store.registry import create_tracking_store
from cairn.store.tracking import TrackingStore

ROOT_CONFTEST = Path(__file__).resolve().parent.parent / "conftest.py"

# Backends beyond tests/conftest.py's BACKENDS, e.g. pytest.param("rest", marks=pytest.mark.server)
EXTRA_BACKENDS: list[Any] = [pytest.param("rest", marks=pytest.mark.server)]

StoreBuilder = Callable[[pytest.FixtureRequest], AbstractContextManager[TrackingStore]]


@contextmanager
def _store_for_uri(backend: str, request: pytest.FixtureRequest) -> Iterator[TrackingStore]:
    """The plain case: the backend's store opened on an empty URI of its kind."""
    uri = request.getfixturevalue("store_uri_factory")(backend)
    artifact_root: Path = request.getfixturevalue("artifact_root")
    store = create_tracking_store(uri, default_artifact_root=artifact_root.as_uri())
    try:
        yield store
    finally:
        _close(store)


def _close(store: TrackingStore) -> None:
    """Release connections so the next test can wipe the shared database."""
    close = getattr(store, "close", None) or getattr(store, "dispose", None)
    if callable(close):
        close()


@contextmanager
def _rest_store(request: pytest.FixtureRequest) -> Iterator[TrackingStore]:
    """A RestStore talking real HTTP to a Cairn server (uvicorn in a thread of this
    process) over a fresh SQLite store; the server process itself is tested in
    tests/server."""
    import socket
    import threading

    import uvicorn

    from cairn.server import create_app
    from cairn.store.rest import RestStore

    if request.cls is not None and issubclass(request.cls, GcContract):
        pytest.skip("the REST API has no garbage-collection calls; `cairn gc` opens the backend")
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("CAIRN_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("CAIRN_HTTP_REQUEST_BACKOFF_FACTOR", "0.01")
    with _store_for_uri("sqlite", request) as backend:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(backend), host="127.0.0.1", port=port, log_level="warning", ws="none"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the test server failed to start")
            thread.join(0.01)
        try:
            yield RestStore(f"http://127.0.0.1:{port}")
        finally:
            server.should_exit = True
            thread.join()


# Backends whose store is not just ``create_tracking_store(uri)``; name -> builder.
STORE_BUILDERS: dict[str, StoreBuilder] = {"rest": _rest_store}


def _contract_backends(config: pytest.Config) -> list[Any]:
    """tests/conftest.py's BACKENDS (with their markers) plus EXTRA_BACKENDS.

    Read from the registered conftest plugin: ``from conftest import`` would pick up
    whichever conftest.py pytest imported last.
    """
    for plugin in config.pluginmanager.get_plugins():
        if getattr(plugin, "__file__", None) == str(ROOT_CONFTEST):
            return [*plugin.BACKENDS, *EXTRA_BACKENDS]
    raise RuntimeError(f"{ROOT_CONFTEST} is not loaded")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", _contract_backends(metafunc.config))


@pytest.fixture
def store(backend: str, request: pytest.FixtureRequest) -> Iterator[TrackingStore]:
    """An empty store of the backend under test (only the Default experiment in it)."""
    builder = STORE_BUILDERS.get(backend)
    with builder(request) if builder else _store_for_uri(backend, request) as opened:
        yield opened


class TestExperiments(ExperimentContract):
    pass


class TestRuns(RunContract):
    pass


class TestMetrics(MetricContract):
    pass


class TestDatasets(DatasetContract):
    pass


class TestSearchRuns(SearchRunsContract):
    pass


class TestSearchExperiments(SearchExperimentsContract):
    pass


class TestBadInput(BadInputContract):
    pass


class TestGc(GcContract):
    pass


class TestConcurrency(ConcurrencyContract):
    pass


class TestValues(ValueContract):
    pass
