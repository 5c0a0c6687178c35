"""Datasets and the inputs linking them to runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from cairn.store.sql.migrate import mysql_table_options

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# TEXT holds only 64 KiB on MySQL; schemas and profiles may be far larger.
MEDIUM_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    options = mysql_table_options(op.get_bind())
    op.create_table(
        "datasets",
        sa.Column("dataset_uuid", sa.String(length=36), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("digest", sa.String(length=36), nullable=False),
        sa.Column("source_type", sa.String(length=36), nullable=False),
        sa.Column("source", MEDIUM_TEXT, nullable=False),
        sa.Column("dataset_schema", MEDIUM_TEXT, nullable=True),
        sa.Column("dataset_profile", LONG_TEXT, nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name=op.f("fk_datasets_experiment_id_experiments"),
        ),
        sa.PrimaryKeyConstraint("dataset_uuid", name=op.f("pk_datasets")),
        sa.UniqueConstraint(
            "experiment_id", "name", "digest", name=op.f("uq_datasets_experiment_id_name_digest")
        ),
        **options,
    )
    op.create_table(
        "inputs",
        sa.Column("input_uuid", sa.String(length=36), nullable=False),
        sa.Column("dataset_uuid", sa.String(length=36), nullable=False),
        sa.Column("run_uuid", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_uuid"],
            ["datasets.dataset_uuid"],
            name=op.f("fk_inputs_dataset_uuid_datasets"),
        ),
        sa.ForeignKeyConstraint(
            ["run_uuid"], ["runs.run_uuid"], name=op.f("fk_inputs_run_uuid_runs")
        ),
        sa.PrimaryKeyConstraint("input_uuid", name=op.f("pk_inputs")),
        sa.UniqueConstraint(
            "run_uuid", "dataset_uuid", name=op.f("uq_inputs_run_uuid_dataset_uuid")
        ),
        **options,
    )
    op.create_index(op.f("ix_inputs_dataset_uuid"), "inputs", ["dataset_uuid"])
    op.create_table(
        "input_tags",
        sa.Column("input_uuid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["input_uuid"], ["inputs.input_uuid"], name=op.f("fk_input_tags_input_uuid_inputs")
        ),
        sa.PrimaryKeyConstraint("input_uuid", "name", name=op.f("pk_input_tags")),
        **options,
    )


def downgrade() -> None:
    op.drop_table("input_tags")
    op.drop_index(op.f("ix_inputs_dataset_uuid"), table_name="inputs")
    op.drop_table("inputs")
    op.drop_table("datasets")
