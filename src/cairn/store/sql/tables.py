"""The tracking schema as SQLAlchemy Core tables: the one description migrations must match.

Notes that shape the columns:
- On MySQL/MariaDB every table uses utf8mb4 with a binary, no-pad collation, so keys that
  differ only by case or trailing spaces are distinct and ``LIKE`` is case-sensitive, as
  on the other databases.
- Metric values: SQLite cannot store NaN (it becomes NULL) and MySQL stores neither NaN
  nor infinities, so NaN is stored as ``value = 0, is_nan = true`` everywhere, and MySQL
  keeps infinities as the largest finite doubles marked ``is_inf`` (see
  ``dialects.encode_metric_value``), which sort and compare as infinities would.
- ``latest_metrics`` holds one row per (run, key): the point with the greatest
  (step, timestamp, value). Searching and sorting by a metric reads only this table.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

# Applied to every table. The collation is chosen per server when the migrations create
# the tables (``migrate.mysql_table_options``): MySQL's default collations compare
# case-insensitively, and even utf8mb4_bin ignores trailing spaces.
MYSQL_TABLE_OPTIONS: dict[str, Any] = {"mysql_charset": "utf8mb4"}

KEY_LENGTH = 250
RUN_ID_LENGTH = 32

# TEXT on MySQL holds only 64 KiB; dataset schemas and profiles may be far larger.
MediumText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
Double: sa.Double[float] = sa.Double()

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("experiment_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("artifact_location", sa.String(2000), nullable=True),
    sa.Column("lifecycle_stage", sa.String(32), nullable=False),
    sa.Column("creation_time", sa.BigInteger, nullable=True),
    sa.Column("last_update_time", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("name"),
    **MYSQL_TABLE_OPTIONS,
)

experiment_tags = sa.Table(
    "experiment_tags",
    metadata,
    sa.Column(
        "experiment_id",
        sa.Integer,
        sa.ForeignKey("experiments.experiment_id"),
        primary_key=True,
    ),
    sa.Column("key", sa.String(KEY_LENGTH), primary_key=True),
    sa.Column("value", sa.String(5000), nullable=False),
    **MYSQL_TABLE_OPTIONS,
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_uuid", sa.String(RUN_ID_LENGTH), primary_key=True),
    # as long as the mlflow.runName tag it mirrors may be
    sa.Column("name", sa.String(8000), nullable=True),
    sa.Column(
        "experiment_id",
        sa.Integer,
        sa.ForeignKey("experiments.experiment_id"),
        nullable=False,
    ),
    sa.Column("user_id", sa.String(256), nullable=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("start_time", sa.BigInteger, nullable=True),
    sa.Column("end_time", sa.BigInteger, nullable=True),
    sa.Column("deleted_time", sa.BigInteger, nullable=True),
    sa.Column("lifecycle_stage", sa.String(20), nullable=False),
    sa.Column("artifact_uri", sa.String(2000), nullable=True),
    # the default listing: one experiment's runs, newest first
    sa.Index(None, "experiment_id", "start_time"),
    sa.Index(None, "lifecycle_stage", "deleted_time"),
    **MYSQL_TABLE_OPTIONS,
)

params = sa.Table(
    "params",
    metadata,
    sa.Column(
        "run_uuid", sa.String(RUN_ID_LENGTH), sa.ForeignKey("runs.run_uuid"), primary_key=True
    ),
    sa.Column("key", sa.String(KEY_LENGTH), primary_key=True),
    sa.Column("value", sa.String(8000), nullable=False),
    **MYSQL_TABLE_OPTIONS,
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column(
        "run_uuid", sa.String(RUN_ID_LENGTH), sa.ForeignKey("runs.run_uuid"), primary_key=True
    ),
    sa.Column("key", sa.String(KEY_LENGTH), primary_key=True),
    sa.Column("value", sa.String(8000), nullable=False),
    **MYSQL_TABLE_OPTIONS,
)

metrics = sa.Table(
    "metrics",
    metadata,
    # The key order serves get_metric_history: one run's key, by step then timestamp.
    # value and is_nan belong to the key so that identical re-logged points collapse.
    sa.Column(
        "run_uuid", sa.String(RUN_ID_LENGTH), sa.ForeignKey("runs.run_uuid"), primary_key=True
    ),
    sa.Column("key", sa.String(KEY_LENGTH), primary_key=True),
    sa.Column("step", sa.BigInteger, primary_key=True),
    sa.Column("timestamp", sa.BigInteger, primary_key=True),
    sa.Column("value", Double, primary_key=True),
    sa.Column("is_nan", sa.Boolean, primary_key=True),
    sa.Column("is_inf", sa.Boolean, primary_key=True),
    # Every column is in the key, so a rowid table would store each point twice (the
    # table and the key's index). Without a rowid SQLite keeps just the key's B-tree:
    # half the file, and a batch of 1,000 points inserted in ~0.6x the time.
    sqlite_with_rowid=False,
    **MYSQL_TABLE_OPTIONS,
)

latest_metrics = sa.Table(
    "latest_metrics",
    metadata,
    sa.Column(
        "run_uuid", sa.String(RUN_ID_LENGTH), sa.ForeignKey("runs.run_uuid"), primary_key=True
    ),
    sa.Column("key", sa.String(KEY_LENGTH), primary_key=True),
    sa.Column("value", Double, nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("is_nan", sa.Boolean, nullable=False),
    sa.Column("is_inf", sa.Boolean, nullable=False),
    # "metrics.acc > 0.9" across many runs starts from the key
    sa.Index(None, "key", "value"),
    **MYSQL_TABLE_OPTIONS,
)

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("dataset_uuid", sa.String(36), primary_key=True),
    sa.Column(
        "experiment_id",
        sa.Integer,
        sa.ForeignKey("experiments.experiment_id"),
        nullable=False,
    ),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("digest", sa.String(36), nullable=False),
    sa.Column("source_type", sa.String(36), nullable=False),
    sa.Column("source", MediumText, nullable=False),
    sa.Column("dataset_schema", MediumText, nullable=True),
    sa.Column("dataset_profile", LongText, nullable=True),
    sa.UniqueConstraint("experiment_id", "name", "digest"),
    **MYSQL_TABLE_OPTIONS,
)

inputs = sa.Table(
    "inputs",
    metadata,
    sa.Column("input_uuid", sa.String(36), primary_key=True),
    sa.Column(
        "dataset_uuid",
        sa.String(36),
        sa.ForeignKey("datasets.dataset_uuid"),
        nullable=False,
    ),
    sa.Column("run_uuid", sa.String(RUN_ID_LENGTH), sa.ForeignKey("runs.run_uuid"), nullable=False),
    sa.UniqueConstraint("run_uuid", "dataset_uuid"),
    sa.Index(None, "dataset_uuid"),
    **MYSQL_TABLE_OPTIONS,
)

input_tags = sa.Table(
    "input_tags",
    metadata,
    sa.Column("input_uuid", sa.String(36), sa.ForeignKey("inputs.input_uuid"), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("value", sa.String(500), nullable=False),
    **MYSQL_TABLE_OPTIONS,
)
