"""SQLite keeps metric points in the primary key's B-tree alone (WITHOUT ROWID).

Every column of ``metrics`` belongs to its primary key, so the rowid table held a second
copy of each point. The table is rebuilt with its points copied in key order; the other
databases are unchanged (MySQL's InnoDB already stores rows in the primary key, and
PostgreSQL has no such choice).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from cairn.store.sql import migrate

_log = logging.getLogger("cairn.store.sql.migrations")

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _rebuild_metrics(with_rowid: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if not with_rowid:
        # the largest rowid: the number of points ever stored, read without a scan
        points = bind.execute(sa.text("SELECT max(rowid) FROM metrics")).scalar() or 0
        if points >= migrate.ANNOUNCED_REBUILD_POINTS:
            _log.warning(
                "Rebuilding the metrics table (about %s points) without its rowid copy: "
                "about 8 s a million points on a 2-core machine, and the file needs room "
                "for a second copy of the table until it is done.",
                f"{points:,}",
            )
    # Alembic's batch mode copies the rows into a new table built from the reflected
    # one (constraint names kept), drops the old table and renames the new one.
    with op.batch_alter_table(
        "metrics", recreate="always", table_kwargs={"sqlite_with_rowid": with_rowid}
    ):
        pass


def upgrade() -> None:
    _rebuild_metrics(with_rowid=False)


def downgrade() -> None:
    _rebuild_metrics(with_rowid=True)
