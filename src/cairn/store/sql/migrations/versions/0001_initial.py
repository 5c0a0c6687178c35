"""Experiments, runs, params, tags and metrics (full history plus the latest point).

Revision ID: 0001
Revises:
Create Date: 2026-01-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cairn.store.sql.migrate import mysql_table_options

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _run_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["run_uuid"], ["runs.run_uuid"], name=op.f(f"fk_{table}_run_uuid_runs")
    )


def upgrade() -> None:
    options = mysql_table_options(op.get_bind())
    op.create_table(
        "experiments",
        sa.Column("experiment_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("artifact_location", sa.String(length=2000), nullable=True),
        sa.Column("lifecycle_stage", sa.String(length=32), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=True),
        sa.Column("last_update_time", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("experiment_id", name=op.f("pk_experiments")),
        sa.UniqueConstraint("name", name=op.f("uq_experiments_name")),
        **options,
    )
    op.create_table(
        "experiment_tags",
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.String(length=5000), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name=op.f("fk_experiment_tags_experiment_id_experiments"),
        ),
        sa.PrimaryKeyConstraint("experiment_id", "key", name=op.f("pk_experiment_tags")),
        **options,
    )
    op.create_table(
        "runs",
        sa.Column("run_uuid", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=8000), nullable=True),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=True),
        sa.Column("end_time", sa.BigInteger(), nullable=True),
        sa.Column("deleted_time", sa.BigInteger(), nullable=True),
        sa.Column("lifecycle_stage", sa.String(length=20), nullable=False),
        sa.Column("artifact_uri", sa.String(length=2000), nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name=op.f("fk_runs_experiment_id_experiments"),
        ),
        sa.PrimaryKeyConstraint("run_uuid", name=op.f("pk_runs")),
        **options,
    )
    op.create_index(
        op.f("ix_runs_experiment_id_start_time"), "runs", ["experiment_id", "start_time"]
    )
    op.create_index(
        op.f("ix_runs_lifecycle_stage_deleted_time"), "runs", ["lifecycle_stage", "deleted_time"]
    )
    for table, value_length in (("params", 8000), ("tags", 8000)):
        op.create_table(
            table,
            sa.Column("run_uuid", sa.String(length=32), nullable=False),
            sa.Column("key", sa.String(length=250), nullable=False),
            sa.Column("value", sa.String(length=value_length), nullable=False),
            _run_fk(table),
            sa.PrimaryKeyConstraint("run_uuid", "key", name=op.f(f"pk_{table}")),
            **options,
        )
    op.create_table(
        "metrics",
        sa.Column("run_uuid", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("is_nan", sa.Boolean(), nullable=False),
        sa.Column("is_inf", sa.Boolean(), nullable=False),
        _run_fk("metrics"),
        sa.PrimaryKeyConstraint(
            "run_uuid",
            "key",
            "step",
            "timestamp",
            "value",
            "is_nan",
            "is_inf",
            name=op.f("pk_metrics"),
        ),
        **options,
    )
    op.create_table(
        "latest_metrics",
        sa.Column("run_uuid", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("is_nan", sa.Boolean(), nullable=False),
        sa.Column("is_inf", sa.Boolean(), nullable=False),
        _run_fk("latest_metrics"),
        sa.PrimaryKeyConstraint("run_uuid", "key", name=op.f("pk_latest_metrics")),
        **options,
    )
    op.create_index(op.f("ix_latest_metrics_key_value"), "latest_metrics", ["key", "value"])


def downgrade() -> None:
    op.drop_index(op.f("ix_latest_metrics_key_value"), table_name="latest_metrics")
    for table in ("latest_metrics", "metrics", "tags", "params"):
        op.drop_table(table)
    op.drop_index(op.f("ix_runs_lifecycle_stage_deleted_time"), table_name="runs")
    op.drop_index(op.f("ix_runs_experiment_id_start_time"), table_name="runs")
    op.drop_table("runs")
    op.drop_table("experiment_tags")
    op.drop_table("experiments")
