"""The schema: created on first use, equal to tables.py, upgraded from older revisions."""

from __future__ import annotations

import logging
import math
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

import cairn
from cairn.entities import Metric
from cairn.exceptions import InvalidState
from cairn.store.sql import migrate
from cairn.store.sql.engine import create_engine, normalize_uri
from cairn.store.sql.store import SqlStore
from cairn.store.sql.tables import metadata


def _newest_migration() -> str | None:
    """The head of the packaged migrations, as Alembic finds it."""
    return ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()


def _revision(uri: str) -> str | None:
    engine = create_engine(uri)
    try:
        with engine.connect() as conn:
            return migrate.current_revision(conn)
    finally:
        engine.dispose()


def test_first_use_creates_the_schema_at_head(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'new.db'}"
    SqlStore(uri).dispose()
    assert _revision(uri) == _newest_migration()
    engine = create_engine(uri)
    tables = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    assert set(metadata.tables) <= tables


def test_migrations_match_the_table_definitions(sql_uri: str) -> None:
    """Autogenerate against a database built by every migration finds nothing to add or
    change. (Migrated explicitly: a new SQLite file would be built from the table
    definitions themselves, which would compare them with themselves.)"""
    migrate.upgrade(sql_uri)
    engine = create_engine(sql_uri)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def _schema(uri: str) -> dict[str, object]:
    """Every table's columns, keys, constraints and indexes, names included, as the
    database reports them."""
    engine = create_engine(uri)
    try:
        inspector = sa.inspect(engine)
        return {
            table: {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                    for c in inspector.get_columns(table)
                ],
                "primary_key": inspector.get_pk_constraint(table),
                "foreign_keys": sorted(
                    (fk["name"], *fk["constrained_columns"], fk["referred_table"])
                    for fk in inspector.get_foreign_keys(table)
                ),
                "unique": sorted(
                    (u["name"], *u["column_names"]) for u in inspector.get_unique_constraints(table)
                ),
                "indexes": sorted(
                    (i["name"], i["unique"], *i["column_names"])
                    for i in inspector.get_indexes(table)
                ),
            }
            for table in inspector.get_table_names()
        }
    finally:
        engine.dispose()


def test_a_new_sqlite_file_gets_the_schema_the_migrations_build(tmp_path: Path) -> None:
    migrated = f"sqlite:///{tmp_path / 'migrated.db'}"
    migrate.upgrade(migrated)  # every migration, through Alembic
    created = f"sqlite:///{tmp_path / 'created.db'}"
    SqlStore(created).dispose()  # from the table definitions, stamped at head
    assert _schema(created) == _schema(migrated)
    assert "metrics" in _schema(created)
    assert _revision(created) == _revision(migrated) == migrate.HEAD_REVISION
    # what the inspector does not report: metric points live in their key alone
    for path in (tmp_path / "created.db", tmp_path / "migrated.db"):
        assert _table_sql(path, "metrics").endswith("WITHOUT ROWID")
        assert not _table_sql(path, "latest_metrics").endswith("WITHOUT ROWID")


def _table_sql(path: Path, table: str) -> str:
    with sqlite3.connect(path) as conn:
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    return str(sql).strip()


def test_upgrading_to_metrics_without_rowid_keeps_every_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "old.db"
    uri = f"sqlite:///{path}"
    _database_at(uri, "0002")
    points = [("run1", "loss", step, 1_000 + step, 1.0 / (step + 1), 0, 0) for step in range(500)]
    points.append(("run1", "loss", 3, 1_003, 0.0, 1, 0))  # a NaN beside a number at step 3
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage,"
            " creation_time, last_update_time) VALUES (1, 'e', '/a', 'active', 1, 1)"
        )
        conn.execute(
            "INSERT INTO runs (run_uuid, name, experiment_id, user_id, status, start_time,"
            " lifecycle_stage, artifact_uri) VALUES"
            " ('run1', 'r', 1, 'u', 'RUNNING', 1, 'active', '/a/run1')"
        )
        conn.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?, ?)", points)
    assert not _table_sql(path, "metrics").endswith("WITHOUT ROWID")

    monkeypatch.setattr(migrate, "ANNOUNCED_REBUILD_POINTS", 500)  # a long copy is announced
    with caplog.at_level(logging.WARNING, logger="cairn.store.sql.migrations"):
        migrate.upgrade(uri)
    assert "Rebuilding the metrics table (about 501 points)" in caplog.text
    assert _table_sql(path, "metrics").endswith("WITHOUT ROWID")
    store = SqlStore(uri)
    try:
        history = store.get_metric_history("run1", "loss")
        assert len(history) == 501
        assert [m.step for m in history] == sorted([*range(500), 3])
        assert history[-1].value == 1.0 / 500
        assert sum(math.isnan(m.value) for m in history) == 1
        store.log_batch("run1", metrics=[Metric("loss", 9.0, 2_000, 500)])  # still writable
        assert len(store.get_metric_history("run1", "loss")) == 502
    finally:
        store.dispose()


def test_a_new_sqlite_file_is_created_without_importing_alembic(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'new.db'}"
    script = (
        "import sys; from cairn.store.sql.store import SqlStore; "
        f"store = SqlStore({uri!r}); store.create_experiment('x'); store.dispose(); "
        "print('alembic' in sys.modules)"
    )
    created = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert created.stdout.strip() == "False"
    assert _revision(uri) == migrate.HEAD_REVISION
    store = SqlStore(uri)  # and it opens as up to date, with its experiment
    try:
        assert store.get_experiment_by_name("x") is not None
    finally:
        store.dispose()


