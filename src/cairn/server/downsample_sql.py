"""Min/max bucketing of a metric history inside the database (see ``downsample``).

Two queries over the metrics table's primary key (run, key, step, ...): one finds the
step range and counts, one groups the finite points of the range into buckets. Only
the buckets travel to Python. The server keeps its own read-only engine per store URI
rather than reaching into the store's private one.
"""

from __future__ import annotations

import threading

import sqlalchemy as sa

from cairn.server.downsample import Bucket, DownsampledHistory
from cairn.store.sql import tables
from cairn.store.sql.engine import create_engine

_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()


def _engine(uri: str) -> sa.Engine:
    with _engines_lock:
        engine = _engines.get(uri)
        if engine is None:
            engine = _engines[uri] = create_engine(uri)
        return engine


def is_shared_database(uri: str) -> bool:
    """Whether a second engine on ``uri`` sees the store's data (not so for an
    in-memory SQLite database, private to its connection)."""
    return ":memory:" not in uri and uri.rstrip("/") not in ("sqlite:", "sqlite:/")


def downsample_in_database(
    uri: str,
    run_id: str,
    metric_key: str,
    max_points: int,
    start_step: int | None,
    end_step: int | None,
) -> DownsampledHistory:
    """``downsample_history`` for a SQL store at ``uri`` (the run is known to exist)."""
    m = tables.metrics
    in_range = [m.c.run_uuid == run_id, m.c.key == metric_key]
    if start_step is not None:
        in_range.append(m.c.step >= start_step)
    if end_step is not None:
        in_range.append(m.c.step <= end_step)
    finite = sa.and_(m.c.is_nan == sa.false(), m.c.is_inf == sa.false())
    engine = _engine(uri)
    with engine.connect() as conn:
        total, non_finite, low, high = conn.execute(
            sa.select(
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(sa.case((finite, 0), else_=1)), 0),
                sa.func.min(sa.case((finite, m.c.step))),
                sa.func.max(sa.case((finite, m.c.step))),
            ).where(*in_range)
        ).one()
        buckets: list[Bucket] = []
        if low is not None:
            lo = int(low) if start_step is None else start_step
            hi = int(high) if end_step is None else end_step
            buckets = _buckets(conn, in_range, finite, max_points, lo, hi)
    return DownsampledHistory(
        total_points=int(total),
        non_finite=int(non_finite),
        start_step=start_step,
        end_step=end_step,
        buckets=buckets,
    )


def _buckets(
    conn: sa.Connection,
    in_range: list[sa.ColumnElement[bool]],
    finite: sa.ColumnElement[bool],
    max_points: int,
    low: int,
    high: int,
) -> list[Bucket]:
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
    rows = conn.execute(
        sa.select(
            bucket,
            sa.func.count(),
            sa.func.min(m.c.step),
            sa.func.max(m.c.step),
            sa.func.min(m.c.timestamp),
            sa.func.max(m.c.timestamp),
            sa.func.min(m.c.value),
            sa.func.max(m.c.value),
        )
        .where(*in_range, finite)
        .group_by(bucket)
        .order_by(bucket)
    ).all()
    return [
        Bucket(
            count=int(row[1]),
            step_min=int(row[2]),
            step_max=int(row[3]),
            timestamp_min=int(row[4]),
            timestamp_max=int(row[5]),
            value_min=float(row[6]),
            value_max=float(row[7]),
        )
        for row in rows
    ]
