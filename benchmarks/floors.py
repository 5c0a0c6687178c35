"""What SQLite alone does on this machine, under the SQL store's work for W2, W3 and W5.

python -m benchmarks.floors [--runs N]

The tables are created by Cairn's SQL store (Cairn's schema); then the same statements
the store runs go straight to ``sqlite3``, on a connection the store's engine configured
(WAL, ``synchronous=NORMAL``, memory-mapped reads, foreign keys), with no Cairn,
SQLAlchemy or HTTP on top. A Cairn figure cannot beat these; where 20x MLflow's figure
needs more than the floor, the target is out of reach for SQLite on this machine whatever
the code above it does. W2 and W3 are then timed through Cairn's store in the same process.
Prints and never asserts, like the workload scripts.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

import cairn
from benchmarks.common import Results, parse_args, scratch_dir
from cairn.store.sql.engine import create_engine

INSERT_POINTS = (
    "INSERT INTO metrics (run_uuid, key, step, timestamp, value, is_nan, is_inf) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
UPSERT_LATEST = (
    "INSERT INTO latest_metrics (run_uuid, key, step, timestamp, value, is_nan, is_inf) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET value = excluded.value, "
    "step = excluded.step, timestamp = excluded.timestamp"
)
# What the store reads for a page of runs: one query a table; params and tags come as
# one JSON object a run
# (columns, grouping) of each table's read
CHILD_TABLES = {
    "runs": ("*", ""),
    "params": ("run_uuid, json_group_object(key, value)", " GROUP BY run_uuid"),
    "tags": ("run_uuid, json_group_object(key, value)", " GROUP BY run_uuid"),
    "latest_metrics": ("run_uuid, key, value, timestamp, step, is_nan, is_inf", ""),
}


def make_store(client: Any, experiment_id: str, runs: int) -> list[str]:
    """``runs`` W3-like runs in a database with Cairn's schema; their ids."""
    run_ids = []
    for index in range(runs):
        run_id = client.create_run(experiment_id).info.run_id
        client.log_batch(
            run_id,
            metrics=[cairn.entities.Metric(f"m{k}", index / runs, 1, 0) for k in range(5)],
            params=[cairn.entities.Param(f"p{k}", f"v{index % 10}") for k in range(5)],
            tags=[cairn.entities.RunTag(f"t{k}", f"tag-{index % 100}") for k in range(3)],
        )
        run_ids.append(run_id)
    cairn.flush()
    return run_ids


def committed(db: sqlite3.Connection, statements: Sequence[tuple[str, list[Any]]]) -> None:
    """One write transaction, as the store makes for a log_batch."""
    db.execute("BEGIN IMMEDIATE")
    for sql, rows in statements:
        db.executemany(sql, rows)
    db.execute("COMMIT")


def points(run_id: str, keys: Iterable[int], step: int) -> list[tuple[Any, ...]]:
    return [(run_id, f"m{k}", step, 1_700_000_000_000 + step, float(step), 0, 0) for k in keys]


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    args = parse_args(__doc__, runs=0)
    results = Results("floors", "sqlite3")
    with scratch_dir() as directory:
        path = directory / "floors.db"
        client = cairn.MlflowClient(f"sqlite:///{path}")
        experiment_id = client.create_experiment("floors")
        run_ids = make_store(client, experiment_id, args.runs or 500)
        # a connection configured exactly as the store's own (journal, durability, mmap,
        # foreign keys), used below without SQLAlchemy
        raw = create_engine(f"sqlite:///{path}").raw_connection()
        db: sqlite3.Connection = raw.driver_connection  # type: ignore[assignment]

        # W2: 100,000 points of one key, 1,000 a transaction, bare and through Cairn's store
        # (into a database of its own: a write through one connection makes the other
        # re-read its cached pages) by turns of ten, so both meet the same machine
        w2_client = cairn.MlflowClient(f"sqlite:///{directory / 'w2.db'}")
        w2_run = w2_client.create_run(w2_client.create_experiment("w2")).info.run_id
        bare_s = cairn_s = 0.0
        for start in range(0, 100_000, 1000):
            steps = range(start, start + 1000)
            if start % 20_000 < 10_000:
                rows = [(run_ids[0], "w2", i, 1_700_000_000_000 + i, float(i), 0, 0) for i in steps]
                statements = [(INSERT_POINTS, rows), (UPSERT_LATEST, rows[-1:])]
                bare_s += timed(partial(committed, db, statements))
            else:
                batch = [
                    cairn.entities.Metric("w2", float(i), 1_700_000_000_000 + i, i) for i in steps
                ]
                cairn_s += timed(partial(w2_client.log_batch, w2_run, batch, synchronous=True))
        results.add("W2 floor: 1,000 points a transaction", 50_000 / bare_s, "points/s")
        results.add("W2 Cairn SQL store, the same batches", 50_000 / cairn_s, "points/s")

        # W5's concurrent case: 8 runs take turns logging 100 keys at a step
        writers, rounds = run_ids[:8], 40

        def w5() -> None:
            for step in range(rounds):
                for run_id in writers:
                    rows = points(run_id, range(100), step)
                    committed(db, [(INSERT_POINTS, rows), (UPSERT_LATEST, rows)])

        results.add(
            "W5 floor: log-batch of 100 keys, 8 runs in turn",
            rounds * len(writers) / timed(w5),
            "batches/s",
        )

        # W3's full listing: the runs and their child rows (one query a table), bare and
        # through Cairn's store by turns
        marks = ", ".join("?" * len(run_ids))

        def bare_listing() -> None:
            for table, (columns, grouping) in CHILD_TABLES.items():
                sql = f"SELECT {columns} FROM {table} WHERE run_uuid IN ({marks}){grouping}"
                db.execute(sql, run_ids).fetchall()

        bare, through_cairn = [], []
        for _ in range(9):
            bare.append(timed(bare_listing))
            through_cairn.append(
                timed(lambda: client.search_runs([experiment_id], max_results=len(run_ids)))
            )
        for name, timings in (
            ("floor: the listing's queries", bare),
            ("Cairn SQL store", through_cairn),
        ):
            results.add(
                f"W3 {name} over {len(run_ids):,} runs (median)",
                statistics.median(timings) * 1000,
                "ms",
                higher_is_better=False,
            )
        raw.close()
    results.emit()


if __name__ == "__main__":
    main()
