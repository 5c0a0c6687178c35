"""Min/max bucketing of a metric history inside the database (``SupportsDownsampling``).

Over the metrics table's primary key (run, key, step, ...): two index seeks find an
open range's ends, one scan groups the range's finite points into buckets, and a count
finds the rest. Only the buckets travel to Python.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from cairn.entities import Bucket, DownsampledHistory
from cairn.store.sql import tables
from cairn.store.sql.base import SqlStoreBase


class DownsampleMethods(SqlStoreBase):
    """The SQL store's part of ``cairn.store.downsample.SupportsDownsampling``."""

    def downsample_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_points: int,
        start_step: int | None,
        end_step: int | None,
    ) -> DownsampledHistory:
        """The history as at most ``max_points`` buckets (arguments already validated)."""
        return self._read(
            lambda conn: _downsample(conn, run_id, metric_key, max_points, start_step, end_step)
        )


def _downsample(
    conn: sa.Connection,
    run_id: str,
    metric_key: str,
    max_points: int,
    start_step: int | None,
    end_step: int | None,
) -> DownsampledHistory:
    m = tables.metrics
    in_range = [m.c.run_uuid == run_id, m.c.key == metric_key]
    if start_step is not None:
        in_range.append(m.c.step >= start_step)
    if end_step is not None:
        in_range.append(m.c.step <= end_step)
    # two index seeks, not a scan: the range's ends bound the buckets
    low = start_step
    if low is None:
        low = conn.execute(sa.select(sa.func.min(m.c.step)).where(*in_range)).scalar()
    high = end_step
    if high is None:
        high = conn.execute(sa.select(sa.func.max(m.c.step)).where(*in_range)).scalar()
    finite = sa.and_(m.c.is_nan == sa.false(), m.c.is_inf == sa.false())
    non_finite = int(
        conn.execute(sa.select(sa.func.count()).where(*in_range, sa.not_(finite))).scalar() or 0
    )
    rows = []
    if low is not None and high is not None:
        rows = _bucket_rows(conn, [*in_range, finite], max_points, low, high)
    buckets = [
        Bucket(
            count=int(row.points),
            step_min=int(row.step_min),
            step_max=int(row.step_max),
            timestamp_min=int(row.timestamp_min),
            timestamp_max=int(row.timestamp_max),
            value_min=float(row.value_min),
            value_max=float(row.value_max),
        )
        for row in rows
    ]
    return DownsampledHistory(
        total_points=sum(b.count for b in buckets) + non_finite,
        non_finite=non_finite,
        start_step=start_step,
        end_step=end_step,
        buckets=buckets,
    )


def _bucket_rows(
    conn: sa.Connection,
    where: list[sa.ColumnElement[bool]],
    max_points: int,
    low: int,
    high: int,
) -> list[sa.Row[Any]]:
    """One scan of the (finite) points ``where`` selects: per bucket, the point count
    and the step, timestamp and value extremes."""
    m = tables.metrics
    span = float(high) - float(low) + 1.0
    position = sa.cast(m.c.step - low, sa.Float) * max_points / span
    # position is never negative, so truncation is floor; SQLite may lack floor()
    # (an optional math extension), while PostgreSQL and MySQL round in CAST
    truncated: sa.ColumnElement[int] = (
        sa.cast(position, sa.BigInteger)
        if conn.dialect.name == "sqlite"
        else sa.func.floor(position)
    )
    bucket = truncated.label("bucket")

    return list(
        conn.execute(
            sa.select(
                bucket,
                sa.func.count().label("points"),
                sa.func.min(m.c.step).label("step_min"),
                sa.func.max(m.c.step).label("step_max"),
                sa.func.min(m.c.timestamp).label("timestamp_min"),
                sa.func.max(m.c.timestamp).label("timestamp_max"),
                sa.func.min(m.c.value).label("value_min"),
                sa.func.max(m.c.value).label("value_max"),
            )
            .where(*where)
            .group_by(bucket)
            .order_by(bucket)
        ).all()
    )
