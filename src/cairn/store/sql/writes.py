"""Writing a run's data: log_batch and log_inputs as a few set-based statements.

Each function runs inside the caller's write transaction and validates before writing,
so a refused batch leaves nothing behind.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from cairn.entities import DatasetInput, Metric, Param, RunTag
from cairn.entities.run_names import RUN_NAME_TAG
from cairn.store.sql import plain
from cairn.store.sql import tables as t
from cairn.store.sql.dialects import (
    encode_metric_value,
    insert_ignoring_duplicates,
    insert_metric_points,
    update_latest_metrics,
    upsert,
)
from cairn.validation import check_param_unchanged


def write_params(conn: sa.Connection, run_id: str, params: Sequence[Param]) -> None:
    """Insert new params; a key already logged must carry the same value."""
    if not params:
        return
    wanted = {param.key: param.value for param in params}
    # Insert-or-ignore, then read every key back: a key logged before (or by a
    # concurrent writer) keeps its stored value, which must equal the one given here.
    insert_ignoring_duplicates(
        conn, t.params, [{"run_uuid": run_id, "key": k, "value": v} for k, v in wanted.items()]
    )
    stored: dict[str, str] = dict(
        plain.select_in(
            conn,
            t.params,
            ("key", "value"),
            ("key", list(wanted)),
            where_equal={"run_uuid": run_id},
        )
    )
    for key, value in wanted.items():
        check_param_unchanged(run_id, key, stored[key], value)


def write_tags(conn: sa.Connection, run_id: str, tags: Sequence[RunTag]) -> None:
    """Set tags (the last value of a key wins); the run-name tag also renames the run."""
    if not tags:
        return
    latest = {tag.key: tag.value for tag in tags}
    upsert(
        conn,
        t.tags,
        [{"run_uuid": run_id, "key": key, "value": value} for key, value in latest.items()],
    )
    if RUN_NAME_TAG in latest:
        conn.execute(
            t.runs.update().where(t.runs.c.run_uuid == run_id).values(name=latest[RUN_NAME_TAG])
        )


def metric_rows(
    run_id: str, metrics: Sequence[Metric], dialect: str
) -> tuple[list[tuple[Any, ...]], dict[str, tuple[Any, ...]]]:
    """Metric points as ``METRIC_COLUMNS`` tuples, and the latest of them per key."""
    rows: list[tuple[Any, ...]] = []
    latest: dict[str, tuple[Any, ...]] = {}
    # per key, the point_order of its latest row, kept rather than recomputed per point
    latest_order: dict[str, tuple[int, int, bool, float]] = {}
    for metric in metrics:
        key, value = metric.key, metric.value
        if type(value) is float and -math.inf < value < math.inf:  # the common case
            is_nan = is_inf = False
        else:
            value, is_nan, is_inf = encode_metric_value(value, dialect)
        step, timestamp = int(metric.step), int(metric.timestamp)
        row = (run_id, key, step, timestamp, value, is_nan, is_inf)
        rows.append(row)
        order = (step, timestamp, is_nan, value)
        current = latest_order.get(key)
        if current is None or order > current:
            latest_order[key] = order
            latest[key] = row
    return rows, latest


def write_metrics(conn: sa.Connection, run_id: str, metrics: Sequence[Metric]) -> None:
    """Append metric points (identical points collapse) and advance latest_metrics."""
    if not metrics:
        return
    rows, latest = metric_rows(run_id, metrics, conn.dialect.name)
    insert_metric_points(conn, rows)
    update_latest_metrics(conn, run_id, latest)


def write_inputs(
    conn: sa.Connection, run_id: str, experiment_id: int, dataset_inputs: Sequence[DatasetInput]
) -> None:
    """Link datasets to a run; each (name, digest) is stored once per experiment.

    A dataset the run already consumed is left as it is, tags included.
    """
    if not dataset_inputs:
        return
    ds = t.datasets
    wanted: dict[tuple[str, str], DatasetInput] = {}
    for item in dataset_inputs:
        wanted.setdefault((item.dataset.name, item.dataset.digest), item)
    names = sorted({name for name, _ in wanted})

    def known() -> dict[tuple[str, str], str]:
        found = conn.execute(
            sa.select(ds.c.name, ds.c.digest, ds.c.dataset_uuid).where(
                ds.c.experiment_id == experiment_id, ds.c.name.in_(names)
            )
        ).all()
        return {(row.name, row.digest): row.dataset_uuid for row in found}

    dataset_ids = known()
    new_datasets = [
        {
            "dataset_uuid": uuid.uuid4().hex,
            "experiment_id": experiment_id,
            "name": item.dataset.name,
            "digest": item.dataset.digest,
            "source_type": item.dataset.source_type,
            "source": item.dataset.source,
            "dataset_schema": item.dataset.schema,
            "dataset_profile": item.dataset.profile,
        }
        for key, item in wanted.items()
        if key not in dataset_ids
    ]
    if new_datasets:
        # another writer may register the same dataset concurrently: ignore, re-read
        _insert_skipping_conflicts(conn, ds, new_datasets)
        dataset_ids = known()

    linked = set(
        conn.execute(
            sa.select(t.inputs.c.dataset_uuid).where(t.inputs.c.run_uuid == run_id)
        ).scalars()
    )
    input_rows: list[dict[str, Any]] = []
    tag_rows: list[dict[str, Any]] = []
    for key, item in wanted.items():
        dataset_id = dataset_ids[key]
        if dataset_id in linked:
            continue
        input_id = uuid.uuid4().hex
        input_rows.append({"input_uuid": input_id, "dataset_uuid": dataset_id, "run_uuid": run_id})
        tags = {tag.key: tag.value for tag in item.tags}
        tag_rows += [{"input_uuid": input_id, "name": k, "value": v} for k, v in tags.items()]
    if input_rows:
        conn.execute(t.inputs.insert(), input_rows)
    if tag_rows:
        conn.execute(t.input_tags.insert(), tag_rows)


def _insert_skipping_conflicts(
    conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]
) -> None:
    """Insert rows, skipping any that collide with an existing unique key (any of them)."""
    for row in rows:
        try:
            with conn.begin_nested():
                conn.execute(table.insert(), row)
        except sa.exc.IntegrityError:
            continue
