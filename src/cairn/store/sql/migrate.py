"""Schema versions: create a new database, upgrade an old one, refuse to use a stale one.

The migrations ship inside the package (``migrations/``) and run through Alembic's
command API with the store's own connection, so ``cairn db upgrade URI`` and the store
cannot disagree about what "up to date" means.

Alembic is imported only when a database is not at ``HEAD_REVISION``: importing it
(with Mako and Pygments) took ~0.11 s, an eighth of a short script on SQLite, only to
find the database up to date. A new, empty SQLite file (a script's or a test's first run,
a fresh local server) does not need it either: its tables come straight from the table
definitions and it is stamped at head, as Alembic's documentation describes for building
an up-to-date database from scratch (13 ms instead of ~0.28 s in a fresh process). A test
checks that this builds the same schema as the migrations.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cairn.exceptions import InvalidState
from cairn.store.sql.engine import create_engine, write_transaction

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The newest migration's revision, the one the code expects; a test checks it against the
# migrations themselves.
HEAD_REVISION = "0003"
# A migration that copies a table says so first when it holds at least this many rows
# (SQLite copies ~125,000 metric points a second on a 2-core machine).
ANNOUNCED_REBUILD_POINTS = 500_000


def mysql_table_options(bind: sa.Connection) -> dict[str, Any]:
    """Table options for MySQL/MariaDB: utf8mb4, compared byte for byte.

    ``utf8mb4_bin`` still ignores trailing spaces ("PAD SPACE"), which would make the
    experiment names 'a' and 'a ' collide; the no-pad binary collations do not.
    """
    if bind.dialect.name not in ("mysql", "mariadb"):
        return {}
    if getattr(bind.dialect, "is_mariadb", False):
        collation = "utf8mb4_nopad_bin"  # MariaDB 10.2+
    elif (bind.dialect.server_version_info or (0,)) >= (8,):
        collation = "utf8mb4_0900_bin"
    else:
        collation = "utf8mb4_bin"  # MySQL 5.7 has no binary no-pad collation
    return {"mysql_charset": "utf8mb4", "mysql_collate": collation}


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations (and a connection, if given)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def current_revision(connection: sa.Connection) -> str | None:
    """The revision stamped in the database, None for a database Cairn never touched."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _at_head(engine: sa.Engine) -> bool:
    """Whether the database is stamped ``HEAD_REVISION``, read without Alembic."""
    try:
        with engine.connect() as conn:
            stamped = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars()
            return stamped.all() == [HEAD_REVISION]
    except sa.exc.DBAPIError:  # no such table: a new database, or not Cairn's
        return False


def _create_new_sqlite(engine: sa.Engine) -> bool:
    """Build the schema of an empty SQLite database from the table definitions and stamp
    it ``HEAD_REVISION``; False, changing nothing, when the database holds any table."""
    from cairn.store.sql.tables import metadata

    # The write transaction holds SQLite's write lock, so of two processes opening the
    # same new file, the second finds the first one's tables and leaves them alone.
    with write_transaction(engine) as conn:
        if sa.inspect(conn).get_table_names():
            return False
        metadata.create_all(conn)
        # the table Alembic itself would create to hold the stamp
        conn.exec_driver_sql(
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
            "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
        )
        conn.execute(
            sa.text("INSERT INTO alembic_version (version_num) VALUES (:revision)"),
            {"revision": HEAD_REVISION},
        )
    return True


def _upgrade_engine(engine: sa.Engine) -> None:
    # A write transaction: on SQLite it holds the write lock, so two processes opening
    # the same new file cannot both try to create the tables.
    from alembic import command

    with write_transaction(engine) as conn:
        command.upgrade(alembic_config(conn), "head")


def upgrade(uri: str) -> None:
    """Bring the database at ``uri`` to the newest schema (creating it if empty)."""
    engine = create_engine(uri)
    try:
        _upgrade_engine(engine)
    finally:
        engine.dispose()


def ensure_schema(engine: sa.Engine, uri: str) -> None:
    """Create the schema of a new database; refuse one whose schema is older or unknown.

    Raises:
        InvalidState: the database is at an older revision (run ``cairn db upgrade``),
            or at one this version of Cairn does not know.
    """
    if _at_head(engine):
        return
    if engine.dialect.name == "sqlite" and _create_new_sqlite(engine):
        return
    from alembic.script import ScriptDirectory

    head = HEAD_REVISION
    with engine.connect() as conn:
        revision = current_revision(conn)
        has_tables = sa.inspect(conn).has_table("experiments")
    if revision == head:
        return
    if revision is None and not has_tables:
        try:
            _upgrade_engine(engine)
        except sa.exc.DBAPIError:
            # Another process may have created the schema at the same moment.
            with engine.connect() as conn:
                if current_revision(conn) != head:
                    raise
        return
    script = ScriptDirectory.from_config(alembic_config())
    known = {rev.revision for rev in script.walk_revisions()}
    if revision is not None and revision not in known:
        raise InvalidState(
            f"The database at '{_safe(uri)}' has schema revision '{revision}', which this "
            "version of Cairn does not know. Is it a newer Cairn's database, or another "
            "tool's?"
        )
    raise InvalidState(
        f"The database at '{_safe(uri)}' has an out-of-date schema (revision {revision!r}, "
        f"expected {head!r}). Back it up, then run `cairn db upgrade {_safe(uri)}` "
        "to migrate it."
    )


def _safe(uri: str) -> str:
    """The URI with any password masked, fit for an error message."""
    try:
        return sa.make_url(uri).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return uri
