"""Engines per database: URI normalisation, SQLite's concurrency settings, transactions.

SQLite is set up so several processes can log into one file: WAL journal (readers never
block the writer), a busy timeout (writers queue instead of failing), and write
transactions that start with ``BEGIN IMMEDIATE`` so two writers never both hold a read
snapshot and then deadlock upgrading it (SQLite would fail one at once, ignoring the
timeout). Within one process, writers of a file queue on a lock of its own first, which
wakes them sooner than SQLite's busy handler would.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import StaticPool

from cairn import _forking, env
from cairn.store.sql import plain

# A driver for each scheme MLflow users write without one. SQLAlchemy 2.1 would pick
# psycopg 3 for plain postgresql://, which Cairn does not depend on.
_DEFAULT_DRIVERS = {
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
    "postgresql": "postgresql+psycopg2",
    "postgres": "postgresql+psycopg2",
}

_WRITE_OPTION = "cairn_write"
# The Unicode-aware lower() that every SQLite connection of Cairn's gets.
SQLITE_LOWER_FUNCTION = "cairn_lower"
# how much of a SQLite file is read through a memory map (SQLite maps no more than the file)
SQLITE_MMAP_BYTES = 1 << 30
# WAL pages written between two checkpoints (SQLite's default is 1,000)
SQLITE_CHECKPOINT_PAGES = 10_000


# One lock per SQLite database file for the write transactions of this process. Threads
# queue on it and wake the moment it is free; queued on SQLite's own busy handler they
# would sleep in steps of 1 to 100 ms and leave the file idle between them (a server's
# concurrent writers). Other processes still wait through the busy timeout.
# By the file's real path; kept for the process's life (an entry per file ever opened),
# so that every engine on a file finds the same lock. A memory database's goes with it.
_write_locks: dict[str, threading.RLock] = {}
_write_locks_guard = threading.Lock()
# each SQLite engine's key into _write_locks, and how long to queue (the busy timeout)
_engine_write_keys: weakref.WeakKeyDictionary[sa.Engine, tuple[str, float]] = (
    weakref.WeakKeyDictionary()
)
_memory_databases = itertools.count()


def _write_lock(key: str) -> threading.RLock:
    lock = _write_locks.get(key)
    if lock is None:
        with _write_locks_guard:
            lock = _write_locks.setdefault(key, threading.RLock())
    return lock


def _register_write_lock(engine: sa.Engine, url: sa.URL, busy_timeout: float) -> None:
    if _is_memory_sqlite(url):
        key = f":memory:{next(_memory_databases)}"  # each memory database is its own
        weakref.finalize(engine, _write_locks.pop, key, None)
    else:
        key = os.path.realpath(url.database or "")
    _engine_write_keys[engine] = (key, busy_timeout)


def _forget_write_locks() -> None:
    """In a forked child: a lock some thread of the parent held stays held for good."""
    global _write_locks_guard
    _write_locks_guard = threading.Lock()
    _write_locks.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_write_locks)


def _fresh_pool(engine: sa.Engine) -> None:
    """In a forked child: a pool of its own, as SQLAlchemy advises for ``os.fork`` (the
    parent's connections would share a socket or SQLite's file state with it; on
    PostgreSQL the child hung)."""
    _forking.keep_inherited(engine.pool)
    engine.dispose(close=False)


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def normalize_uri(uri: str) -> str:
    """The SQLAlchemy URL for a tracking URI: adds the default driver when none is named."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    if "+" not in scheme and scheme.lower() in _DEFAULT_DRIVERS:
        return f"{_DEFAULT_DRIVERS[scheme.lower()]}://{rest}"
    return uri


def _is_memory_sqlite(url: sa.URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def create_engine(uri: str) -> sa.Engine:
    """An engine for ``uri`` with Cairn's per-dialect settings applied."""
    url = sa.make_url(normalize_uri(uri))
    backend = url.get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        timeout = env.SQLITE_BUSY_TIMEOUT.get()
        timeout = 30.0 if timeout is None else timeout
        kwargs["connect_args"] = {"timeout": timeout, "check_same_thread": False}
        if _is_memory_sqlite(url):
            # one shared connection, or every pooled connection would see its own database
            kwargs["poolclass"] = StaticPool
    else:
        kwargs["pool_pre_ping"] = True
    if backend in ("mysql", "mariadb"):
        kwargs["connect_args"] = {"charset": "utf8mb4"}
    engine = sa.create_engine(url, **kwargs)
    if backend == "sqlite":
        timeout = kwargs["connect_args"]["timeout"]
        _configure_sqlite(engine, _is_memory_sqlite(url), timeout)
        _register_write_lock(engine, url, timeout)
    if not _is_memory_sqlite(url):  # a memory database's copy is the child's own
        _forking.renew_in_child(engine, _fresh_pool)
    return engine


def _enter_wal_mode(cursor: Any, busy_timeout: float) -> None:
    """Switch the database to WAL, waiting out other connections as any statement would.

    Turning WAL on takes an exclusive lock. When processes opened a new database
    together, one got "database is locked" here long before the busy timeout (seen once
    in a full test run); retrying until the timeout gives it the usual patience.
    """
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def _configure_sqlite(engine: sa.Engine, memory: bool, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module: it would otherwise emit a
        # deferred BEGIN on its own, just before the first write.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            _enter_wal_mode(cursor, busy_timeout)
            # WAL + NORMAL is durable across application crashes; only an OS crash can
            # lose the last transactions, never corrupt the file.
            cursor.execute("PRAGMA synchronous=NORMAL")
            # Copy the log back into the database every ~40 MB of it rather than every
            # ~4 MB (SQLite's default): each copy ends in an fsync, and pages rewritten
            # in between (a metric's index leaf, once per batch) are copied once.
            cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
            # Searches read rows all over the file (runs, then their params, tags and
            # metrics); reading pages through a memory map instead of a read() call
            # each made the query 1.1-2.6x faster at 20,000 runs. Address space only:
            # the pages are the OS's file cache, shared by every connection.
            cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        # SQLite's lower() folds ASCII only; ILIKE must fold every letter, as Python does
        dbapi_connection.create_function(
            SQLITE_LOWER_FUNCTION, 1, _unicode_lower, deterministic=True
        )

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # On the driver's cursor: SQLAlchemy's execution machinery cost more than a small
        # write transaction's own work in SQLite.
        write = conn.get_execution_options().get(_WRITE_OPTION)
        plain.run_sql(conn, "BEGIN IMMEDIATE" if write else "BEGIN", ())


@contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection inside a transaction that will write; committed on success."""
    key, timeout = _engine_write_keys.get(engine, (None, 0.0))
    lock = None if key is None else _write_lock(key)
    # past the busy timeout, stop queueing here and let SQLite's own timeout decide
    queued = lock is not None and lock.acquire(timeout=timeout)
    try:
        with engine.connect() as conn:
            conn.execution_options(**{_WRITE_OPTION: True})
            with conn.begin():
                yield conn
    finally:
        if queued and lock is not None:
            lock.release()


@contextmanager
def read_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection inside a transaction that only reads (one consistent snapshot)."""
    with engine.connect() as conn, conn.begin():
        yield conn
