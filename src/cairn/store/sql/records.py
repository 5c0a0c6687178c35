"""Rows to entities, loading a whole page's child rows in a few bulk queries.

A page of runs is built from one query per child table (params, tags, latest metrics,
inputs), each covering every run of the page, never one query per run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from cairn._collector import collector_paused
from cairn.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    Metric,
    Run,
    RunData,
    RunInfo,
    RunInputs,
)
from cairn.store.sql import plain
from cairn.store.sql import tables as t
from cairn.store.sql.dialects import decode_metric_value

# SQLite allows 32766 bound parameters per statement; stay far below for every database.
_CHUNK = 500


def chunked(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    """Consecutive slices of ``items`` of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---------------------------------------------------------------------------------------
# Experiments
# ---------------------------------------------------------------------------------------


def load_experiments(conn: sa.Connection, rows: Sequence[Any]) -> list[Experiment]:
    """Experiments for ``experiments`` rows, in the same order, with their tags."""
    ids = [row.experiment_id for row in rows]
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    et = t.experiment_tags
    for chunk in chunked(ids):
        for tag in conn.execute(
            sa.select(et.c.experiment_id, et.c.key, et.c.value).where(et.c.experiment_id.in_(chunk))
        ):
            tags[tag.experiment_id][tag.key] = tag.value
    return [
        Experiment(
            experiment_id=str(row.experiment_id),
            name=row.name,
            artifact_location=row.artifact_location,
            lifecycle_stage=row.lifecycle_stage,
            tags=tags.get(row.experiment_id, {}),
            creation_time=row.creation_time,
            last_update_time=row.last_update_time,
        )
        for row in rows
    ]


# ---------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------


def run_info(row: Any) -> RunInfo:
    """A ``RunInfo`` from a ``runs`` row."""
    return RunInfo(
        run_uuid=row.run_uuid,
        experiment_id=str(row.experiment_id),
        user_id=row.user_id,
        status=row.status,
        start_time=row.start_time,
        end_time=row.end_time,
        lifecycle_stage=row.lifecycle_stage,
        artifact_uri=row.artifact_uri,
        run_id=row.run_uuid,
        run_name=row.name,
    )


def _key_values(
    conn: sa.Connection, table: sa.Table, run_ids: Sequence[str]
) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {run_id: {} for run_id in run_ids}
    for chunk in chunked(run_ids):
        for run_id, key, value in plain.select_in(
            conn, table, ("run_uuid", "key", "value"), ("run_uuid", chunk)
        ):
            found[run_id][key] = value
    return found


def _latest_metrics(conn: sa.Connection, run_ids: Sequence[str]) -> dict[str, list[Metric]]:
    columns = ("run_uuid", "key", "value", "timestamp", "step", "is_nan", "is_inf")
    found: dict[str, list[Metric]] = defaultdict(list)
    for chunk in chunked(run_ids):
        rows = plain.select_in(conn, t.latest_metrics, columns, ("run_uuid", chunk), ["key"])
        for run_id, key, value, timestamp, step, is_nan, is_inf in rows:
            value = decode_metric_value(value, is_nan, is_inf)
            found[run_id].append(Metric(key, value, timestamp, step))
    return found


def _inputs(conn: sa.Connection, run_ids: Sequence[str]) -> dict[str, list[DatasetInput]]:
    inputs, datasets, input_tags = t.inputs, t.datasets, t.input_tags
    found: dict[str, list[DatasetInput]] = defaultdict(list)
    for chunk in chunked(run_ids):
        rows = conn.execute(
            sa.select(inputs.c.input_uuid, inputs.c.run_uuid, datasets)
            .join(datasets, datasets.c.dataset_uuid == inputs.c.dataset_uuid)
            .where(inputs.c.run_uuid.in_(chunk))
            .order_by(datasets.c.name, datasets.c.digest)
        ).all()
        if not rows:
            continue
        tags: dict[str, list[InputTag]] = defaultdict(list)
        input_ids = [row.input_uuid for row in rows]
        for tag_chunk in chunked(input_ids):
            for tag in conn.execute(
                sa.select(input_tags)
                .where(input_tags.c.input_uuid.in_(tag_chunk))
                .order_by(input_tags.c.name)
            ):
                tags[tag.input_uuid].append(InputTag(tag.name, tag.value))
        for row in rows:
            dataset = Dataset(
                name=row.name,
                digest=row.digest,
                source_type=row.source_type,
                source=row.source,
                schema=row.dataset_schema,
                profile=row.dataset_profile,
            )
            found[row.run_uuid].append(DatasetInput(dataset, tags.get(row.input_uuid, [])))
    return found


def load_runs(conn: sa.Connection, rows: Sequence[Any]) -> list[Run]:
    """Runs for ``runs`` rows, in the same order, with params, tags, metrics and inputs."""
    run_ids = [row.run_uuid for row in rows]
    with collector_paused():  # a page of 1,000 runs is tens of thousands of objects
        params = _key_values(conn, t.params, run_ids)
        tags = _key_values(conn, t.tags, run_ids)
        metrics = _latest_metrics(conn, run_ids)
        inputs = _inputs(conn, run_ids)
        return [
            Run(
                info=run_info(row),
                data=RunData.from_values(
                    metrics.get(row.run_uuid, ()), params[row.run_uuid], tags[row.run_uuid]
                ),
                inputs=RunInputs(inputs.get(row.run_uuid, [])),
            )
            for row in rows
        ]
