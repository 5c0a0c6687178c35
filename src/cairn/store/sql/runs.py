"""Runs in the SQL store: create, read, update, delete, restore, log, history, search."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from itertools import repeat
from typing import Any

import sqlalchemy as sa

from cairn._collector import collector_paused
from cairn.entities import (
    DatasetInput,
    LifecycleStage,
    Metric,
    PagedList,
    Param,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from cairn.entities.run_names import RUN_NAME_TAG, name_new_run
from cairn.exceptions import InvalidParameterValue, ResourceDoesNotExist
from cairn.search.grammar import parse_run_filter, parse_run_order_by
from cairn.search.paging import decode_page_token, encode_page_token
from cairn.search.sql import run_filter, run_order
from cairn.store.sql import plain
from cairn.store.sql import tables as t
from cairn.store.sql.base import SqlStoreBase, now_ms
from cairn.store.sql.dialects import decode_metric_value, select_metric_history
from cairn.store.sql.experiments import active_experiment_row, experiment_key
from cairn.store.sql.records import load_runs, run_info
from cairn.store.sql.writes import write_inputs, write_metrics, write_params, write_tags
from cairn.validation import (
    GET_METRIC_HISTORY_MAX_RESULTS,
    SEARCH_MAX_RESULTS_DEFAULT,
    check_batch,
    check_dataset_inputs,
    check_key,
    check_max_results,
    check_run_id,
    check_tag,
)


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


# Built once: constructing and keying a statement costs more than running it on
# SQLite, and these run for every run created, written to or ended.
_RUN_BY_ID = sa.select(t.runs).where(t.runs.c.run_uuid == sa.bindparam("run_id"))
_INSERT_RUN = t.runs.insert()
_INSERT_TAGS = t.tags.insert()
# the SET clause is the columns given at execution
_UPDATE_RUN = t.runs.update().where(t.runs.c.run_uuid == sa.bindparam("where_run_id"))


def run_row(conn: sa.Connection, run_id: object) -> Any:
    check_run_id(run_id)
    rows = plain.fetch(conn, _RUN_BY_ID, {"run_id": run_id})
    if not rows:
        raise ResourceDoesNotExist(f"Run with id={run_id} not found")
    return rows[0]


def active_run_row(conn: sa.Connection, run_id: object) -> Any:
    row = run_row(conn, run_id)
    if row.lifecycle_stage != LifecycleStage.ACTIVE:
        raise _deleted_run_error(row.run_uuid, row.lifecycle_stage)
    return row


class RunMethods(SqlStoreBase):
    """The run half of the tracking store Protocol."""

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
        name, tags = name_new_run(run_name, tags)
        check_tag(RunTag(RUN_NAME_TAG, name))
        run_id = uuid.uuid4().hex

        def create(conn: sa.Connection) -> Run:
            experiment = active_experiment_row(conn, experiment_id)
            location = (experiment.artifact_location or "").rstrip("/")
            info = RunInfo(
                run_uuid=run_id,
                experiment_id=str(experiment.experiment_id),
                user_id=user_id,
                status=RunStatus.RUNNING.name,
                start_time=now_ms() if start_time is None else start_time,
                end_time=None,
                lifecycle_stage=LifecycleStage.ACTIVE,
                artifact_uri=f"{location}/{run_id}/artifacts",
                run_id=run_id,
                run_name=name,
            )
            plain.execute(
                conn,
                _INSERT_RUN,
                {
                    "run_uuid": run_id,
                    "name": name,
                    "experiment_id": experiment.experiment_id,
                    "user_id": user_id,
                    "status": info.status,
                    "start_time": info.start_time,
                    "end_time": None,
                    "deleted_time": None,
                    "lifecycle_stage": LifecycleStage.ACTIVE,
                    "artifact_uri": info.artifact_uri,
                },
            )
            # A brand-new run: its tags cannot clash with stored ones, so one plain insert
            # (the last value of a key wins), and the name was set with the row above.
            latest = {tag.key: tag.value for tag in tags}
            if latest:
                plain.execute_many(
                    conn,
                    _INSERT_TAGS,
                    [{"run_uuid": run_id, "key": k, "value": v} for k, v in latest.items()],
                )
            # It holds nothing else yet: no read-back of params, metrics or inputs.
            return Run(info, RunData(tags=[RunTag(k, v) for k, v in latest.items()]))

        return self._write(create)

    def get_run(self, run_id: str) -> Run:
        def read(conn: sa.Connection) -> Run:
            return load_runs(conn, [run_row(conn, run_id)])[0]

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
            before = run_info(active_run_row(conn, run_id))
            if values:
                plain.execute(conn, _UPDATE_RUN, {**values, "where_run_id": run_id})
            if run_name:
                write_tags(conn, run_id, [RunTag(RUN_NAME_TAG, run_name)])
            # the row as read, with this transaction's changes: no second read
            return dataclasses.replace(
                before,
                status=values.get("status", before.status),
                end_time=values.get("end_time", before.end_time),
                run_name=values.get("name", before.run_name),
            )

        return self._write(update)

    def delete_run(self, run_id: str) -> None:
        def delete(conn: sa.Connection) -> None:
            row = run_row(conn, run_id)
            if row.lifecycle_stage == LifecycleStage.DELETED:
                return  # keep the first deletion time, which gc goes by
            conn.execute(
                t.runs.update()
                .where(t.runs.c.run_uuid == run_id)
                .values(lifecycle_stage=LifecycleStage.DELETED, deleted_time=now_ms())
            )

        self._write(delete)

    def restore_run(self, run_id: str) -> None:
        def restore(conn: sa.Connection) -> None:
            run_row(conn, run_id)
            conn.execute(
                t.runs.update()
                .where(t.runs.c.run_uuid == run_id)
                .values(lifecycle_stage=LifecycleStage.ACTIVE, deleted_time=None)
            )

        self._write(restore)

    def delete_tag(self, run_id: str, key: str) -> None:
        def delete(conn: sa.Connection) -> None:
            active_run_row(conn, run_id)
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
            active_run_row(conn, run_id)
            write_params(conn, run_id, params)
            write_tags(conn, run_id, tags)
            write_metrics(conn, run_id, metrics)

        self._write(log)

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput] = ()) -> None:
        check_run_id(run_id)
        datasets = list(datasets or ())
        check_dataset_inputs(datasets)

        def log(conn: sa.Connection) -> None:
            row = active_run_row(conn, run_id)
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
        limit = None if max_results is None else max_results + 1

        def read(conn: sa.Connection) -> list[tuple[Any, ...]]:
            run_row(conn, run_id)
            return select_metric_history(conn, run_id, metric_key, limit, offset)

        with collector_paused():
            rows = self._read(read)
            token = None
            if max_results is not None and len(rows) > max_results:
                rows = rows[:max_results]
                token = encode_page_token(offset + max_results)
            values, timestamps, steps, nans, infs = zip(*rows, strict=True) if rows else ((),) * 5
            if any(nans) or any(infs):
                values = tuple(map(decode_metric_value, values, nans, infs))
            points = Metric.from_columns(repeat(metric_key), values, timestamps, steps)
        return PagedList(points, token)

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
        keys = [experiment_key(exp_id) for exp_id in experiment_ids]
        experiment_keys = [key for key in keys if key is not None]
        check_max_results(max_results)
        stages = LifecycleStage.view_type_to_stages(ViewType.coerce(run_view_type))
        node = parse_run_filter(filter_string)
        order_keys = parse_run_order_by(order_by)
        offset = decode_page_token(page_token)
        if not experiment_keys:
            return PagedList([], None)

        def build() -> sa.Select[Any]:
            stmt = sa.select(t.runs).where(
                t.runs.c.experiment_id.in_(experiment_keys),
                t.runs.c.lifecycle_stage.in_(stages),
                run_filter(node, self._dialect),
            )
            return run_order(stmt, order_keys, self._dialect).offset(offset).limit(max_results + 1)

        # what build() is made from (the texts rather than their parses: "m > 1" and
        # "m > 1.0" parse equal but bind different numbers)
        inputs = (
            tuple(experiment_keys),
            tuple(stages),
            filter_string,
            tuple(order_by or ()),
            offset,
            max_results,
        )

        def read(conn: sa.Connection) -> list[Run]:
            return load_runs(conn, plain.fetch_built(conn, inputs, build))

        found = self._read(read)
        token = encode_page_token(offset + max_results) if len(found) > max_results else None
        return PagedList(found[:max_results], token)