def test_a_sqlite_file_holding_other_tables_is_migrated_beside_them(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('kept')")
    SqlStore(f"sqlite:///{path}").dispose()
    assert _revision(f"sqlite:///{path}") == migrate.HEAD_REVISION
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT body FROM notes").fetchall() == [("kept",)]


def test_head_revision_constant_is_the_newest_migration() -> None:
    assert _newest_migration() == migrate.HEAD_REVISION


def test_an_up_to_date_database_opens_without_importing_alembic(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'current.db'}"
    SqlStore(uri).dispose()  # created and stamped
    script = (
        "import sys; from cairn.store.sql.store import SqlStore; "
        f"SqlStore({uri!r}).dispose(); print('alembic' in sys.modules)"
    )
    opened = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert opened.stdout.strip() == "False"


def test_migrations_ship_inside_the_package() -> None:
    package_dir = Path(cairn.__file__).resolve().parent
    assert migrate.MIGRATIONS_DIR.is_relative_to(package_dir)
    assert (migrate.MIGRATIONS_DIR / "env.py").is_file()
    assert (migrate.MIGRATIONS_DIR / "script.py.mako").is_file()


def _database_at(uri: str, revision: str) -> None:
    engine = create_engine(uri)
    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), revision)
    engine.dispose()


def test_an_older_database_is_refused_until_upgraded(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'old.db'}"
    _database_at(uri, "0001")
    engine = create_engine(uri)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO experiments (experiment_id, name, artifact_location, "
                "lifecycle_stage, creation_time, last_update_time) "
                "VALUES (7, 'kept', 'file:///a/7', 'active', 1, 1)"
            )
        )
    engine.dispose()

    with pytest.raises(InvalidState, match=r"cairn db upgrade sqlite:///"):
        SqlStore(uri)

    migrate.upgrade(uri)
    assert _revision(uri) == _newest_migration()
    store = SqlStore(uri)
    assert store.get_experiment("7").name == "kept"
    assert store.get_experiment("0").name == "Default"
    # the upgraded schema is complete: datasets (added in 0002) work
    run_id = store.create_run("7", "u", 1, [], "r").info.run_id
    assert store.get_run(run_id).inputs.dataset_inputs == []
    store.dispose()


def test_upgrade_of_an_up_to_date_database_changes_nothing(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = SqlStore(uri)
    exp_id = store.create_experiment("stays")
    store.dispose()
    migrate.upgrade(uri)
    store = SqlStore(uri)
    assert store.get_experiment(exp_id).name == "stays"
    store.dispose()


def test_unknown_revision_is_refused(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'other.db'}"
    SqlStore(uri).dispose()
    engine = create_engine(uri)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'f00dcafe'"))
    engine.dispose()
    with pytest.raises(InvalidState, match="f00dcafe"):
        SqlStore(uri)


def test_sqlite_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    store = SqlStore(f"sqlite:///{path}")
    with store._engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        # checkpoints every ~40 MB of log, not SQLite's ~4 MB
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 10_000
    store.dispose()
    # WAL is a property of the file: a plain sqlite3 connection sees it too
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_busy_timeout_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAIRN_SQLITE_BUSY_TIMEOUT", "2.5")
    store = SqlStore(f"sqlite:///{tmp_path / 'busy.db'}")
    with store._engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2500
    store.dispose()


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("mysql://root@host:3306/db", "mysql+pymysql://root@host:3306/db"),
        ("postgresql://u@h/db", "postgresql+psycopg2://u@h/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg2://u@h/db"),
        ("mysql+mysqldb://u@h/db", "mysql+mysqldb://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_default_drivers(uri: str, expected: str) -> None:
    assert normalize_uri(uri) == expected


@pytest.mark.mysql
def test_plain_mysql_uri_works(store_uri_factory: object) -> None:
    url: str = store_uri_factory("mysql")  # type: ignore[operator]
    plain = "mysql://" + url.split("://", 1)[1]
    store = SqlStore(plain)
    assert store.get_experiment("0").name == "Default"
    store.dispose()


def test_processes_opening_one_new_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    go = tmp_path / "go"
    # each process imports first, says it is ready, then waits for the others, so the
    # four open the new file within a few milliseconds of each other
    script = (
        "import sys, time, pathlib; from cairn.store.sql.store import SqlStore\n"
        "pathlib.Path(sys.argv[3]).touch()\n"
        "while not pathlib.Path(sys.argv[4]).exists(): time.sleep(0.001)\n"
        "store = SqlStore(sys.argv[1]); store.create_experiment(sys.argv[2]); store.dispose()"
    )
    ready = [tmp_path / f"ready{i}" for i in range(4)]
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", script, uri, f"e{i}", str(ready[i]), str(go)],
            stderr=subprocess.PIPE,
        )
        for i in range(4)
    ]
    deadline = time.monotonic() + 120
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    errors = [opener.communicate(timeout=120)[1] for opener in openers]
    assert [opener.returncode for opener in openers] == [0] * 4, errors
    assert _revision(uri) == migrate.HEAD_REVISION
    store = SqlStore(uri)
    try:
        names = {e.name for e in store.search_experiments()}
    finally:
        store.dispose()
    assert names == {"Default", "e0", "e1", "e2", "e3"}
