"""Writing what a run's files hold into the search index's rows, with stdlib ``sqlite3``.

The index has the SQL store's schema (``cairn.store.sql.tables``, created by
``SqlStore``), plus three tables of its own (``EXTRA_TABLES``). Every write the file
store mirrors lands here, so these statements are plain SQL strings on a ``sqlite3``
connection: SQLAlchemy's statement building cost several times what SQLite takes to
run them, and importing it took most of a short script's time. Only searches, answered
by ``SqlStore``, load SQLAlchemy.

The index fills ``runs``, ``params``, ``tags``, ``latest_metrics``, ``inputs``,
``input_tags``, ``datasets`` and ``experiments``, and never ``metrics``: histories are
read from the files.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from cairn import env
from cairn.entities import LifecycleStage, Metric
from cairn.search import evaluate
from cairn.store.file import caches, layout, reader, tails
from cairn.store.file.backlog import RunBacklog

SYNC_TABLE = "cairn_file_sync"
KEYS_TABLE = "cairn_file_experiment_keys"
OFFSETS_TABLE = "cairn_file_metric_offsets"
EXTRA_TABLES = (
    f"CREATE TABLE IF NOT EXISTS {SYNC_TABLE} ("
    "kind TEXT NOT NULL, id TEXT NOT NULL, stamp TEXT NOT NULL, PRIMARY KEY (kind, id))",
    f"CREATE TABLE IF NOT EXISTS {KEYS_TABLE} ("
    "experiment_id TEXT PRIMARY KEY, key INTEGER NOT NULL UNIQUE)",
    f"CREATE TABLE IF NOT EXISTS {OFFSETS_TABLE} ("
    "run_uuid TEXT NOT NULL, key TEXT NOT NULL, offset INTEGER NOT NULL, "
    "PRIMARY KEY (run_uuid, key))",
    # the rotating re-check of runs walks an experiment's runs in id order (see
    # RunIndex._runs_to_recheck): without these, each search sorted all of them
    "CREATE INDEX IF NOT EXISTS cairn_file_runs_by_id ON runs (experiment_id, run_uuid)",
    "CREATE INDEX IF NOT EXISTS cairn_file_runs_by_status "
    "ON runs (experiment_id, status, run_uuid)",
)
_RUN_COLUMNS = (
    "name",
    "experiment_id",
    "user_id",
    "status",
    "start_time",
    "end_time",
    "deleted_time",
    "lifecycle_stage",
    "artifact_uri",
)
_UPSERT_RUN = (
    f"INSERT INTO runs (run_uuid, {', '.join(_RUN_COLUMNS)}) "
    f"VALUES (?{', ?' * len(_RUN_COLUMNS)}) ON CONFLICT (run_uuid) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _RUN_COLUMNS)
)
_EXPERIMENT_COLUMNS = (
    "name",
    "artifact_location",
    "lifecycle_stage",
    "creation_time",
    "last_update_time",
)
_UPSERT_EXPERIMENT = (
    f"INSERT INTO experiments (experiment_id, {', '.join(_EXPERIMENT_COLUMNS)}) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (experiment_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _EXPERIMENT_COLUMNS)
)
# The later point wins, in the SQL store's order (``sql.dialects._newer_point_sql``):
# step, then timestamp, then NaN after numbers, then value.
_MERGE_LATEST = (
    "INSERT INTO latest_metrics (run_uuid, key, value, timestamp, step, is_nan, is_inf) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_uuid, key) DO UPDATE SET "
    "value = excluded.value, timestamp = excluded.timestamp, step = excluded.step, "
    "is_nan = excluded.is_nan, is_inf = excluded.is_inf WHERE "
    "excluded.step > latest_metrics.step "
    "OR (excluded.step = latest_metrics.step AND excluded.timestamp > latest_metrics.timestamp) "
    "OR (excluded.step = latest_metrics.step AND excluded.timestamp = latest_metrics.timestamp "
    "AND (excluded.is_nan > latest_metrics.is_nan OR (excluded.is_nan = latest_metrics.is_nan "
    "AND excluded.value > latest_metrics.value)))"
)
_SET_STAMP = (
    f"INSERT INTO {SYNC_TABLE} (kind, id, stamp) VALUES (?, ?, ?) "
    "ON CONFLICT (kind, id) DO UPDATE SET stamp = excluded.stamp"
)
# Tables with a run_uuid column that the index fills, children of runs before runs.
_RUN_CHILD_TABLES = ("inputs", "latest_metrics", "metrics", "params", "tags")
_IDS_PER_STATEMENT = 500
_MAX_KEY = 2**31 - 1  # experiments.experiment_id is a 32-bit INTEGER in the SQL schema
_SCALED_FROM = 2**30  # experiment ids from here on are scaled into [2**30, 2**31)
_ID_LIMIT: int = 10**18  # MLflow's ids have 18 digits


def connect(path: Path) -> sqlite3.Connection:
    """A connection to an existing index, set up as the SQL store sets up SQLite.

    WAL journal, a busy timeout, foreign keys; transactions are begun explicitly
    (``write_transaction``). ``mode=rw``: a missing index is never created here.
    """
    timeout = env.SQLITE_BUSY_TIMEOUT.get()
    db = sqlite3.connect(
        f"{path.as_uri()}?mode=rw",
        uri=True,
        timeout=30.0 if timeout is None else timeout,
        isolation_level=None,
        check_same_thread=False,  # shared by the store's threads, under RunIndex's lock
    )
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
    except BaseException:
        db.close()
        raise
    return db


@contextlib.contextmanager
def transaction(db: sqlite3.Connection, write: bool = False) -> Iterator[sqlite3.Connection]:
    """A transaction, committed on success. A writing one begins ``IMMEDIATE``: two
    writers never both hold a read snapshot and then deadlock upgrading it."""
    db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def experiment_key(db: sqlite3.Connection, experiment_id: str, create: bool = True) -> int | None:
    """The index's integer key for an experiment directory.

    MLflow's ids (18 random digits) overflow the SQL schema's 32-bit key, so the index
    numbers experiments itself; results are mapped back to the directory names.
    """
    row = db.execute(
        f"SELECT key FROM {KEYS_TABLE} WHERE experiment_id = ?", (experiment_id,)
    ).fetchone()
    if row is not None or not create:
        return None if row is None else int(row[0])
    key = _new_key(db, experiment_id)
    db.execute(f"INSERT INTO {KEYS_TABLE} (experiment_id, key) VALUES (?, ?)", (experiment_id, key))
    return key


def _new_key(db: sqlite3.Connection, experiment_id: str) -> int:
    """A key that sorts among the others as the experiment's id does.

    Then the SQL store's ``ORDER BY experiment_id`` is the ids' order. Ids up to 2**30
    keep their value; larger ones (MLflow's 18 digits) are scaled into the upper half;
    a key already taken gives way to the middle of the free range between the neighbours.
    If that range is empty (next to never), any free key: ``keys_in_id_order`` then tells
    searches ordered by experiment id to read the files instead.
    """
    if experiment_id == layout.DEFAULT_EXPERIMENT_ID:
        return 0
    id_order = evaluate.experiment_id_order  # as the scan of the files sorts
    order = id_order(experiment_id)
    taken = db.execute(f"SELECT experiment_id, key FROM {KEYS_TABLE}").fetchall()
    below = max([key for other, key in taken if id_order(other) < order], default=0)
    above = min([key for other, key in taken if id_order(other) > order], default=_MAX_KEY + 1)
    preferred = None
    if experiment_id.isdigit():
        number = int(experiment_id)
        preferred = number if number < _SCALED_FROM else _scaled(number)
    if preferred is not None and below < preferred < above:
        return preferred
    if above - below > 1:
        return (below + above) // 2
    used = {key for _, key in taken}
    return next(key for key in range(1, _MAX_KEY + 1) if key not in used)


def _scaled(number: int) -> int | None:
    if number >= _ID_LIMIT:
        return None
    return _SCALED_FROM + number * (_MAX_KEY - _SCALED_FROM) // _ID_LIMIT


def keys_in_id_order(db: sqlite3.Connection, experiment_ids: Sequence[str]) -> bool:
    """Whether these experiments' keys sort as their ids do (see ``_new_key``)."""
    keys = [
        experiment_key(db, e, create=False)
        for e in sorted(experiment_ids, key=evaluate.experiment_id_order)
    ]
    present = [key for key in keys if key is not None]
    return all(a < b for a, b in itertools.pairwise(present))


def set_stamp(db: sqlite3.Connection, kind: str, key: str, stamp: str) -> None:
    db.execute(_SET_STAMP, (kind, key, stamp))


def delete_stamp(db: sqlite3.Connection, kind: str, key: str) -> None:
    db.execute(f"DELETE FROM {SYNC_TABLE} WHERE kind = ? AND id = ?", (kind, key))


def delete_runs(db: sqlite3.Connection, run_ids: Sequence[str]) -> None:
    """Remove runs with all their rows, sync stamps and metric offsets."""
    run_ids = list(run_ids)
    for start in range(0, len(run_ids), _IDS_PER_STATEMENT):
        chunk = run_ids[start : start + _IDS_PER_STATEMENT]
        marks = ", ".join("?" * len(chunk))
        db.execute(
            "DELETE FROM input_tags WHERE input_uuid IN "
            f"(SELECT input_uuid FROM inputs WHERE run_uuid IN ({marks}))",
            chunk,
        )
        for table in (*_RUN_CHILD_TABLES, "runs", OFFSETS_TABLE):
            db.execute(f"DELETE FROM {table} WHERE run_uuid IN ({marks})", chunk)
        db.execute(f"DELETE FROM {SYNC_TABLE} WHERE kind = 'run' AND id IN ({marks})", chunk)


def _latest_row(run_id: str, metric: Metric) -> tuple[Any, ...]:
    # NaN is stored as 0 with is_nan (SQLite turns NaN into NULL), as the SQL store does
    value = float(metric.value)
    is_nan = math.isnan(value)
    return (
        run_id,
        metric.key,
        0.0 if is_nan else value,
        int(metric.timestamp),
        int(metric.step),
        is_nan,
        math.isinf(value),
    )


def merge_latest(db: sqlite3.Connection, run_id: str, metrics: Sequence[Metric]) -> None:
    """Keep, per key, the later of the indexed latest point and the given one."""
    if metrics:
        db.executemany(_MERGE_LATEST, [_latest_row(run_id, m) for m in metrics])


def advance_offsets(db: sqlite3.Connection, spans: Sequence[Mapping[str, object]]) -> None:
    """Move a metric file's read offset past points just merged, when that is sound.

    Only when the append started exactly at the recorded offset (or at 0, for a new
    file): then every byte before its end has been taken in. If another writer's
    lines came in between, the offset stays and the next re-check reads from there
    (merging a point twice is harmless: the later point wins either way).
    """
    if not spans:
        return
    # A new file's offset row first, then the spans in the order they were appended:
    # each moves the offset only from where the previous one left it.
    fresh = [span for span in spans if span["s"] == 0]
    if fresh:
        db.executemany(
            f"INSERT OR IGNORE INTO {OFFSETS_TABLE} (run_uuid, key, offset) VALUES (:r, :k, :e)",
            fresh,
        )
    db.executemany(
        f"UPDATE {OFFSETS_TABLE} SET offset = :e WHERE run_uuid = :r AND key = :k AND offset = :s",
        spans,
    )


def sync_info(db: sqlite3.Connection, run_dir: Path, key: int) -> bool:
    """Write the run's row from its meta.yaml; False (and no rows) if it has none."""
    run_id = run_dir.name
    meta = layout.load_yaml(run_dir / layout.META)
    info = None
    if meta is not None and (meta.get("run_id") or meta.get("run_uuid")):
        info = layout.run_info_from_meta(meta)
    if info is None or info.experiment_id != run_dir.parent.name or info.run_id != run_id:
        delete_runs(db, [run_id])
        return False
    deleted_time = meta.get("deleted_time") if meta else None
    name = info.run_name
    if not name:  # very old runs keep their name only in the tag
        name = layout.read_key_values(run_dir / layout.TAGS).get("mlflow.runName", "")
    db.execute(
        _UPSERT_RUN,
        (
            run_id,
            name,
            key,
            info.user_id,
            info.status,
            info.start_time,
            info.end_time,
            None if deleted_time is None else int(deleted_time),
            info.lifecycle_stage,
            info.artifact_uri,
        ),
    )
    return True


def sync_data(db: sqlite3.Connection, run_dir: Path) -> None:
    """Replace the run's param and tag rows with its param and tag files."""
    run_id = run_dir.name
    for table, directory in (("params", layout.PARAMS), ("tags", layout.TAGS)):
        db.execute(f"DELETE FROM {table} WHERE run_uuid = ?", (run_id,))
        values = layout.read_key_values(run_dir / directory)
        if values:
            db.executemany(
                f"INSERT INTO {table} (run_uuid, key, value) VALUES (?, ?, ?)",
                [(run_id, k, v) for k, v in values.items()],
            )


def _index_dataset_id(experiment_id: str, dataset_dir_name: str) -> str:
    # the SQL schema keys datasets globally; in mlruns they are per experiment
    return layout.dataset_id(experiment_id, dataset_dir_name)


def sync_inputs(db: sqlite3.Connection, run_dir: Path, experiment_key: int) -> None:
    """Replace the run's dataset inputs with those its files hold."""
    run_id = run_dir.name
    db.execute(
        "DELETE FROM input_tags WHERE input_uuid IN "
        "(SELECT input_uuid FROM inputs WHERE run_uuid = ?)",
        (run_id,),
    )
    db.execute("DELETE FROM inputs WHERE run_uuid = ?", (run_id,))
    for item in reader.read_inputs(run_dir, run_dir.parent):
        dataset = item.dataset
        dataset_uuid = _index_dataset_id(
            run_dir.parent.name, layout.dataset_id(dataset.name, dataset.digest)
        )
        db.execute(
            "INSERT OR IGNORE INTO datasets (dataset_uuid, experiment_id, name, digest, "
            "source_type, source, dataset_schema, dataset_profile) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                dataset_uuid,
                experiment_key,
                dataset.name,
                dataset.digest,
                dataset.source_type,
                dataset.source,
                dataset.schema,
                dataset.profile,
            ),
        )
        input_uuid = layout.dataset_input_id(dataset_uuid, run_id)
        db.execute(
            "INSERT INTO inputs (input_uuid, dataset_uuid, run_uuid) VALUES (?, ?, ?)",
            (input_uuid, dataset_uuid, run_id),
        )
        if item.tags:
            db.executemany(
                "INSERT INTO input_tags (input_uuid, name, value) VALUES (?, ?, ?)",
                [(input_uuid, tag.key, tag.value) for tag in item.tags],
            )


