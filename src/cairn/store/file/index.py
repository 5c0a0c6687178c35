"""The search index of an ``mlruns`` store: a Cairn SQL database mirroring the files.

``mlruns/.cairn-index.sqlite`` has the schema of Cairn's SQL store, so ``search_runs`` is
answered by ``SqlStore.search_runs``: one implementation of the search semantics for
every backend, and no directory walk per query. The files stay the source of truth:

- every write through ``FileStore`` goes to the files first, then is mirrored here
  (writes of metrics alone within a second, many in one transaction: see ``backlog``);
- before a search, each experiment's fingerprint (mtimes of its directory, meta file
  and tags) is compared with the one recorded at the last sync; a changed experiment has
  its run directories diffed against the index, so runs added or removed by another
  writer (MLflow itself, ``rm -r``) are picked up;
- the first search in a process also compares a cheap stamp of every run (mtimes of
  ``meta.yaml`` and of the metrics/params/tags directories) and re-reads runs whose
  stamp changed, catching edits made inside existing runs while Cairn was not running;
- a missing, corrupt or outdated index is rebuilt from the files.

Experiments are indexed under their numeric id (the SQL schema's key); the index
records only what run search needs, and experiment search reads the files directly.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import logging
import os
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cairn.entities import LifecycleStage, Metric, PagedList, Run, ViewType
from cairn.search.paging import encode_page_token
from cairn.store.file import layout, reader, tails
from cairn.store.file.backlog import MetricBacklog, RunBacklog

if TYPE_CHECKING:
    import sqlalchemy as sa

    from cairn.store.tracking import TrackingStore

_log = logging.getLogger(__name__)

_SYNC_TABLE = "cairn_file_sync"
_KEYS_TABLE = "cairn_file_experiment_keys"
_OFFSETS_TABLE = "cairn_file_metric_offsets"
# Runs whose files each search re-checks for edits made behind the index's back, half
# of them among RUNNING runs (where other writers log), the rest among all runs.
_RECHECK_RUNS_PER_SEARCH = 128
# Deferred metric writes are mirrored after this many writes or seconds, at the latest.
_FLUSH_AFTER_WRITES = 1_000
_FLUSH_AFTER_SECONDS = 1.0


def _stat_ns(path: str | Path) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (0, -1)
    return (st.st_mtime_ns, st.st_size)


def _file_signature(path: Path) -> tuple[int, int, int, int] | None:
    """Changes whenever the file is rewritten in place or replaced; None if missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def experiment_fingerprint(experiment_dir: Path) -> str:
    """Changes when runs are added or removed, the experiment is edited or moved."""
    parts = [experiment_dir.parent.name]
    for path in (experiment_dir, experiment_dir / layout.META, experiment_dir / layout.TAGS):
        parts.extend(str(v) for v in _stat_ns(path))
    return ":".join(parts)


_RUN_STAMP_PARTS = (layout.META, layout.METRICS, layout.PARAMS, layout.TAGS, layout.INPUTS)


def run_stamp(run_dir: Path) -> str:
    """Changes when a run's meta file is rewritten or a param, tag or metric key appears."""
    base = str(run_dir)
    parts: list[str] = []
    for name in _RUN_STAMP_PARTS:
        parts.extend(str(v) for v in _stat_ns(os.path.join(base, name)))
    return ":".join(parts)


def _experiment_key(conn: sa.Connection, experiment_id: str, create: bool = True) -> int | None:
    """The index's integer key for an experiment directory.

    MLflow's ids (18 random digits) overflow the SQL schema's 32-bit key, so the index
    numbers experiments itself; results are mapped back to the directory names.
    """
    import sqlalchemy as sa

    key = conn.execute(_statements()["experiment_key"], {"e": experiment_id}).scalar()
    if key is not None or not create:
        return None if key is None else int(key)
    if experiment_id == layout.DEFAULT_EXPERIMENT_ID:
        key = 0
    else:
        key = conn.execute(sa.text(f"SELECT COALESCE(MAX(key), 0) + 1 FROM {_KEYS_TABLE}")).scalar()
    conn.execute(
        sa.text(f"INSERT INTO {_KEYS_TABLE} (experiment_id, key) VALUES (:e, :k)"),
        {"e": experiment_id, "k": key},
    )
    return int(key)  # type: ignore[arg-type]


