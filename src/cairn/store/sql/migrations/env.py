"""Alembic environment for Cairn's schema; run programmatically by ``cairn.store.sql.migrate``.

The caller hands over an open connection in ``config.attributes["connection"]``, so the
engine settings (SQLite pragmas, MySQL charset) are the store's own.
"""

from __future__ import annotations

from alembic import context

from cairn.store.sql.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "Cairn's migrations run through cairn.store.sql.migrate.upgrade(uri) "
        "(or `cairn db upgrade URI`), which supplies the database connection."
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things; batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