def catch_up_metrics(
    db: sqlite3.Connection,
    run_dir: Path,
    recorded: dict[str, int] | None,
    sizes: dict[str, int],
) -> None:
    """Take in what was appended to a run's metric files since the offsets recorded.

    ``recorded`` None means the run is read afresh: every latest value is replaced.
    A file with no recorded offset, or one shorter than recorded, is read whole.
    """
    run_id = run_dir.name
    if recorded is None:
        db.execute("DELETE FROM latest_metrics WHERE run_uuid = ?", (run_id,))
        db.execute(f"DELETE FROM {OFFSETS_TABLE} WHERE run_uuid = ?", (run_id,))
        recorded = {}
    offsets = []
    reread: list[tuple[str, str]] = []
    newest: list[Metric] = []
    for key, size in sizes.items():
        start = recorded.get(key)
        if start == size:
            continue
        whole = start is None or size < start
        try:
            columns, offset = tails.read_metric_tail(
                run_dir / layout.METRICS / key, key, 0 if whole else start or 0
            )
        except (FileNotFoundError, ValueError):
            continue  # gone, or not a metric file: the files stay the truth
        if whole:
            reread.append((run_id, key))
        point = layout.latest_of_columns(key, *columns)
        if point is not None:
            newest.append(point)
        offsets.append((run_id, key, offset))
    gone = [(run_id, key) for key in recorded if key not in sizes]
    if reread or gone:
        db.executemany("DELETE FROM latest_metrics WHERE run_uuid = ? AND key = ?", reread + gone)
    merge_latest(db, run_id, newest)
    if gone:
        db.executemany(f"DELETE FROM {OFFSETS_TABLE} WHERE run_uuid = ? AND key = ?", gone)
    if offsets:
        db.executemany(
            f"INSERT INTO {OFFSETS_TABLE} (run_uuid, key, offset) VALUES (?, ?, ?) "
            "ON CONFLICT (run_uuid, key) DO UPDATE SET offset = excluded.offset",
            offsets,
        )


