"""Several processes and threads writing into one database lose nothing."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from cairn.entities import Metric, Param, RunTag
from cairn.store.sql.engine import (
    _engine_write_keys,
    _enter_wal_mode,
    _write_lock,
    write_transaction,
)
from cairn.store.sql.store import SqlStore
from forks import held_by_another_thread, in_forked_child

PROCESSES = 4
POINTS = 2000
BATCH = 100


def _log_points(uri: str, run_id: str, worker: int) -> None:
    """One process: POINTS points of its own key, in batches, into a shared run."""
    store = SqlStore(uri)
    key = f"m{worker}"
    for start in range(0, POINTS, BATCH):
        store.log_batch(
            run_id,
            metrics=[
                Metric(key, float(step), 1_000 + step, step) for step in range(start, start + BATCH)
            ]
            # every process also writes the same shared key, racing on latest_metrics
            + [Metric("shared", float(start + worker), 1_000, start)],
            params=[Param(f"p{worker}", str(worker))],
            tags=[RunTag("last_writer", str(worker))],
        )
    store.dispose()


@pytest.mark.slow
def test_processes_logging_into_one_database_lose_nothing(sql_uri: str) -> None:
    store = SqlStore(sql_uri)
    run_id = store.create_run("0", "u", 0, [], "shared").info.run_id
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_log_points, args=(sql_uri, run_id, worker))
        for worker in range(PROCESSES)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=300)
    assert [process.exitcode for process in workers] == [0] * PROCESSES

    run = store.get_run(run_id)
    for worker in range(PROCESSES):
        history = store.get_metric_history(run_id, f"m{worker}")
        assert [m.step for m in history] == list(range(POINTS))
        assert run.data.metrics[f"m{worker}"] == float(POINTS - 1)
        assert run.data.params[f"p{worker}"] == str(worker)
    last_step = POINTS - BATCH
    # the latest shared point has the highest step, and among equal steps the highest value
    assert run.data.metrics["shared"] == float(last_step + PROCESSES - 1)
    assert len(store.get_metric_history(run_id, "shared")) == PROCESSES * (POINTS // BATCH)
    assert run.data.tags["last_writer"] in {str(w) for w in range(PROCESSES)}
    store.dispose()


def test_threads_sharing_one_store(sql_store: SqlStore) -> None:
    run_ids = [sql_store.create_run("0", "u", 0, [], f"r{i}").info.run_id for i in range(4)]
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            for step in range(20):
                run_id = run_ids[(index + step) % len(run_ids)]
                sql_store.log_batch(run_id, [Metric(f"t{index}", float(step), step, step)])
                sql_store.search_runs(["0"], f"metrics.t{index} >= 0")
        except BaseException as error:  # reported below, in the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    total = sum(
        len(sql_store.get_metric_history(run_id, f"t{i}")) for run_id in run_ids for i in range(8)
    )
    assert total == 8 * 20


def test_writers_of_one_sqlite_file_in_one_process_queue_on_one_lock(tmp_path: Path) -> None:
    """However the file is named, its writers in this process share one lock; other files
    and memory databases have their own. A writer queued behind an open transaction lands
    after it (as it would through SQLite's busy handler: the lock makes it wake sooner,
    which this test does not time)."""
    (tmp_path / "data").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "data")
    first = SqlStore(f"sqlite:///{tmp_path / 'data' / 'one.db'}")
    second = SqlStore(f"sqlite:///{tmp_path / 'alias' / '..' / 'alias' / 'one.db'}")
    other = SqlStore(f"sqlite:///{tmp_path / 'other.db'}")
    memory, memory_too = SqlStore("sqlite://"), SqlStore("sqlite:///:memory:")
    stores = (first, second, other, memory, memory_too)
    try:

        def lock_of(store: SqlStore) -> object:
            return _write_lock(_engine_write_keys[store._engine][0])

        lock = lock_of(first)
        assert lock_of(second) is lock
        others = [lock_of(store) for store in stores[2:]]
        assert len({id(each) for each in [lock, *others]}) == 4

        run_id = first.create_run("0", "u", 0, [], "r").info.run_id
        written = threading.Event()
        with write_transaction(first._engine) as conn:
            conn.exec_driver_sql("UPDATE runs SET name = 'held' WHERE run_uuid = ?", (run_id,))
            writer = threading.Thread(
                target=lambda: (second.log_batch(run_id, [Metric("m", 1.0, 1, 1)]), written.set())
            )
            writer.start()
            assert not written.wait(0.3)  # queued behind the open transaction
        writer.join(timeout=60)
        assert written.is_set()
        assert first.get_run(run_id).data.metrics == {"m": 1.0}
        assert first.get_run(run_id).info.run_name == "held"
    finally:
        for store in stores:
            store.dispose()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_a_forked_child_does_not_inherit_a_held_write_lock(tmp_path: Path) -> None:
    """A child forked while another thread holds a database's write lock gets a free
    one: the inherited lock would never be released in the child, whose writes would
    each wait out the busy timeout. (Only the lock: SQLite's own state must not cross
    a fork mid-transaction.)"""
    store = SqlStore(f"sqlite:///{tmp_path / 'fork.db'}")
    key = _engine_write_keys[store._engine][0]
    try:
        with held_by_another_thread(_write_lock(key)):
            assert not _write_lock(key).acquire(blocking=False)  # held, in this process
            assert in_forked_child(lambda: _write_lock(key).acquire(blocking=False))
    finally:
        store.dispose()


class _BusyCursor:
    """A cursor whose first ``busy`` PRAGMAs fail as SQLite does while another
    connection holds the lock turning WAL on needs."""

    def __init__(self, busy: int, message: str = "database is locked") -> None:
        self.busy, self.message, self.calls = busy, message, 0

    def execute(self, sql: str) -> None:
        self.calls += 1
        if self.calls <= self.busy:
            raise sqlite3.OperationalError(self.message)


def test_turning_wal_on_waits_out_a_locked_database() -> None:
    cursor = _BusyCursor(busy=3)
    _enter_wal_mode(cursor, busy_timeout=5.0)
    assert cursor.calls == 4


def test_turning_wal_on_gives_up_at_the_busy_timeout() -> None:
    cursor = _BusyCursor(busy=1_000)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _enter_wal_mode(cursor, busy_timeout=0.2)
    assert 2 <= cursor.calls < 1_000


def test_turning_wal_on_does_not_retry_other_errors() -> None:
    cursor = _BusyCursor(busy=1, message="disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        _enter_wal_mode(cursor, busy_timeout=5.0)
    assert cursor.calls == 1


_inherited_store: SqlStore | None = None


def _log_through_the_inherited_store(run_id: str) -> int:
    assert _inherited_store is not None
    for step in range(50):
        _inherited_store.log_batch(
            run_id, [Metric(f"m{k}", float(step), step, step) for k in range(10)]
        )
    return len(_inherited_store.get_metric_history(run_id, "m0"))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_forked_workers_log_through_the_parents_store(sql_uri: str) -> None:
    """Worker processes forked from a process that has used its store (as a fork-mode
    multiprocessing pool is) log through that store object: each child opens its own
    connections. Sharing the parent's pooled connection hung PostgreSQL's children."""
    global _inherited_store
    store = _inherited_store = SqlStore(sql_uri)
    try:
        experiment_id = store.create_experiment("forked")
        run_ids = [store.create_run(experiment_id, "u", 1, [], None).info.run_id for _ in range(3)]
        store.log_batch(run_ids[0], [Metric("before", 1.0, 1, 0)])  # a pooled connection
        with multiprocessing.get_context("fork").Pool(3) as pool:
            counts = pool.map_async(_log_through_the_inherited_store, run_ids).get(timeout=120)
        assert counts == [50, 50, 50]
        for run_id in run_ids:
            history = store.get_metric_history(run_id, "m9")
            assert [m.step for m in history] == list(range(50))
        assert [m.value for m in store.get_metric_history(run_ids[0], "before")] == [1.0]
    finally:
        _inherited_store = None
        store.dispose()
