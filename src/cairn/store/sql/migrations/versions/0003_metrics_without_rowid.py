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

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _rebuild_metrics(with_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
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