_RUN_STAMP_PARTS = (layout.META, layout.METRICS, layout.PARAMS, layout.TAGS, layout.INPUTS)


def stat_ns(path: str | Path) -> tuple[int, int]:
    """(mtime in ns, size) of a file or directory; (0, -1) if it is missing."""
    try:
        st = os.stat(path)
    except OSError:
        return (0, -1)
    return (st.st_mtime_ns, st.st_size)


def run_stamp(run_dir: Path) -> str:
    """Changes when a run's meta file is rewritten or a param, tag or metric key appears."""
    base = str(run_dir)
    parts: list[str] = []
    for name in _RUN_STAMP_PARTS:
        parts.extend(str(v) for v in stat_ns(os.path.join(base, name)))
    return ":".join(parts)


class RunMirror:
    """Syncs runs and their experiments into the index's rows.

    Remembers, per experiment, the row last written from its meta.yaml, so the many
    runs of one experiment do not each re-read it.
    """

    def __init__(self) -> None:
        # experiment dir -> (meta.yaml signature, the experiments row written from it)
        self._experiment_rows: dict[Path, tuple[tuple[int, int, int, int], tuple[Any, ...]]] = {}

    def ensure_experiment(self, db: sqlite3.Connection, experiment_dir: Path) -> int:
        """Create or update the experiment's row; returns its index key."""
        # When meta.yaml (all the row is made of) has not changed since this process
        # last wrote the row, and the row still holds those values, there is nothing to
        # read or write. The row is checked rather than trusted: a rolled-back
        # transaction or another process may have changed it.
        signature = caches.file_signature(experiment_dir / layout.META)
        cached = self._experiment_rows.get(experiment_dir)
        if signature is not None and cached is not None and cached[0] == signature:
            key = experiment_key(db, experiment_dir.name, create=False)
            if key is not None:
                stored = db.execute(
                    f"SELECT {', '.join(_EXPERIMENT_COLUMNS)} FROM experiments "
                    "WHERE experiment_id = ?",
                    (key,),
                ).fetchone()
                if stored == cached[1]:
                    return key
        experiment = reader.read_experiment(experiment_dir)
        key = experiment_key(db, experiment_dir.name)
        assert key is not None
        row = (
            # names must be unique in the SQL schema; the files hold the real one, and
            # experiment search reads the files
            f"mlruns-experiment-{key}",
            experiment.artifact_location if experiment else None,
            experiment.lifecycle_stage if experiment else LifecycleStage.ACTIVE,
            experiment.creation_time if experiment else None,
            experiment.last_update_time if experiment else None,
        )
        db.execute(_UPSERT_EXPERIMENT, (key, *row))
        if signature is not None and experiment is not None:
            self._experiment_rows[experiment_dir] = (signature, row)
        return key

    def sync_run(self, db: sqlite3.Connection, run_dir: Path) -> None:
        """Replace all of a run's rows with what its files hold."""
        key = self.ensure_experiment(db, run_dir.parent)
        if not sync_info(db, run_dir, key):
            return
        sync_data(db, run_dir)
        catch_up_metrics(db, run_dir, None, tails.metric_file_sizes(run_dir))
        sync_inputs(db, run_dir, key)

    def mirror(self, db: sqlite3.Connection, run_dir: Path, backlog: RunBacklog) -> None:
        """Take in the writes a run's backlog describes (see ``RunIndex.mirror_run``)."""
        run_id = run_dir.name
        # Files are read inside the write transaction: whichever writer commits last
        # read them after every earlier write, so the index ends equal to the files.
        known = db.execute("SELECT 1 FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()
        key = experiment_key(db, run_dir.parent.name, create=False)
        if known is None or key is None:
            self.sync_run(db, run_dir)  # reads the metric files too
        else:
            if "info" in backlog.parts and not sync_info(db, run_dir, key):
                return
            if "data" in backlog.parts:
                sync_data(db, run_dir)
            if "inputs" in backlog.parts:
                sync_inputs(db, run_dir, key)
            merge_latest(db, run_id, list(backlog.latest.values()))
            advance_offsets(db, backlog.spans)
        set_stamp(db, "run", run_id, run_stamp(run_dir))
