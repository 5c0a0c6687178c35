"""Garbage collection in the SQL store: find deleted runs and experiments, erase them."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from cairn.entities import LifecycleStage
from cairn.exceptions import InvalidParameterValue
from cairn.store.sql import tables as t
from cairn.store.sql.base import SqlStoreBase, now_ms
from cairn.store.sql.experiments import experiment_row
from cairn.store.sql.records import chunked
from cairn.store.sql.runs import run_row


class GarbageCollectionMethods(SqlStoreBase):
    """What ``cairn gc`` asks of a store, beyond the tracking store Protocol."""

    def deleted_run_ids(self, older_than_ms: int | None = None) -> list[str]:
        """Ids of deleted runs, only those deleted at least ``older_than_ms`` ago if given."""
        stmt = sa.select(t.runs.c.run_uuid).where(
            t.runs.c.lifecycle_stage == LifecycleStage.DELETED
        )
        if older_than_ms is not None:
            stmt = stmt.where(t.runs.c.deleted_time <= now_ms() - older_than_ms)
        return self._read(
            lambda conn: list(conn.execute(stmt.order_by(t.runs.c.run_uuid)).scalars())
        )

    def hard_delete_run(self, run_id: str) -> None:
        """Erase a run and all its data for good (its artifacts are the caller's)."""

        def erase(conn: sa.Connection) -> None:
            run_row(conn, run_id)
            erase_runs(conn, [run_id])

        self._write(erase)

    def deleted_experiment_ids(self, older_than_ms: int | None = None) -> list[str]:
        """Ids of deleted experiments, only those deleted ``older_than_ms`` ago if given."""
        e = t.experiments
        stmt = sa.select(e.c.experiment_id).where(e.c.lifecycle_stage == LifecycleStage.DELETED)
        if older_than_ms is not None:
            # an experiment's last update is its deletion: a deleted one accepts no writes
            stmt = stmt.where(e.c.last_update_time <= now_ms() - older_than_ms)
        ids = self._read(
            lambda conn: list(conn.execute(stmt.order_by(e.c.experiment_id)).scalars())
        )
        return [str(exp_id) for exp_id in ids]

    def hard_delete_experiment(self, experiment_id: str) -> None:
        """Erase a deleted experiment with all its runs, datasets and tags."""

        def erase(conn: sa.Connection) -> None:
            row = experiment_row(conn, experiment_id)
            if row.lifecycle_stage != LifecycleStage.DELETED:
                raise InvalidParameterValue(
                    f"Experiment {experiment_id} must be deleted before it can be erased."
                )
            exp_key = row.experiment_id
            run_ids = list(
                conn.execute(
                    sa.select(t.runs.c.run_uuid).where(t.runs.c.experiment_id == exp_key)
                ).scalars()
            )
            erase_runs(conn, run_ids)
            conn.execute(t.datasets.delete().where(t.datasets.c.experiment_id == exp_key))
            conn.execute(
                t.experiment_tags.delete().where(t.experiment_tags.c.experiment_id == exp_key)
            )
            conn.execute(t.experiments.delete().where(t.experiments.c.experiment_id == exp_key))

        self._write(erase)


def erase_runs(conn: sa.Connection, run_ids: Sequence[str]) -> None:
    """Delete runs and every row that hangs off them, children first."""
    for chunk in chunked(list(run_ids)):
        input_ids = sa.select(t.inputs.c.input_uuid).where(t.inputs.c.run_uuid.in_(chunk))
        conn.execute(t.input_tags.delete().where(t.input_tags.c.input_uuid.in_(input_ids)))
        for table in (t.inputs, t.metrics, t.latest_metrics, t.params, t.tags):
            conn.execute(table.delete().where(table.c.run_uuid.in_(chunk)))
        conn.execute(t.runs.delete().where(t.runs.c.run_uuid.in_(chunk)))