def _flush_at_exit(index: weakref.ref[RunIndex]) -> None:
    alive = index()
    if alive is not None:
        alive.flush_pending()


def _index_dataset_id(experiment_id: str, dataset_dir_name: str) -> str:
    # the SQL schema keys datasets globally; in mlruns they are per experiment
    return layout.dataset_id(experiment_id, dataset_dir_name)


_RUN_ROW_COLUMNS = (
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


@functools.cache
def _statements() -> dict[str, sa.Executable]:
    """The statements every mirrored write runs, built once per process.

    Building and keying a SQLAlchemy statement costs several times what SQLite takes to
    run it; with bound parameters the same objects serve every run. (Built on first use:
    importing this module must not import SQLAlchemy.)
    """
    import sqlalchemy as sa

    from cairn.store.sql import tables as t

    run_id: sa.BindParameter[str] = sa.bindparam("run_id")
    return {
        "known": sa.select(t.runs.c.run_uuid).where(t.runs.c.run_uuid == run_id),
        "update_run": t.runs.update()
        .where(t.runs.c.run_uuid == run_id)
        .values({c: sa.bindparam(c) for c in _RUN_ROW_COLUMNS}),
        "insert_run": t.runs.insert().values(
            run_uuid=run_id, **{c: sa.bindparam(c) for c in _RUN_ROW_COLUMNS}
        ),
        "delete_params": t.params.delete().where(t.params.c.run_uuid == run_id),
        "delete_tags": t.tags.delete().where(t.tags.c.run_uuid == run_id),
        "insert_params": t.params.insert(),
        "insert_tags": t.tags.insert(),
        "delete_input_tags": t.input_tags.delete().where(
            t.input_tags.c.input_uuid.in_(
                sa.select(t.inputs.c.input_uuid).where(t.inputs.c.run_uuid == run_id)
            )
        ),
        "delete_inputs": t.inputs.delete().where(t.inputs.c.run_uuid == run_id),
        "experiment_row": sa.select(
            t.experiments.c.name,
            t.experiments.c.artifact_location,
            t.experiments.c.lifecycle_stage,
            t.experiments.c.creation_time,
            t.experiments.c.last_update_time,
        ).where(t.experiments.c.experiment_id == sa.bindparam("key")),
        "experiment_key": sa.text(f"SELECT key FROM {_KEYS_TABLE} WHERE experiment_id = :e"),
        "set_stamp": sa.text(
            f"INSERT INTO {_SYNC_TABLE} (kind, id, stamp) VALUES (:kind, :id, :stamp) "
            "ON CONFLICT (kind, id) DO UPDATE SET stamp = excluded.stamp"
        ),
    }


class RunIndex:
    """Mirror of an ``mlruns`` directory in a SQL database, used to answer ``search_runs``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / layout.INDEX_FILE
        self._lock = threading.RLock()
        self._engine: sa.Engine | None = None
        self._search_store: TrackingStore | None = None
        self._unavailable = False
        self._deep_checked: set[str] = set()
        # where the rotating re-check of runs stopped: (RUNNING runs, all runs)
        self._recheck_after = ["", ""]
        self._dirty_runs: set[Path] = set()
        # experiment dir -> (meta.yaml signature, the experiments row written from it)
        self._experiment_rows: dict[Path, tuple[tuple[int, int, int, int], dict[str, object]]] = {}
        # metric writes not mirrored yet (see backlog.py)
        self._backlog = MetricBacklog(self.flush_pending, _FLUSH_AFTER_WRITES, _FLUSH_AFTER_SECONDS)
        atexit.register(_flush_at_exit, weakref.ref(self))

    # -- opening -----------------------------------------------------------------------------
    def _open(self) -> sa.Engine | None:
        if self._engine is not None or self._unavailable:
            return self._engine
        with self._lock:
            if self._engine is not None or self._unavailable:
                return self._engine
            try:
                self._engine, self._search_store = self._connect()
            except ImportError:
                self._unavailable = True  # the SQL store is not installed: search the files
            except Exception:
                _log.warning("Rebuilding the unusable index %s", self.path, exc_info=True)
                self._remove_files()
                try:
                    self._engine, self._search_store = self._connect()
                except Exception:
                    _log.warning("Index %s unusable; searching the files", self.path, exc_info=True)
                    self._unavailable = True
            return self._engine

    def _connect(self) -> tuple[sa.Engine, TrackingStore]:
        import sqlalchemy as sa

        from cairn.store.sql.engine import create_engine, write_transaction
        from cairn.store.sql.store import SqlStore

        uri = f"sqlite:///{self.path}"
        search_store = SqlStore(uri, None)
        engine = create_engine(uri)
        with write_transaction(engine) as conn:
            conn.execute(
                sa.text(
                    f"CREATE TABLE IF NOT EXISTS {_SYNC_TABLE} ("
                    "kind TEXT NOT NULL, id TEXT NOT NULL, stamp TEXT NOT NULL, "
                    "PRIMARY KEY (kind, id))"
                )
            )
            conn.execute(
                sa.text(
                    f"CREATE TABLE IF NOT EXISTS {_KEYS_TABLE} ("
                    "experiment_id TEXT PRIMARY KEY, key INTEGER NOT NULL UNIQUE)"
                )
            )
            conn.execute(
                sa.text(
                    f"CREATE TABLE IF NOT EXISTS {_OFFSETS_TABLE} ("
                    "run_uuid TEXT NOT NULL, key TEXT NOT NULL, offset INTEGER NOT NULL, "
                    "PRIMARY KEY (run_uuid, key))"
                )
            )
        return engine, search_store

    def _remove_files(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.path}{suffix}")

    def close(self) -> None:
        self.flush_pending()
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
            dispose = getattr(self._search_store, "close", None)
            if callable(dispose):
                dispose()
            self._engine = self._search_store = None

    # -- mirroring writes ---------------------------------------------------------------------
    def mirror_run(
        self,
        run_dir: Path,
        metrics: Mapping[str, Sequence[Metric]] | None = None,
        parts: frozenset[str] = frozenset({"info", "data", "inputs"}),
        appended: Mapping[str, tuple[int, int]] | None = None,
    ) -> None:
        """Bring a run's rows in line with its files after a write through the store.

        ``parts`` names what the write touched: ``info`` (meta.yaml), ``data`` (params and
        tags), ``inputs``. ``metrics`` (points per key) are merged into the latest values:
        the hot path of logging never re-reads a metric history. ``appended`` gives, per
        metric key, the byte span those points were appended at, so the recorded read
        offsets can move past them (see ``_advance_offsets``).

        A write of metrics alone is not mirrored at once: its latest values wait in a
        backlog (see ``backlog``) and go in with others in one transaction.
        """
        if metrics and not parts:
            if self._backlog.add(run_dir, metrics, appended or {}):
                self.flush_pending()
            return
        self.flush_pending()  # earlier metric writes go in first
        engine = self._open()
        if engine is None:
            return
        try:
            with self._write(engine) as conn:
                self._mirror(conn, run_dir, metrics or {}, parts, appended or {})
        except Exception:
            # the files hold the data; the next search re-reads this run
            _log.warning("Index update failed for %s; will resync", run_dir, exc_info=True)
            with self._lock:
                self._dirty_runs.add(run_dir)

    @staticmethod
    def _write(engine: sa.Engine) -> contextlib.AbstractContextManager[sa.Connection]:
        from cairn.store.sql.engine import write_transaction

        return write_transaction(engine)

    def flush_pending(self) -> None:
        """Mirror every metric write still in the backlog, in one transaction."""
        with self._lock:  # held throughout: a search waits for writes taken before it
            waiting = self._backlog.take()
            if not waiting:
                return
            engine = self._open()
            if engine is None:
                return
            try:
                with self._write(engine) as conn:
                    for run_dir, backlog in waiting.items():
                        self._mirror(conn, run_dir, {}, frozenset(), {}, backlog)
            except Exception:
                _log.warning("Index update failed; will resync", exc_info=True)
                self._dirty_runs.update(waiting)

    def _mirror(
        self,
        conn: sa.Connection,
        run_dir: Path,
        metrics: Mapping[str, Sequence[Metric]],
        parts: frozenset[str],
        appended: Mapping[str, tuple[int, int]],
        backlog: RunBacklog | None = None,
    ) -> None:

        run_id = run_dir.name
        # Files are read inside the write transaction: whichever writer commits last
        # read them after every earlier write, so the index ends equal to the files.
        known = conn.execute(_statements()["known"], {"run_id": run_id}).first()
        key = _experiment_key(conn, run_dir.parent.name, create=False)
        if known is None or key is None:
            self._sync_run(conn, run_dir)
        else:
            if "info" in parts and not self._sync_info(conn, run_dir, key):
                return
            if "data" in parts:
                self._sync_data(conn, run_dir)
            if "inputs" in parts:
                self._sync_inputs(conn, run_dir, key)
            if metrics:
                latest = [layout.latest_metric(points) for points in metrics.values() if points]
                self._merge_latest(conn, run_id, latest)
                self._advance_offsets(
                    conn,
                    [{"r": run_id, "k": k, "s": s, "e": e} for k, (s, e) in appended.items()],
                )
            if backlog is not None:
                self._merge_latest(conn, run_id, list(backlog.latest.values()))
                self._advance_offsets(conn, backlog.spans)
        self._set_stamp(conn, "run", run_id, run_stamp(run_dir))

    def _merge_latest(self, conn: sa.Connection, run_id: str, metrics: Sequence[Metric]) -> None:
        """Keep, per key, the later of the indexed latest point and the batch's latest."""
        from cairn.store.sql.dialects import update_latest_metrics
        from cairn.store.sql.writes import metric_rows

        _, latest = metric_rows(run_id, metrics, conn.dialect.name)
        update_latest_metrics(conn, run_id, latest)

    def _advance_offsets(self, conn: sa.Connection, spans: list[dict[str, object]]) -> None:
        """Move a metric file's read offset past points just merged, when that is sound.

        Only when the append started exactly at the recorded offset (or at 0, for a new
        file): then every byte before its end has been taken in. If another writer's
        lines came in between, the offset stays and the next re-check reads from there
        (merging a point twice is harmless: the later point wins either way).
        """
        import sqlalchemy as sa

        if not spans:
            return
        # A new file's offset row first, then the spans in the order they were appended:
        # each moves the offset only from where the previous one left it.
        fresh = [span for span in spans if span["s"] == 0]
        if fresh:
            conn.execute(
                sa.text(
                    f"INSERT OR IGNORE INTO {_OFFSETS_TABLE} (run_uuid, key, offset) "
                    "VALUES (:r, :k, :e)"
                ),
                fresh,
            )
        conn.execute(
            sa.text(
                f"UPDATE {_OFFSETS_TABLE} SET offset = :e "
                "WHERE run_uuid = :r AND key = :k AND offset = :s"
            ),
            spans,
        )

    def remove_run(self, run_id: str) -> None:
        self.flush_pending()
        engine = self._open()
        if engine is None:
            return
        from cairn.store.sql.engine import write_transaction

        with write_transaction(engine) as conn:
            self._delete_runs(conn, [run_id])

    def remove_experiment(self, experiment_id: str) -> None:
        self.flush_pending()
        engine = self._open()
        if engine is None:
            return
        import sqlalchemy as sa

        from cairn.store.sql import tables as t
        from cairn.store.sql.engine import write_transaction

        with write_transaction(engine) as conn:
            key = _experiment_key(conn, experiment_id, create=False)
            if key is None:
                return
            run_ids = [
                r[0]
                for r in conn.execute(
                    sa.select(t.runs.c.run_uuid).where(t.runs.c.experiment_id == key)
                )
            ]
            self._delete_runs(conn, run_ids)
            conn.execute(t.datasets.delete().where(t.datasets.c.experiment_id == key))
            conn.execute(t.experiment_tags.delete().where(t.experiment_tags.c.experiment_id == key))
            conn.execute(t.experiments.delete().where(t.experiments.c.experiment_id == key))
            self._delete_stamp(conn, "experiment", experiment_id)
            conn.execute(
                sa.text(f"DELETE FROM {_KEYS_TABLE} WHERE experiment_id = :e"), {"e": experiment_id}
            )

    def forget_experiment_fingerprint(self, experiment_id: str) -> None:
        """Make the next search re-check this experiment (after a move, rename or tag)."""
        engine = self._open()
        if engine is None:
            return
        from cairn.store.sql.engine import write_transaction

        try:
            with write_transaction(engine) as conn:
                self._delete_stamp(conn, "experiment", experiment_id)
        except Exception:
            _log.warning("Index update failed for experiment %s", experiment_id, exc_info=True)

    # -- syncing from the files ------------------------------------------------------------
    def _sync_run(self, conn: sa.Connection, run_dir: Path) -> None:
        """Replace all of a run's rows with what its files hold."""

        key = self._ensure_experiment(conn, run_dir.parent)
        if not self._sync_info(conn, run_dir, key):
            return
        self._sync_data(conn, run_dir)
        self._catch_up_metrics(conn, run_dir, None, tails.metric_file_sizes(run_dir))
        self._sync_inputs(conn, run_dir, key)

    def _sync_info(self, conn: sa.Connection, run_dir: Path, key: int) -> bool:
        """Write the run's row from its meta.yaml; False (and no rows) if it has none."""

        run_id = run_dir.name
        meta = layout.load_yaml(run_dir / layout.META)
        info = None
        if meta is not None and (meta.get("run_id") or meta.get("run_uuid")):
            info = layout.run_info_from_meta(meta)
        if info is None or info.experiment_id != run_dir.parent.name or info.run_id != run_id:
            self._delete_runs(conn, [run_id])
            return False
        deleted_time = meta.get("deleted_time") if meta else None
        name = info.run_name
        if not name:  # very old runs keep their name only in the tag
            name = layout.read_key_values(run_dir / layout.TAGS).get("mlflow.runName", "")
        row = {
            "name": name,
            "experiment_id": key,
            "user_id": info.user_id,
            "status": info.status,
            "start_time": info.start_time,
            "end_time": info.end_time,
            "deleted_time": None if deleted_time is None else int(deleted_time),
            "lifecycle_stage": info.lifecycle_stage,
            "artifact_uri": info.artifact_uri,
        }
        statements = _statements()
        updated = conn.execute(statements["update_run"], {"run_id": run_id, **row})
        if updated.rowcount == 0:
            conn.execute(statements["insert_run"], {"run_id": run_id, **row})
        return True

    def _sync_data(self, conn: sa.Connection, run_dir: Path) -> None:
        """Replace the run's param and tag rows with its param and tag files."""
        statements = _statements()
        run_id = run_dir.name
        for kind, directory in (("params", layout.PARAMS), ("tags", layout.TAGS)):
            conn.execute(statements[f"delete_{kind}"], {"run_id": run_id})
            values = layout.read_key_values(run_dir / directory)
            if values:
                conn.execute(
                    statements[f"insert_{kind}"],
                    [{"run_uuid": run_id, "key": k, "value": v} for k, v in values.items()],
                )

    def _sync_inputs(self, conn: sa.Connection, run_dir: Path, experiment_id: int) -> None:

        from cairn.store.sql import tables as t

        run_id = run_dir.name
        statements = _statements()
        conn.execute(statements["delete_input_tags"], {"run_id": run_id})
        conn.execute(statements["delete_inputs"], {"run_id": run_id})
        for item in reader.read_inputs(run_dir, run_dir.parent):
            dataset_uuid = _index_dataset_id(
                run_dir.parent.name, layout.dataset_id(item.dataset.name, item.dataset.digest)
            )
            exists = conn.execute(
                t.datasets.select()
                .with_only_columns(t.datasets.c.dataset_uuid)
                .where(t.datasets.c.dataset_uuid == dataset_uuid)
            ).first()
            if exists is None:
                conn.execute(
                    t.datasets.insert().values(
                        dataset_uuid=dataset_uuid,
                        experiment_id=experiment_id,
                        name=item.dataset.name,
                        digest=item.dataset.digest,
                        source_type=item.dataset.source_type,
                        source=item.dataset.source,
                        dataset_schema=item.dataset.schema,
                        dataset_profile=item.dataset.profile,
                    )
                )
            input_uuid = layout.dataset_input_id(dataset_uuid, run_id)
            conn.execute(
                t.inputs.insert().values(
                    input_uuid=input_uuid, dataset_uuid=dataset_uuid, run_uuid=run_id
                )
            )
            if item.tags:
                conn.execute(
                    t.input_tags.insert(),
                    [
                        {"input_uuid": input_uuid, "name": tag.key, "value": tag.value}
                        for tag in item.tags
                    ],
                )

    def _ensure_experiment(self, conn: sa.Connection, experiment_dir: Path) -> int:
        """Create or update the experiment's row; returns its index key."""
        from cairn.store.sql import tables as t

        # Every new run lands here. When meta.yaml (all the row is made of) has not
        # changed since this process last wrote the row, and the row still holds those
        # values, there is nothing to read or write. The row is checked rather than
        # trusted: a rolled-back transaction or another process may have changed it.
        signature = _file_signature(experiment_dir / layout.META)
        cached = self._experiment_rows.get(experiment_dir)
        if signature is not None and cached is not None and cached[0] == signature:
            key = _experiment_key(conn, experiment_dir.name, create=False)
            if key is not None:
                stored = conn.execute(_statements()["experiment_row"], {"key": key}).first()
                if stored is not None and dict(stored._mapping) == cached[1]:
                    return key
        experiment = reader.read_experiment(experiment_dir)
        experiment_id = _experiment_key(conn, experiment_dir.name)
        assert experiment_id is not None
        row: dict[str, object] = {
            # names must be unique in the SQL schema; the files hold the real one, and
            # experiment search reads the files
            "name": f"mlruns-experiment-{experiment_id}",
            "artifact_location": experiment.artifact_location if experiment else None,
            "lifecycle_stage": experiment.lifecycle_stage if experiment else LifecycleStage.ACTIVE,
            "creation_time": experiment.creation_time if experiment else None,
            "last_update_time": experiment.last_update_time if experiment else None,
        }
        updated = conn.execute(
            t.experiments.update()
            .where(t.experiments.c.experiment_id == experiment_id)
            .values(**row)
        )
        if updated.rowcount == 0:
            conn.execute(t.experiments.insert().values(experiment_id=experiment_id, **row))
        if signature is not None and experiment is not None:
            self._experiment_rows[experiment_dir] = (signature, row)
        return experiment_id

    def _delete_runs(self, conn: sa.Connection, run_ids: Sequence[str]) -> None:
        """Remove runs with all their rows, sync stamps and metric offsets."""
        import sqlalchemy as sa

        from cairn.store.sql.gc import erase_runs

        if not run_ids:
            return
        erase_runs(conn, run_ids)
        ids = [{"id": run_id} for run_id in run_ids]
        conn.execute(sa.text(f"DELETE FROM {_SYNC_TABLE} WHERE kind = 'run' AND id = :id"), ids)
        conn.execute(sa.text(f"DELETE FROM {_OFFSETS_TABLE} WHERE run_uuid = :id"), ids)

    def _set_stamp(self, conn: sa.Connection, kind: str, key: str, stamp: str) -> None:

        conn.execute(_statements()["set_stamp"], {"kind": kind, "id": key, "stamp": stamp})

    def _delete_stamp(self, conn: sa.Connection, kind: str, key: str) -> None:
        import sqlalchemy as sa

        conn.execute(
            sa.text(f"DELETE FROM {_SYNC_TABLE} WHERE kind = :kind AND id = :id"),
            {"kind": kind, "id": key},
        )

    def refresh(self, experiment_dirs: Iterable[Path], deep: bool = False) -> None:
        """Re-sync what changed on disk since the last sync, for these experiments."""
        self.flush_pending()
        engine = self._open()
        if engine is None:
            return
        import sqlalchemy as sa

        from cairn.store.sql.engine import read_transaction, write_transaction

        with self._lock:
            dirty, self._dirty_runs = self._dirty_runs, set()
        for experiment_dir in experiment_dirs:
            experiment_id = experiment_dir.name
            check_runs = deep or experiment_id not in self._deep_checked
            fingerprint = experiment_fingerprint(experiment_dir)
            with read_transaction(engine) as conn:
                key = _experiment_key(conn, experiment_id, create=False)
                recorded = conn.execute(
                    sa.text(
                        f"SELECT stamp FROM {_SYNC_TABLE} WHERE kind = 'experiment' AND id = :id"
                    ),
                    {"id": experiment_id},
                ).scalar()
                changed_dirty = [d for d in dirty if d.parent == experiment_dir]
                if recorded == fingerprint and not check_runs and not changed_dirty:
                    continue
                stamps: dict[str, str | None] = dict(
                    conn.execute(
                        sa.text(
                            f"SELECT r.run_uuid, s.stamp FROM runs r LEFT JOIN {_SYNC_TABLE} s "
                            "ON s.kind = 'run' AND s.id = r.run_uuid WHERE r.experiment_id = :e"
                        ),
                        {"e": -1 if key is None else key},
                    ).all()
                )
            on_disk = {p.name: p for p in reader.iter_run_dirs(experiment_dir)}
            to_sync = [
                p for name, p in on_disk.items() if name not in stamps or stamps[name] is None
            ]
            if check_runs:
                to_sync += [
                    p for name, p in on_disk.items()
                    if name in stamps and stamps[name] is not None and stamps[name] != run_stamp(p)
                ]  # fmt: skip
            to_sync += [d for d in changed_dirty if d.name in on_disk]
            gone = [run_id for run_id in stamps if run_id not in on_disk]
            for start in range(0, max(len(to_sync), 1), 200):
                with write_transaction(engine) as conn:
                    if start == 0:
                        self._ensure_experiment(conn, experiment_dir)
                        self._delete_runs(conn, gone)
                    for run_dir in to_sync[start : start + 200]:
                        if (run_dir / layout.META).is_file():
                            self._sync_run(conn, run_dir)
                            self._set_stamp(conn, "run", run_dir.name, run_stamp(run_dir))
                        else:
                            self._delete_runs(conn, [run_dir.name])
            with write_transaction(engine) as conn:
                self._set_stamp(conn, "experiment", experiment_id, fingerprint)
            self._deep_checked.add(experiment_id)

    def _catch_up_metrics(
        self,
        conn: sa.Connection,
        run_dir: Path,
        recorded: dict[str, int] | None,
        sizes: dict[str, int],
    ) -> None:
        """Take in what was appended to a run's metric files since the offsets recorded.

        ``recorded`` None means the run is read afresh: every latest value is replaced.
        A file with no recorded offset, or one shorter than recorded, is read whole.
        """
        import sqlalchemy as sa

        from cairn.store.sql import tables as t

        run_id = run_dir.name
        lm = t.latest_metrics
        if recorded is None:
            conn.execute(lm.delete().where(lm.c.run_uuid == run_id))
            conn.execute(
                sa.text(f"DELETE FROM {_OFFSETS_TABLE} WHERE run_uuid = :r"), {"r": run_id}
            )
            recorded = {}
        offsets = []
        reread: list[str] = []
        newest: list[Metric] = []
        for key, size in sizes.items():
            start = recorded.get(key)
            if start == size:
                continue
            whole = start is None or size < start
            try:
                points, offset = tails.read_metric_tail(
                    run_dir / layout.METRICS / key, key, 0 if whole else start or 0
                )
            except (FileNotFoundError, ValueError):
                continue  # gone, or not a metric file: the files stay the truth
            if whole:
                reread.append(key)
            if points:
                newest.append(layout.latest_metric(points))
            offsets.append({"r": run_id, "k": key, "o": offset})
        if reread:
            conn.execute(lm.delete().where(lm.c.run_uuid == run_id, lm.c.key.in_(reread)))
        self._merge_latest(conn, run_id, newest)
        gone = [{"r": run_id, "k": key} for key in recorded if key not in sizes]
        if gone:
            conn.execute(
                lm.delete().where(lm.c.run_uuid == run_id, lm.c.key.in_([g["k"] for g in gone]))
            )
            conn.execute(
                sa.text(f"DELETE FROM {_OFFSETS_TABLE} WHERE run_uuid = :r AND key = :k"), gone
            )
        if offsets:
            conn.execute(
                sa.text(
                    f"INSERT INTO {_OFFSETS_TABLE} (run_uuid, key, offset) VALUES (:r, :k, :o) "
                    "ON CONFLICT (run_uuid, key) DO UPDATE SET offset = excluded.offset"
                ),
                offsets,
            )

    def recheck_runs(self, experiment_dirs: Sequence[Path]) -> None:
        """Catch edits made inside already-indexed runs by writers other than Cairn.

        Such edits (MLflow appending metric points, ending a run, adding a tag) change
        no directory the experiment fingerprint watches. Each search therefore re-checks
        a bounded, rotating slice of the searched runs, RUNNING ones first: their stamp
        (a few stats) and the sizes of their metric files. Changed runs are re-read;
        grown metric files only from where the index stopped reading.
        """
        engine = self._open()
        if engine is None:
            return
        import sqlalchemy as sa

        from cairn.store.sql import tables as t
        from cairn.store.sql.engine import read_transaction, write_transaction

        with read_transaction(engine) as conn:
            keys = {
                key: d
                for d in experiment_dirs
                if (key := _experiment_key(conn, d.name, create=False)) is not None
            }
            if not keys:
                return
            runs = t.runs
            chosen: dict[str, Path] = {}
            budget = _RECHECK_RUNS_PER_SEARCH // 2
            for slot, running_only in ((0, True), (1, False)):
                query = sa.select(runs.c.run_uuid, runs.c.experiment_id).where(
                    runs.c.experiment_id.in_(list(keys))
                )
                if running_only:
                    query = query.where(runs.c.status == "RUNNING")
                query = query.order_by(runs.c.run_uuid)
                after = self._recheck_after[slot]
                rows = list(conn.execute(query.where(runs.c.run_uuid > after).limit(budget)))
                if len(rows) < budget and after:  # wrap around
                    rows += conn.execute(
                        query.where(runs.c.run_uuid <= after).limit(budget - len(rows))
                    )
                if rows:
                    self._recheck_after[slot] = rows[-1].run_uuid
                for row in rows:
                    chosen[row.run_uuid] = keys[row.experiment_id] / row.run_uuid
                budget = _RECHECK_RUNS_PER_SEARCH - len(chosen)
            if not chosen:
                return
            ids = list(chosen)
            stamps: dict[str, str] = dict(
                conn.execute(
                    sa.text(
                        f"SELECT id, stamp FROM {_SYNC_TABLE} WHERE kind = 'run' AND id IN :ids"
                    ).bindparams(sa.bindparam("ids", expanding=True)),
                    {"ids": ids},
                ).all()
            )
            recorded: dict[str, dict[str, int]] = {run_id: {} for run_id in ids}
            for run_id, key, offset in conn.execute(
                sa.text(
                    f"SELECT run_uuid, key, offset FROM {_OFFSETS_TABLE} WHERE run_uuid IN :ids"
                ).bindparams(sa.bindparam("ids", expanding=True)),
                {"ids": ids},
            ):
                recorded[run_id][key] = offset
        resync: list[Path] = []
        grown: list[tuple[Path, dict[str, int]]] = []
        for run_id, run_dir in chosen.items():
            if stamps.get(run_id) != run_stamp(run_dir):
                resync.append(run_dir)
                continue
            sizes = tails.metric_file_sizes(run_dir)
            if sizes != recorded[run_id]:
                grown.append((run_dir, sizes))
        if not resync and not grown:
            return
        with write_transaction(engine) as conn:
            for run_dir in resync:
                if (run_dir / layout.META).is_file():
                    self._sync_run(conn, run_dir)
                    self._set_stamp(conn, "run", run_dir.name, run_stamp(run_dir))
                else:
                    self._delete_runs(conn, [run_dir.name])
            for run_dir, sizes in grown:
                self._catch_up_metrics(conn, run_dir, recorded[run_dir.name], sizes)

    # -- searching ------------------------------------------------------------------------
    def search_runs(
        self,
        experiment_dirs: Sequence[Path],
        filter_string: str,
        view: ViewType,
        max_results: int,
        order_by: Sequence[str] | None,
        offset: int,
    ) -> PagedList[Run] | None:
        """Search through the index; None when it cannot answer (the caller scans files)."""
        engine = self._open()
        if engine is None or self._search_store is None:
            return None
        if not experiment_dirs:
            return PagedList([], None)
        self.refresh(experiment_dirs)
        self.recheck_runs(experiment_dirs)
        from cairn.store.sql.engine import read_transaction

        with read_transaction(engine) as conn:
            keys = {d.name: _experiment_key(conn, d.name, create=False) for d in experiment_dirs}
        names = {str(key): name for name, key in keys.items() if key is not None}
        found = self._search_store.search_runs(
            list(names),
            filter_string,
            view,
            max_results,
            order_by,
            encode_page_token(offset) if offset else None,
        )
        runs = [
            dataclasses.replace(
                run,
                info=dataclasses.replace(run.info, experiment_id=names[run.info.experiment_id]),
            )
            for run in found
        ]
        return PagedList(runs, found.token)
