"""Experiments in the SQL store: create, read, search, rename, delete, restore, tags."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from cairn.entities import Experiment, ExperimentTag, LifecycleStage, PagedList, ViewType
from cairn.exceptions import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from cairn.search.grammar import parse_experiment_filter, parse_experiment_order_by
from cairn.search.paging import decode_page_token, encode_page_token
from cairn.search.sql import experiment_filter, experiment_order
from cairn.store.sql import plain
from cairn.store.sql import tables as t
from cairn.store.sql.base import SqlStoreBase, now_ms
from cairn.store.sql.dialects import upsert
from cairn.store.sql.records import load_experiments
from cairn.validation import (
    MAX_EXPERIMENTS_LISTED_PER_PAGE,
    SEARCH_MAX_RESULTS_DEFAULT,
    check_experiment_id,
    check_experiment_name,
    check_experiment_tag,
    check_max_results,
)

DEFAULT_EXPERIMENT_ID = 0
DEFAULT_EXPERIMENT_NAME = "Default"
_MAX_INTEGER_ID = 2**31 - 1  # experiments.experiment_id is a 32-bit INTEGER
_DIGITS = re.compile(r"[0-9]+")


def experiment_key(experiment_id: object) -> int | None:
    """The integer key of an experiment id, None when no experiment can have it."""
    text = check_experiment_id(experiment_id)
    if not _DIGITS.fullmatch(text) or int(text) > _MAX_INTEGER_ID:
        return None
    return int(text)


# Built once: every new run reads its experiment, and building a select costs more
# than running it on SQLite.
_EXPERIMENT_BY_ID = sa.select(t.experiments).where(
    t.experiments.c.experiment_id == sa.bindparam("experiment_id")
)


def experiment_row(conn: sa.Connection, experiment_id: object) -> Any:
    key = experiment_key(experiment_id)
    rows = [] if key is None else plain.fetch(conn, _EXPERIMENT_BY_ID, {"experiment_id": key})
    if not rows:
        raise ResourceDoesNotExist(f"No Experiment with id={experiment_id} exists")
    return rows[0]


def active_experiment_row(conn: sa.Connection, experiment_id: object) -> Any:
    row = experiment_row(conn, experiment_id)
    if row.lifecycle_stage != LifecycleStage.ACTIVE:
        raise InvalidParameterValue(
            f"The experiment {experiment_id} must be in the 'active' state. "
            f"Current state is {row.lifecycle_stage}."
        )
    return row


def check_name_free(conn: sa.Connection, name: str) -> None:
    taken = conn.execute(
        sa.select(t.experiments.c.lifecycle_stage).where(t.experiments.c.name == name)
    ).first()
    if taken is None:
        return
    if taken.lifecycle_stage == LifecycleStage.DELETED:
        raise ResourceAlreadyExists(
            f"Experiment '{name}' already exists in deleted state. You can restore the "
            "experiment, or permanently delete it with `cairn gc` before creating a "
            "new one with the same name."
        )
    raise ResourceAlreadyExists(f"Experiment(name={name}) already exists.")


class ExperimentMethods(SqlStoreBase):
    """The experiment half of the tracking store Protocol."""

    def _ensure_default_experiment(self) -> None:
        def create(conn: sa.Connection) -> None:
            exists = conn.execute(
                sa.select(t.experiments.c.experiment_id).where(
                    t.experiments.c.experiment_id == DEFAULT_EXPERIMENT_ID
                )
            ).first()
            if exists is not None:
                return
            if self._dialect in ("mysql", "mariadb"):
                # MySQL reads an explicit 0 in an AUTO_INCREMENT column as "next value"
                conn.exec_driver_sql(
                    "SET SESSION sql_mode = "
                    "TRIM(BOTH ',' FROM CONCAT(@@SESSION.sql_mode, ',NO_AUTO_VALUE_ON_ZERO'))"
                )
            now = now_ms()
            conn.execute(
                t.experiments.insert().values(
                    experiment_id=DEFAULT_EXPERIMENT_ID,
                    name=DEFAULT_EXPERIMENT_NAME,
                    artifact_location=f"{self.default_artifact_root}/{DEFAULT_EXPERIMENT_ID}",
                    lifecycle_stage=LifecycleStage.ACTIVE,
                    creation_time=now,
                    last_update_time=now,
                )
            )

        # another process may create it at the same moment
        with contextlib.suppress(sa.exc.IntegrityError):
            self._write(create)

    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[ExperimentTag] = ()
    ) -> str:
        """Create an experiment and return its id; the name must be unused."""
        check_experiment_name(name)
        tags = list(tags or ())
        for tag in tags:
            check_experiment_tag(tag)

        def create(conn: sa.Connection) -> str:
            check_name_free(conn, name)
            now = now_ms()
            inserted = conn.execute(
                t.experiments.insert().values(
                    name=name,
                    artifact_location=artifact_location,
                    lifecycle_stage=LifecycleStage.ACTIVE,
                    creation_time=now,
                    last_update_time=now,
                )
            ).inserted_primary_key
            assert inserted is not None
            experiment_id = inserted[0]
            if not artifact_location:
                conn.execute(
                    t.experiments.update()
                    .where(t.experiments.c.experiment_id == experiment_id)
                    .values(artifact_location=f"{self.default_artifact_root}/{experiment_id}")
                )
            if tags:
                rows = {tag.key: tag.value for tag in tags}
                conn.execute(
                    t.experiment_tags.insert(),
                    [
                        {"experiment_id": experiment_id, "key": k, "value": v}
                        for k, v in rows.items()
                    ],
                )
            return str(experiment_id)

        try:
            return self._write(create)
        except sa.exc.IntegrityError:
            # a concurrent writer took the name between our check and our insert
            raise ResourceAlreadyExists(f"Experiment(name={name}) already exists.") from None

    def get_experiment(self, experiment_id: str) -> Experiment:
        def read(conn: sa.Connection) -> Experiment:
            return load_experiments(conn, [experiment_row(conn, experiment_id)])[0]

        return self._read(read)

    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        def read(conn: sa.Connection) -> Experiment | None:
            row = conn.execute(
                sa.select(t.experiments).where(t.experiments.c.name == experiment_name)
            ).first()
            return None if row is None else load_experiments(conn, [row])[0]

        return self._read(read)

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        """One page of experiments matching a filter, ordered, with the next page's token."""
        check_max_results(max_results, MAX_EXPERIMENTS_LISTED_PER_PAGE)
        stages = LifecycleStage.view_type_to_stages(ViewType.coerce(view_type))
        node = parse_experiment_filter(filter_string)
        keys = parse_experiment_order_by(order_by)
        offset = decode_page_token(page_token)
        stmt = sa.select(t.experiments).where(
            t.experiments.c.lifecycle_stage.in_(stages), experiment_filter(node, self._dialect)
        )
        stmt = experiment_order(stmt, keys, self._dialect).offset(offset).limit(max_results + 1)

        def read(conn: sa.Connection) -> list[Experiment]:
            return load_experiments(conn, conn.execute(stmt).all())

        found = self._read(read)
        token = encode_page_token(offset + max_results) if len(found) > max_results else None
        return PagedList(found[:max_results], token)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        check_experiment_name(new_name)

        def rename(conn: sa.Connection) -> None:
            row = experiment_row(conn, experiment_id)
            if row.lifecycle_stage != LifecycleStage.ACTIVE:
                raise InvalidParameterValue("Cannot rename a non-active experiment.")
            if row.name == new_name:
                return
            check_name_free(conn, new_name)
            conn.execute(
                t.experiments.update()
                .where(t.experiments.c.experiment_id == row.experiment_id)
                .values(name=new_name, last_update_time=now_ms())
            )

        try:
            self._write(rename)
        except sa.exc.IntegrityError:
            raise ResourceAlreadyExists(f"Experiment(name={new_name}) already exists.") from None

    def delete_experiment(self, experiment_id: str) -> None:
        """Mark the experiment and its active runs deleted (recoverable until ``gc``)."""

        def delete(conn: sa.Connection) -> None:
            row = active_experiment_row(conn, experiment_id)
            now = now_ms()
            conn.execute(
                t.experiments.update()
                .where(t.experiments.c.experiment_id == row.experiment_id)
                .values(lifecycle_stage=LifecycleStage.DELETED, last_update_time=now)
            )
            conn.execute(
                t.runs.update()
                .where(
                    t.runs.c.experiment_id == row.experiment_id,
                    t.runs.c.lifecycle_stage == LifecycleStage.ACTIVE,
                )
                .values(lifecycle_stage=LifecycleStage.DELETED, deleted_time=now)
            )

        self._write(delete)

    def restore_experiment(self, experiment_id: str) -> None:
        """Make a deleted experiment active again, with the runs deleted along with it."""

        def restore(conn: sa.Connection) -> None:
            row = experiment_row(conn, experiment_id)
            if row.lifecycle_stage != LifecycleStage.DELETED:
                raise InvalidParameterValue(
                    f"Cannot restore experiment {experiment_id}: it is not deleted."
                )
            conn.execute(
                t.experiments.update()
                .where(t.experiments.c.experiment_id == row.experiment_id)
                .values(lifecycle_stage=LifecycleStage.ACTIVE, last_update_time=now_ms())
            )
            # Runs deleted on their own before the experiment stay deleted: only those
            # whose deletion time is the experiment's come back.
            conn.execute(
                t.runs.update()
                .where(
                    t.runs.c.experiment_id == row.experiment_id,
                    t.runs.c.lifecycle_stage == LifecycleStage.DELETED,
                    sa.or_(
                        t.runs.c.deleted_time.is_(None),
                        t.runs.c.deleted_time >= row.last_update_time,
                    ),
                )
                .values(lifecycle_stage=LifecycleStage.ACTIVE, deleted_time=None)
            )

        self._write(restore)

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        check_experiment_tag(tag)

        def set_tag(conn: sa.Connection) -> None:
            row = active_experiment_row(conn, experiment_id)
            upsert(
                conn,
                t.experiment_tags,
                [{"experiment_id": row.experiment_id, "key": tag.key, "value": tag.value}],
            )

        self._write(set_tag)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        def delete(conn: sa.Connection) -> None:
            row = active_experiment_row(conn, experiment_id)
            deleted = conn.execute(
                t.experiment_tags.delete().where(
                    t.experiment_tags.c.experiment_id == row.experiment_id,
                    t.experiment_tags.c.key == key,
                )
            )
            if deleted.rowcount == 0:
                raise ResourceDoesNotExist(
                    f"No tag with name: {key} in experiment with id {experiment_id}"
                )

        self._write(delete)
