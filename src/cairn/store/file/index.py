"""The search index of an ``mlruns`` store: a Cairn SQL database mirroring the files.

``mlruns/.cairn-index.sqlite`` has the schema of Cairn's SQL store, so ``search_runs`` is
answered by ``SqlStore.search_runs``: one implementation of the search semantics for
every backend, and no directory walk per query. The files stay the source of truth:

- the first search creates the index and reads every run from the files; until then
  writes do not touch it (a script that only logs never loads SQLAlchemy);
- every write through ``FileStore`` goes to the files first, then is mirrored here
  within a second, many writes in one transaction (see ``backlog``), with stdlib
  ``sqlite3`` statements (see ``mirror``);
- before a search, each experiment's fingerprint (mtimes of its directory, meta file
  and tags) is compared with the one recorded at the last sync; a changed experiment has
  its run directories diffed against the index, so runs added or removed by another
  writer (MLflow itself, another process whose writes are not mirrored yet, ``rm -r``)
  are picked up;
- the first search in a process also compares a cheap stamp of every run (mtimes of
  ``meta.yaml`` and of the metrics/params/tags directories) and re-reads runs whose
  stamp changed, catching edits made inside existing runs while Cairn was not running;
  later searches re-check a rotating slice of runs the same way (``recheck_runs``):
  RUNNING runs at every search, the others at most once a second;
- a missing, corrupt or outdated index is rebuilt from the files.

Experiments are indexed under their numeric id (the SQL schema's key); the index
records only what run search needs, and experiment search reads the files directly.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import operator
import os
import re
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from time import monotonic
from typing import TYPE_CHECKING

from cairn import _forking
from cairn.entities import Metric, PagedList, Run, RunInfo, ViewType
from cairn.search import grammar
from cairn.search.paging import encode_page_token
from cairn.store.file import layout, mirror, reader, tails
from cairn.store.file.backlog import WriteBacklog
from cairn.store.file.mirror import run_stamp, stat_ns

if TYPE_CHECKING:
    from cairn.store.sql.store import SqlStore

_log = logging.getLogger(__name__)

# Runs whose files each search re-checks for edits made behind the index's back, half
# of them among RUNNING runs (where other writers log), the rest among all runs.
_RECHECK_RUNS_PER_SEARCH = 128
# The slice among all runs is taken at most this often. It costs ~50 us a run here
# (a dozen stats), 6-15 ms a search at 128 runs: more than the search itself at 500 runs.
# Searches in a burst (a script's loop, a page of the UI asking for several views) would
# each stat the same files to find the same nothing; RUNNING runs are still re-checked
# at every search.
_RECHECK_ALL_RUNS_INTERVAL_S = 1.0
# Deferred writes are mirrored after this many writes or seconds, at the latest.
_FLUSH_AFTER_WRITES = 1_000
_FLUSH_AFTER_SECONDS = 1.0
_RUNS_PER_SYNC_TRANSACTION = 200
# Syncing this many runs before a search answers is worth telling the user about.
_ANNOUNCED_SYNC_RUNS = 5_000
_START_TIME_LINE = re.compile(rb"^start_time: *(\d+)", re.MULTILINE)


def experiment_fingerprint(experiment_dir: Path) -> str:
    """Changes when runs are added or removed, the experiment is edited or moved."""
    parts = [experiment_dir.parent.name]
    for path in (experiment_dir, experiment_dir / layout.META, experiment_dir / layout.TAGS):
        parts.extend(str(v) for v in stat_ns(path))
    return ":".join(parts)


def _start_time_hint(run_dir: Path) -> int:
    """The start_time a run's meta.yaml states, found without parsing YAML (0 if none).

    Runs are synced in this order so that their rows lie in the index's tables in the
    order searches walk them (the start_time index), as in a SQL store fed run by run;
    in directory order, most searches at 20,000 runs took 1.4-1.6x as long. The extra
    read costs ~16 us a run, under 2% of syncing it.
    """
    try:
        match = _START_TIME_LINE.search((run_dir / layout.META).read_bytes())
    except OSError:
        return 0
    return int(match.group(1)) if match else 0


def _orders_by_experiment_id(order_by: Sequence[str] | None) -> bool:
    keys = grammar.parse_run_order_by(order_by)
    return any(k.entity == "attribute" and k.key == "experiment_id" for k in keys)


def _flush_at_exit(index: weakref.ref[RunIndex]) -> None:
    alive = index()
    if alive is not None:
        alive.flush_pending()


class RunIndex:
    """Mirror of an ``mlruns`` directory in a SQL database, used to answer ``search_runs``.

    One ``sqlite3`` connection serves every thread of the store, under ``_lock``;
    searches themselves go through ``SqlStore`` and its own connections.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / layout.INDEX_FILE
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._search_store: SqlStore | None = None
        self._unavailable = False
        self._deep_checked: set[str] = set()
        # where the rotating re-check of runs stopped: (RUNNING runs, all runs)
        self._recheck_after = ["", ""]
        self._next_all_runs_recheck = 0.0  # monotonic() time of the next slice of all runs
        self._dirty_runs: set[Path] = set()
        self._mirror = mirror.RunMirror()
        # writes not mirrored yet (see backlog.py)
        self._backlog = self._new_backlog()
        atexit.register(_flush_at_exit, weakref.ref(self))
        _forking.renew_in_child(self, RunIndex._after_fork)

    def _new_backlog(self) -> WriteBacklog:
        return WriteBacklog(self.flush_pending, _FLUSH_AFTER_WRITES, _FLUSH_AFTER_SECONDS)

    def _after_fork(self) -> None:
        """In a forked child: locks a thread of the parent may have held (its backlog
        timer mirrors in the background) would stay held for good, and the parent's
        connection is not the child's to use. The parent mirrors its own backlog."""
        self._lock = threading.RLock()
        if self._db is not None:
            _forking.keep_inherited(self._db)
            self._db = None
        self._backlog = self._new_backlog()

    # -- opening -----------------------------------------------------------------------------
    def _database(self, create: bool) -> sqlite3.Connection | None:
        """The index's connection, with ``_lock`` held; None if it cannot be used.

        ``create`` (for searches) makes sure the index exists with the current schema,
        rebuilding an unusable one. Without it, None while there is no index: writes
        leave it to the first search, which reads every run from the files.
        """
        if self._unavailable:
            return None
        if create and self._search_store is None:
            self._close_database()
            try:
                self._search_store = self._connect()
            except ImportError:
                self._unavailable = True  # the SQL store is not installed: search the files
            except Exception:
                _log.warning("Rebuilding the unusable index %s", self.path, exc_info=True)
                self._remove_files()
                try:
                    self._search_store = self._connect()
                except Exception:
                    _log.warning("Index %s unusable; searching the files", self.path, exc_info=True)
                    self._unavailable = True
            return self._db
        if self._db is None:
            try:
                self._db = mirror.connect(self.path)
            except sqlite3.Error:  # no index yet, or not a database: a search will see
                return None
        return self._db

    def _connect(self) -> SqlStore:
        """Create or check the index's schema (``SqlStore`` does) and connect to it."""
        from cairn.store.sql.store import SqlStore

        search_store = SqlStore(f"sqlite:///{self.path}", None)
        db = mirror.connect(self.path)
        try:
            with mirror.transaction(db, write=True):
                for statement in mirror.EXTRA_TABLES:
                    db.execute(statement)
        except BaseException:
            db.close()
            search_store.dispose()
            raise
        self._db = db
        return search_store

    def _close_database(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _remove_files(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.path}{suffix}")

    def close(self) -> None:
        self.flush_pending()
        with self._lock:
            self._close_database()
            if self._search_store is not None:
                self._search_store.dispose()
            self._search_store = None

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
        offsets can move past them (see ``mirror.advance_offsets``).

        The write is not mirrored at once: it waits in a backlog (see ``backlog``) and
        goes in with others in one transaction.
        """
        # looked at after the files were written: an index created later reads them
        if self._db is None and not os.path.exists(self.path):
            return
        if self._backlog.add(run_dir, parts, metrics or {}, appended or {}):
            self.flush_pending()

    def flush_pending(self) -> None:
        """Mirror every write still in the backlog, in one transaction."""
        with self._lock:  # held throughout: a search waits for writes taken before it
            waiting = self._backlog.take()
            if not waiting:
                return
            db = self._database(create=False)
            if db is None:
                return
            try:
                with mirror.transaction(db, write=True):
                    for run_dir, backlog in waiting.items():
                        self._mirror.mirror(db, run_dir, backlog)
            except Exception:
                # the files hold the data; the next search re-reads these runs
                _log.warning("Index update failed; will resync", exc_info=True)
                self._dirty_runs.update(waiting)

    def remove_run(self, run_id: str) -> None:
        self.flush_pending()
        with self._lock:
            db = self._database(create=False)
            if db is None:
                return
            with mirror.transaction(db, write=True):
                mirror.delete_runs(db, [run_id])

    def remove_experiment(self, experiment_id: str) -> None:
        self.flush_pending()
        with self._lock:
            db = self._database(create=False)
            if db is None:
                return
            with mirror.transaction(db, write=True):
                key = mirror.experiment_key(db, experiment_id, create=False)
                if key is None:
                    return
                run_ids = [
                    row[0]
                    for row in db.execute(
                        "SELECT run_uuid FROM runs WHERE experiment_id = ?", (key,)
                    )
                ]
                mirror.delete_runs(db, run_ids)
                for table in ("datasets", "experiment_tags", "experiments"):
                    db.execute(f"DELETE FROM {table} WHERE experiment_id = ?", (key,))
                mirror.delete_stamp(db, "experiment", experiment_id)
                db.execute(
                    f"DELETE FROM {mirror.KEYS_TABLE} WHERE experiment_id = ?", (experiment_id,)
                )

    def forget_experiment_fingerprint(self, experiment_id: str) -> None:
        """Make the next search re-check this experiment (after a move, rename or tag)."""
        with self._lock:
            db = self._database(create=False)
            if db is None:
                return
            try:
                with mirror.transaction(db, write=True):
                    mirror.delete_stamp(db, "experiment", experiment_id)
            except Exception:
                _log.warning("Index update failed for experiment %s", experiment_id, exc_info=True)

    # -- syncing from the files ------------------------------------------------------------
    def refresh(self, experiment_dirs: Iterable[Path], deep: bool = False) -> None:
        """Re-sync what changed on disk since the last sync, for these experiments."""
        self.flush_pending()
        with self._lock:
            db = self._database(create=True)
            if db is None:
                return
            experiment_dirs = list(experiment_dirs)
            dirty = {d for d in self._dirty_runs if d.parent in experiment_dirs}
            self._dirty_runs -= dirty
            for experiment_dir in experiment_dirs:
                self._refresh_experiment(db, experiment_dir, deep, dirty)

    def _refresh_experiment(
        self, db: sqlite3.Connection, experiment_dir: Path, deep: bool, dirty: set[Path]
    ) -> None:
        experiment_id = experiment_dir.name
        check_runs = deep or experiment_id not in self._deep_checked
        fingerprint = experiment_fingerprint(experiment_dir)
        changed_dirty = [d for d in dirty if d.parent == experiment_dir]
        with mirror.transaction(db):
            key = mirror.experiment_key(db, experiment_id, create=False)
            row = db.execute(
                f"SELECT stamp FROM {mirror.SYNC_TABLE} WHERE kind = 'experiment' AND id = ?",
                (experiment_id,),
            ).fetchone()
            if row is not None and row[0] == fingerprint and not check_runs and not changed_dirty:
                return
            stamps: dict[str, str | None] = dict(
                db.execute(
                    f"SELECT r.run_uuid, s.stamp FROM runs r LEFT JOIN {mirror.SYNC_TABLE} s "
                    "ON s.kind = 'run' AND s.id = r.run_uuid WHERE r.experiment_id = ?",
                    (-1 if key is None else key,),
                ).fetchall()
            )
        on_disk = {p.name: p for p in reader.iter_run_dirs(experiment_dir)}
        to_sync = [p for name, p in on_disk.items() if name not in stamps or stamps[name] is None]
        if check_runs:
            to_sync += [
                p for name, p in on_disk.items()
                if name in stamps and stamps[name] is not None and stamps[name] != run_stamp(p)
            ]  # fmt: skip
        to_sync += [d for d in changed_dirty if d.name in on_disk]
        gone = [run_id for run_id in stamps if run_id not in on_disk]
        if len(to_sync) > 1:
            to_sync.sort(key=_start_time_hint)
        if len(to_sync) >= _ANNOUNCED_SYNC_RUNS:
            # a first search over a large store written without an index waits on this
            _log.warning(
                "Indexing %d runs of experiment %s for search: done once, a few ms a run",
                len(to_sync),
                experiment_id,
            )
        for start in range(0, max(len(to_sync), 1), _RUNS_PER_SYNC_TRANSACTION):
            with mirror.transaction(db, write=True):
                if start == 0:
                    self._mirror.ensure_experiment(db, experiment_dir)
                    mirror.delete_runs(db, gone)
                self._resync(db, to_sync[start : start + _RUNS_PER_SYNC_TRANSACTION])
        with mirror.transaction(db, write=True):
            mirror.set_stamp(db, "experiment", experiment_id, fingerprint)
        self._deep_checked.add(experiment_id)

    def _resync(self, db: sqlite3.Connection, run_dirs: Iterable[Path]) -> None:
        """Read these runs afresh from their files (or drop those that are gone)."""
        for run_dir in run_dirs:
            if (run_dir / layout.META).is_file():
                self._mirror.sync_run(db, run_dir)
                mirror.set_stamp(db, "run", run_dir.name, run_stamp(run_dir))
            else:
                mirror.delete_runs(db, [run_dir.name])

    def recheck_runs(self, experiment_dirs: Sequence[Path]) -> None:
        """Catch edits made inside already-indexed runs by writers other than Cairn.

        Such edits (MLflow appending metric points, ending a run, adding a tag) change
        no directory the experiment fingerprint watches. Each search therefore re-checks
        a bounded, rotating slice of the searched runs, RUNNING ones first: their stamp
        (a few stats) and the sizes of their metric files. Changed runs are re-read;
        grown metric files only from where the index stopped reading. The slice among
        all runs is taken at most every ``_RECHECK_ALL_RUNS_INTERVAL_S``.
        """
        with self._lock:
            db = self._database(create=True)
            if db is None:
                return
            with mirror.transaction(db):
                chosen = self._runs_to_recheck(db, experiment_dirs)
                if not chosen:
                    return
                marks = ", ".join("?" * len(chosen))
                ids = list(chosen)
                stamps: dict[str, str] = dict(
                    db.execute(
                        f"SELECT id, stamp FROM {mirror.SYNC_TABLE} "
                        f"WHERE kind = 'run' AND id IN ({marks})",
                        ids,
                    ).fetchall()
                )
                recorded: dict[str, dict[str, int]] = {run_id: {} for run_id in ids}
                for run_id, key, offset in db.execute(
                    f"SELECT run_uuid, key, offset FROM {mirror.OFFSETS_TABLE} "
                    f"WHERE run_uuid IN ({marks})",
                    ids,
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
            with mirror.transaction(db, write=True):
                self._resync(db, resync)
                for run_dir, sizes in grown:
                    mirror.catch_up_metrics(db, run_dir, recorded[run_dir.name], sizes)

    def _runs_to_recheck(
        self, db: sqlite3.Connection, experiment_dirs: Sequence[Path]
    ) -> dict[str, Path]:
        """The next slice of the rotation: run id -> run directory."""
        keys = {
            key: d
            for d in experiment_dirs
            if (key := mirror.experiment_key(db, d.name, create=False)) is not None
        }
        if not keys:
            return {}
        in_experiments = f"experiment_id IN ({', '.join('?' * len(keys))})"
        chosen: dict[str, Path] = {}
        budget = _RECHECK_RUNS_PER_SEARCH // 2
        slots = [(0, True)]
        now = monotonic()
        if now >= self._next_all_runs_recheck:
            slots.append((1, False))
            self._next_all_runs_recheck = now + _RECHECK_ALL_RUNS_INTERVAL_S
        for slot, running_only in slots:
            where = in_experiments + (" AND status = 'RUNNING'" if running_only else "")
            after = self._recheck_after[slot]
            rows = db.execute(
                f"SELECT run_uuid, experiment_id FROM runs WHERE {where} AND run_uuid > ? "
                "ORDER BY run_uuid LIMIT ?",
                (*keys, after, budget),
            ).fetchall()
            if len(rows) < budget and after:  # wrap around
                rows += db.execute(
                    f"SELECT run_uuid, experiment_id FROM runs WHERE {where} AND run_uuid <= ? "
                    "ORDER BY run_uuid LIMIT ?",
                    (*keys, after, budget - len(rows)),
                ).fetchall()
            if rows:
                self._recheck_after[slot] = rows[-1][0]
            for run_id, key in rows:
                chosen[run_id] = keys[key] / run_id
            budget = _RECHECK_RUNS_PER_SEARCH - len(chosen)
        return chosen

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
        with self._lock:
            if self._database(create=True) is None or self._search_store is None:
                return None
        if not experiment_dirs:
            return PagedList([], None)
        self.refresh(experiment_dirs)
        self.recheck_runs(experiment_dirs)
        with self._lock:
            db = self._database(create=True)
            if db is None or self._search_store is None:
                return None
            search_store = self._search_store
            with mirror.transaction(db):
                keys = {
                    d.name: mirror.experiment_key(db, d.name, create=False) for d in experiment_dirs
                }
                if _orders_by_experiment_id(order_by) and not mirror.keys_in_id_order(
                    db, list(keys)
                ):
                    return None
        names = {str(key): name for name, key in keys.items() if key is not None}
        found = search_store.search_runs(
            list(names),
            filter_string,
            view,
            max_results,
            order_by,
            encode_page_token(offset) if offset else None,
        )
        runs = [
            run
            if names[run.info.experiment_id] == run.info.experiment_id  # the usual numeric id
            else _in_experiment(run, names[run.info.experiment_id])
            for run in found
        ]
        return PagedList(runs, found.token)


# RunInfo's fields after run_uuid and experiment_id, read in one C call
_RUN_INFO_REST = operator.attrgetter(*[f.name for f in dataclasses.fields(RunInfo)][2:])


def _in_experiment(run: Run, experiment_id: str) -> Run:
    """``run`` with its info's experiment id changed: ``dataclasses.replace`` twice, at
    under half the cost (9 against 3.6 us, 500 runs a listed page)."""
    info = run.info
    return Run(RunInfo(info.run_uuid, experiment_id, *_RUN_INFO_REST(info)), run.data, run.inputs)
