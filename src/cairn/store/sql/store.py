"""``SqlStore``: the tracking store on SQLite, PostgreSQL or MySQL/MariaDB.

The store is composed by aggregate: ``experiments``, ``runs``, ``gc`` and ``downsample``
each hold their
part of the interface, over the engine and transaction runners of ``base``. Every
public method is one short transaction, and validation runs before any statement, so a
refused call changes nothing.
"""

from __future__ import annotations

from pathlib import Path

from cairn.store.sql.downsample import DownsampleMethods
from cairn.store.sql.engine import create_engine
from cairn.store.sql.experiments import ExperimentMethods
from cairn.store.sql.gc import GarbageCollectionMethods
from cairn.store.sql.migrate import ensure_schema
from cairn.store.sql.runs import RunMethods

__all__ = ["SqlStore"]


class SqlStore(ExperimentMethods, RunMethods, GarbageCollectionMethods, DownsampleMethods):
    """The tracking store on a SQL database (``sqlite:``, ``postgresql:``, ``mysql:``).

    A new database is given the schema and the Default experiment on first use. A
    database with an older schema is refused until ``cairn db upgrade URI`` migrates it.
    """

    def __init__(self, uri: str, default_artifact_root: str | None = None) -> None:
        self.uri = uri
        self.default_artifact_root = (
            default_artifact_root or Path("mlruns").resolve().as_uri()
        ).rstrip("/")
        self._engine = create_engine(uri)
        self._dialect = self._engine.dialect.name
        ensure_schema(self._engine, uri)
        self._ensure_default_experiment()
