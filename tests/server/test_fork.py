"""Worker processes forked from a client of a tracking server talk to it on their own
connections (a fork-mode multiprocessing pool, a data loader's workers)."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from cairn.entities import Metric
from cairn.store.rest import RestStore
from server.live import LiveServer

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")

_inherited_store: RestStore | None = None


def _log_and_read(run_id: str) -> tuple[int, int]:
    assert _inherited_store is not None
    for step in range(30):
        metrics = [Metric(f"m{k}", float(step), step, step) for k in range(20)]
        _inherited_store.log_batch(run_id, metrics)
    experiment_id = _inherited_store.get_run(run_id).info.experiment_id
    found = _inherited_store.search_runs([experiment_id], "metrics.m0 >= 29")
    return len(_inherited_store.get_metric_history(run_id, "m7")), len(found)


def test_forked_workers_share_no_connection_with_their_parent(
    live_server: LiveServer, quick_client: None
) -> None:
    """The parent's kept-alive connections, used by the children too, carried several
    processes' requests on one socket: responses came back mixed up ("not valid JSON",
    "IncompleteRead") until each child got connection pools of its own."""
    global _inherited_store
    store = _inherited_store = RestStore(live_server.url)
    try:
        experiment_id = store.create_experiment("forked-workers")
        run_ids = [store.create_run(experiment_id, "u", 1, [], None).info.run_id for _ in range(4)]
        store.search_runs([experiment_id])  # a kept-alive connection in the parent
        with multiprocessing.get_context("fork").Pool(4) as pool:
            results = pool.map_async(_log_and_read, run_ids).get(timeout=120)
        assert [history for history, _ in results] == [30] * 4
        assert all(1 <= found <= 4 for _, found in results)
        assert len(store.search_runs([experiment_id], "metrics.m19 = 29")) == 4
    finally:
        _inherited_store = None
