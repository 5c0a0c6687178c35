"""``SqlStore``: the tracking store on SQLite, PostgreSQL or MySQL/MariaDB.

Every public method is one short transaction on a pooled connection, so one store
instance may be shared by many threads, and (through SQLite's WAL mode or a database
server) several processes may write to the same database. Validation runs before any
statement, so a refused call changes nothing.
"""

from __future__ import annotations

import contextlib
import random
import re
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from cairn.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    LifecycleStage,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from cairn.exceptions import (
    InvalidParameterValue,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from cairn.search.grammar import (
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_run_filter,
    parse_run_order_by,
)
from cairn.search.paging import decode_page_token, encode_page_token
from cairn.search.sql import experiment_filter, experiment_order, run_filter, run_order
from cairn.store.sql import tables as t
from cairn.store.sql.dialects import decode_metric_value, upsert
from cairn.store.sql.engine import create_engine, read_transaction, write_transaction
from cairn.store.sql.migrate import ensure_schema
from cairn.store.sql.records import chunked, load_experiments, load_runs, run_info
from cairn.store.sql.writes import (
    RUN_NAME_TAG,
    write_inputs,
    write_metrics,
    write_params,
    write_tags,
)
from cairn.validation import (
    GET_METRIC_HISTORY_MAX_RESULTS,
    MAX_EXPERIMENTS_LISTED_PER_PAGE,
    SEARCH_MAX_RESULTS_DEFAULT,
    check_batch,
    check_dataset_inputs,
    check_experiment_id,
    check_experiment_name,
    check_experiment_tag,
    check_key,
    check_max_results,
    check_run_id,
    check_tag,
)

T = TypeVar("T")

DEFAULT_EXPERIMENT_ID = 0
DEFAULT_EXPERIMENT_NAME = "Default"
_MAX_INTEGER_ID = 2**31 - 1  # experiments.experiment_id is a 32-bit INTEGER
_DIGITS = re.compile(r"[0-9]+")
_DEADLOCK_RETRIES = 3
# MySQL "Deadlock found" / "Lock wait timeout"; PostgreSQL deadlock / serialization failure
_RETRYABLE_MYSQL_CODES = {1213, 1205}
_RETRYABLE_PG_CODES = {"40P01", "40001"}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _random_run_name() -> str:
    # TODO(lead): share cairn.tracking.context.generate_run_name from a lower layer.
    words = ("calm", "bold", "keen", "swift", "merry", "quiet", "sunny", "vivid")
    animals = ("otter", "heron", "lynx", "wren", "badger", "finch", "koala", "trout")
    rng = random.SystemRandom()
    return f"{rng.choice(words)}-{rng.choice(animals)}-{rng.randint(0, 999)}"


def _is_retryable(error: sa.exc.DBAPIError) -> bool:
    orig = error.orig
    code = getattr(orig, "pgcode", None)
    if code in _RETRYABLE_PG_CODES:
        return True
    args: tuple[Any, ...] = getattr(orig, "args", ())
    return bool(args) and args[0] in _RETRYABLE_MYSQL_CODES


def _nul_error(error: ValueError) -> Exception:
    """psycopg2 refuses to send text containing NUL: a bad value, not a server fault."""
    if "NUL (0x00)" not in str(error):
        return error
    return InvalidParameterValue(
        "PostgreSQL cannot store or compare text containing the NUL character (\\x00)."
    )


def _experiment_key(experiment_id: object) -> int | None:
    """The integer key of an experiment id, None when no experiment can have it."""
    text = check_experiment_id(experiment_id)
    if not _DIGITS.fullmatch(text) or int(text) > _MAX_INTEGER_ID:
        return None
    return int(text)


def _status_name(status: RunStatus | int | str) -> str:
    try:
        if isinstance(status, str) and not status.isdigit():
            return RunStatus.from_string(status).name
        return RunStatus(int(status)).name
    except ValueError:
        raise InvalidParameterValue(f"Invalid run status {status!r}") from None


def _deleted_run_error(run_id: str, stage: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"The run {run_id} must be in the 'active' state. Current state is {stage}."
    )


class SqlStore:
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

    def dispose(self) -> None:
        """Close every pooled connection (the store may still be used afterwards)."""
        self._engine.dispose()

    # -- transactions ------------------------------------------------------------------
    def _write(self, work: Callable[[sa.Connection], T]) -> T:
        """Run ``work`` in a write transaction, retrying it after a deadlock."""
        for attempt in range(_DEADLOCK_RETRIES + 1):
            try:
                with write_transaction(self._engine) as conn:
                    return work(conn)
            except sa.exc.DBAPIError as error:
                if attempt == _DEADLOCK_RETRIES or not _is_retryable(error):
                    raise
                time.sleep(0.01 * (attempt + 1))
            except ValueError as error:
                raise _nul_error(error) from None
        raise AssertionError("unreachable")

    def _read(self, work: Callable[[sa.Connection], T]) -> T:
        try:
            with read_transaction(self._engine) as conn:
                return work(conn)
        except ValueError as error:
            raise _nul_error(error) from None

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
            now = _now_ms()
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

    # -- experiments -------------------------------------------------------------------
    def _experiment_row(self, conn: sa.Connection, experiment_id: object) -> Any:
        key = _experiment_key(experiment_id)
        row = None
        if key is not None:
            row = conn.execute(
                sa.select(t.experiments).where(t.experiments.c.experiment_id == key)
            ).first()
        if row is None:
            raise ResourceDoesNotExist(f"No Experiment with id={experiment_id} exists")
        return row

    def _active_experiment_row(self, conn: sa.Connection, experiment_id: object) -> Any:
        row = self._experiment_row(conn, experiment_id)
        if row.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidParameterValue(
                f"The experiment {experiment_id} must be in the 'active' state. "
                f"Current state is {row.lifecycle_stage}."
            )
        return row

    def _check_name_free(self, conn: sa.Connection, name: str) -> None:
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

    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[ExperimentTag] = ()
    ) -> str:
        """Create an experiment and return its id; the name must be unused."""
        check_experiment_name(name)
        tags = list(tags or ())
        for tag in tags:
            check_experiment_tag(tag)

        def create(conn: sa.Connection) -> str:
            self._check_name_free(conn, name)
            now = _now_ms()
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
            return load_experiments(conn, [self._experiment_row(conn, experiment_id)])[0]

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
            row = self._experiment_row(conn, experiment_id)
            if row.lifecycle_stage != LifecycleStage.ACTIVE:
                raise InvalidParameterValue("Cannot rename a non-active experiment.")
            if row.name == new_name:
                return
            self._check_name_free(conn, new_name)
            conn.execute(
                t.experiments.update()
                .where(t.experiments.c.experiment_id == row.experiment_id)
                .values(name=new_name, last_update_time=_now_ms())
            )

        try:
            self._write(rename)
        except sa.exc.IntegrityError:
            raise ResourceAlreadyExists(f"Experiment(name={new_name}) already exists.") from None

    def delete_experiment(self, experiment_id: str) -> None:
        """Mark the experiment and its active runs deleted (recoverable until ``gc``)."""

        def delete(conn: sa.Connection) -> None:
            row = self._active_experiment_row(conn, experiment_id)
            now = _now_ms()
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
            row = self._experiment_row(conn, experiment_id)
            if row.lifecycle_stage != LifecycleStage.DELETED:
                raise InvalidParameterValue(
                    f"Cannot restore experiment {experiment_id}: it is not deleted."
                )
            conn.execute(
                t.experiments.update()
                .where(t.experiments.c.experiment_id == row.experiment_id)
                .values(lifecycle_stage=LifecycleStage.ACTIVE, last_update_time=_now_ms())
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
            row = self._active_experiment_row(conn, experiment_id)
            upsert(
                conn,
                t.experiment_tags,
                [{"experiment_id": row.experiment_id, "key": tag.key, "value": tag.value}],
            )

        self._write(set_tag)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        def delete(conn: sa.Connection) -> None:
            row = self._active_experiment_row(conn, experiment_id)
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

    # -- runs --------------------------------------------------------------------------
    def _run_row(self, conn: sa.Connection, run_id: object) -> Any:
        check_run_id(run_id)
        row = conn.execute(sa.select(t.runs).where(t.runs.c.run_uuid == run_id)).first()
        if row is None:
            raise ResourceDoesNotExist(f"Run with id={run_id} not found")
        return row

    def _active_run_row(self, conn: sa.Connection, run_id: object) -> Any:
        row = self._run_row(conn, run_id)
        if row.lifecycle_stage != LifecycleStage.ACTIVE:
            raise _deleted_run_error(row.run_uuid, row.lifecycle_stage)
        return row

    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int | None,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        tags = list(tags or ())
        for tag in tags:
            check_tag(tag)
        tag_name = next((tag.value for tag in reversed(tags) if tag.key == RUN_NAME_TAG), None)
        if run_name and tag_name and run_name != tag_name:
            raise InvalidParameterValue(
                f"Both the run_name argument ('{run_name}') and the '{RUN_NAME_TAG}' tag "
                f"('{tag_name}') were given, and they differ."
            )
        name = run_name or tag_name or _random_run_name()
        check_tag(RunTag(RUN_NAME_TAG, name))
        tags = [tag for tag in tags if tag.key != RUN_NAME_TAG] + [RunTag(RUN_NAME_TAG, name)]
        run_id = uuid.uuid4().hex

        def create(conn: sa.Connection) -> Run:
            experiment = self._active_experiment_row(conn, experiment_id)
            location = (experiment.artifact_location or "").rstrip("/")
            conn.execute(
                t.runs.insert().values(
                    run_uuid=run_id,
                    name=name,
                    experiment_id=experiment.experiment_id,
                    user_id=user_id,
                    status=RunStatus.RUNNING.name,
                    start_time=_now_ms() if start_time is None else start_time,
                    end_time=None,
                    deleted_time=None,
                    lifecycle_stage=LifecycleStage.ACTIVE,
                    artifact_uri=f"{location}/{run_id}/artifacts",
                )
            )
            write_tags(conn, run_id, tags)
            return load_runs(conn, [self._run_row(conn, run_id)])[0]

        return self._write(create)

    def get_run(self, run_id: str) -> Run:
        def read(conn: sa.Connection) -> Run:
            return load_runs(conn, [self._run_row(conn, run_id)])[0]

        return self._read(read)

    def update_run_info(
        self,
        run_id: str,
        run_status: RunStatus | None,
        end_time: int | None,
        run_name: str | None,
    ) -> RunInfo:
        """Change what is given (None leaves a field as it is) and return the new info."""
        values: dict[str, Any] = {}
        if run_status is not None:
            values["status"] = _status_name(run_status)
        if end_time is not None:
            values["end_time"] = end_time
        if run_name:
            check_tag(RunTag(RUN_NAME_TAG, run_name))
            values["name"] = run_name

        def update(conn: sa.Connection) -> RunInfo:
            self._active_run_row(conn, run_id)
            if values:
                conn.execute(t.runs.update().where(t.runs.c.run_uuid == run_id).values(**values))
            if run_name:
                write_tags(conn, run_id, [RunTag(RUN_NAME_TAG, run_name)])
            return run_info(self._run_row(conn, run_id))

        return self._write(update)

    def delete_run(self, run_id: str) -> None:
        def delete(conn: sa.Connection) -> None:
            row = self._run_row(conn, run_id)
            if row.lifecycle_stage == LifecycleStage.DELETED:
                return  # keep the first deletion time, which gc goes by
            conn.execute(
                t.runs.update()
                .where(t.runs.c.run_uuid == run_id)
                .values(lifecycle_stage=LifecycleStage.DELETED, deleted_time=_now_ms())
            )

        self._write(delete)

    def restore_run(self, run_id: str) -> None:
        def restore(conn: sa.Connection) -> None:
            self._run_row(conn, run_id)
            conn.execute(
                t.runs.update()
                .where(t.runs.c.run_uuid == run_id)
                .values(lifecycle_stage=LifecycleStage.ACTIVE, deleted_time=None)
            )

        self._write(restore)

    def delete_tag(self, run_id: str, key: str) -> None:
        def delete(conn: sa.Connection) -> None:
            self._active_run_row(conn, run_id)
            deleted = conn.execute(
                t.tags.delete().where(t.tags.c.run_uuid == run_id, t.tags.c.key == key)
            )
            if deleted.rowcount == 0:
                raise ResourceDoesNotExist(f"No tag with name: {key} in run with id {run_id}")

        self._write(delete)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Write metrics, params and tags in one transaction: all of them or none."""
        check_run_id(run_id)
        metrics, params, tags = list(metrics or ()), list(params or ()), list(tags or ())
        check_batch(metrics, params, tags)

        def log(conn: sa.Connection) -> None:
            self._active_run_row(conn, run_id)
            write_params(conn, run_id, params)
            write_tags(conn, run_id, tags)
            write_metrics(conn, run_id, metrics)

        self._write(log)

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput] = ()) -> None:
        check_run_id(run_id)
        datasets = list(datasets or ())
        check_dataset_inputs(datasets)

        def log(conn: sa.Connection) -> None:
            row = self._active_run_row(conn, run_id)
            write_inputs(conn, run_id, row.experiment_id, datasets)

        self._write(log)

    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        """Every point of one metric, ordered by (step, timestamp), optionally paged."""
        check_key(metric_key, "metric name")
        if max_results is not None:
            check_max_results(max_results, GET_METRIC_HISTORY_MAX_RESULTS)
        offset = decode_page_token(page_token)
        m = t.metrics
        stmt = (
            sa.select(m.c.key, m.c.value, m.c.timestamp, m.c.step, m.c.is_nan, m.c.is_inf)
            .where(m.c.run_uuid == run_id, m.c.key == metric_key)
            .order_by(m.c.step, m.c.timestamp, m.c.is_nan, m.c.value, m.c.is_inf)
            .offset(offset)
        )
        if max_results is not None:
            stmt = stmt.limit(max_results + 1)

        def read(conn: sa.Connection) -> list[Any]:
            self._run_row(conn, run_id)
            return list(conn.execute(stmt).all())

        rows = self._read(read)
        points = [
            Metric(
                row.key,
                decode_metric_value(row.value, row.is_nan, row.is_inf),
                row.timestamp,
                row.step,
            )
            for row in rows
        ]
        if max_results is not None and len(points) > max_results:
            return PagedList(points[:max_results], encode_page_token(offset + max_results))
        return PagedList(points, None)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        """One page of the runs of ``experiment_ids`` matching a filter, ordered."""
        if isinstance(experiment_ids, str):
            experiment_ids = [experiment_ids]
        keys = [_experiment_key(exp_id) for exp_id in experiment_ids]
        experiment_keys = [key for key in keys if key is not None]
        check_max_results(max_results)
        stages = LifecycleStage.view_type_to_stages(ViewType.coerce(run_view_type))
        node = parse_run_filter(filter_string)
        order_keys = parse_run_order_by(order_by)
        offset = decode_page_token(page_token)
        if not experiment_keys:
            return PagedList([], None)
        stmt = sa.select(t.runs).where(
            t.runs.c.experiment_id.in_(experiment_keys),
            t.runs.c.lifecycle_stage.in_(stages),
            run_filter(node, self._dialect),
        )
        stmt = run_order(stmt, order_keys, self._dialect).offset(offset).limit(max_results + 1)

        def read(conn: sa.Connection) -> list[Run]:
            rows = conn.execute(stmt).all()
            return load_runs(conn, rows[: max_results + 1])

        found = self._read(read)
        token = encode_page_token(offset + max_results) if len(found) > max_results else None
        return PagedList(found[:max_results], token)

    # -- garbage collection ------------------------------------------------------------
    def deleted_run_ids(self, older_than_ms: int | None = None) -> list[str]:
        """Ids of deleted runs, only those deleted at least ``older_than_ms`` ago if given."""
        stmt = sa.select(t.runs.c.run_uuid).where(
            t.runs.c.lifecycle_stage == LifecycleStage.DELETED
        )
        if older_than_ms is not None:
            stmt = stmt.where(t.runs.c.deleted_time <= _now_ms() - older_than_ms)
        return self._read(
            lambda conn: list(conn.execute(stmt.order_by(t.runs.c.run_uuid)).scalars())
        )

    def hard_delete_run(self, run_id: str) -> None:
        """Erase a run and all its data for good (its artifacts are the caller's)."""

        def erase(conn: sa.Connection) -> None:
            self._run_row(conn, run_id)
            _erase_runs(conn, [run_id])

        self._write(erase)

    def deleted_experiment_ids(self, older_than_ms: int | None = None) -> list[str]:
        """Ids of deleted experiments, only those deleted ``older_than_ms`` ago if given."""
        e = t.experiments
        stmt = sa.select(e.c.experiment_id).where(e.c.lifecycle_stage == LifecycleStage.DELETED)
        if older_than_ms is not None:
            # an experiment's last update is its deletion: a deleted one accepts no writes
            stmt = stmt.where(e.c.last_update_time <= _now_ms() - older_than_ms)
        ids = self._read(
            lambda conn: list(conn.execute(stmt.order_by(e.c.experiment_id)).scalars())
        )
        return [str(exp_id) for exp_id in ids]

    def hard_delete_experiment(self, experiment_id: str) -> None:
        """Erase a deleted experiment with all its runs, datasets and tags."""

        def erase(conn: sa.Connection) -> None:
            row = self._experiment_row(conn, experiment_id)
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
            _erase_runs(conn, run_ids)
            conn.execute(t.datasets.delete().where(t.datasets.c.experiment_id == exp_key))
            conn.execute(
                t.experiment_tags.delete().where(t.experiment_tags.c.experiment_id == exp_key)
            )
            conn.execute(t.experiments.delete().where(t.experiments.c.experiment_id == exp_key))

        self._write(erase)


def _erase_runs(conn: sa.Connection, run_ids: Sequence[str]) -> None:
    """Delete runs and every row that hangs off them, children first."""
    for chunk in chunked(list(run_ids)):
        input_ids = sa.select(t.inputs.c.input_uuid).where(t.inputs.c.run_uuid.in_(chunk))
        conn.execute(t.input_tags.delete().where(t.input_tags.c.input_uuid.in_(input_ids)))
        for table in (t.inputs, t.metrics, t.latest_metrics, t.params, t.tags):
            conn.execute(table.delete().where(table.c.run_uuid.in_(chunk)))
        conn.execute(t.runs.delete().where(t.runs.c.run_uuid.in_(chunk)))
