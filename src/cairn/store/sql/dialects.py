"""The few statements that differ per database: upserts, insert-or-ignore, metric values.

Each takes a list of row dicts and runs as one executemany, so a batch of a thousand
metrics costs one round of statements, not a thousand ORM flushes.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from cairn.store.sql import tables as t

_MYSQL = ("mysql", "mariadb")
_LARGEST = sys.float_info.max


def encode_metric_value(value: float, dialect: str) -> tuple[float, bool, bool]:
    """``(stored value, is_nan, is_inf)`` for a metric value.

    NaN is stored as 0 with ``is_nan`` (SQLite would turn NaN into NULL, MySQL refuses
    it). MySQL refuses infinities too, so there they become the largest finite doubles,
    which sort and compare as infinities would against any other number, and ``is_inf``
    tells them apart from a real ``1.7976931348623157e308``.
    """
    value = float(value)
    if math.isnan(value):
        return 0.0, True, False
    if math.isinf(value):
        if dialect in _MYSQL:
            return math.copysign(_LARGEST, value), False, True
        return value, False, True
    return value, False, False


def decode_metric_value(value: float, is_nan: bool, is_inf: bool) -> float:
    """The metric value ``encode_metric_value`` stored."""
    if is_nan:
        return math.nan
    if is_inf:
        return math.copysign(math.inf, value)
    return float(value)


def _insert(table: sa.Table, dialect: str) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect in _MYSQL:
        return mysql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"Cairn's SQL store does not support the '{dialect}' dialect")


def _primary_key(table: sa.Table) -> list[str]:
    return [column.name for column in table.primary_key.columns]


def insert_ignoring_duplicates(
    conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert ``rows``; those whose primary key is already present are skipped."""
    if not rows:
        return
    dialect = conn.dialect.name
    stmt = _insert(table, dialect)
    if dialect in _MYSQL:
        # a no-op update rather than INSERT IGNORE, which would also hide real errors
        first_key = _primary_key(table)[0]
        stmt = stmt.on_duplicate_key_update({first_key: stmt.inserted[first_key]})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=_primary_key(table))
    conn.execute(stmt, list(rows))


def upsert(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    where: Callable[[Any], Any] | None = None,
) -> None:
    """Insert ``rows``, overwriting the non-key columns of rows that already exist.

    ``where(excluded)`` (PostgreSQL and SQLite only) builds a condition on the existing
    row (``table.c``) and the proposed one (``excluded``); only where it holds is the
    existing row overwritten.
    """
    if not rows:
        return
    dialect = conn.dialect.name
    keys = _primary_key(table)
    stmt = _insert(table, dialect)
    updated = [name for name in rows[0] if name not in keys]
    if dialect in _MYSQL:
        stmt = stmt.on_duplicate_key_update({name: stmt.inserted[name] for name in updated})
    else:
        stmt = stmt.on_conflict_do_update(
            index_elements=keys,
            set_={name: stmt.excluded[name] for name in updated},
            where=where(stmt.excluded) if where is not None else None,
        )
    conn.execute(stmt, list(rows))


def _newer_point(new: Any, old: Any) -> Any:
    """SQL for: point ``new`` comes after ``old`` by (step, timestamp, NaN-ness, value)."""
    same_step = new.step == old.step
    same_time = sa.and_(same_step, new.timestamp == old.timestamp)
    return sa.or_(
        new.step > old.step,
        sa.and_(same_step, new.timestamp > old.timestamp),
        sa.and_(same_time, new.is_nan, sa.not_(old.is_nan)),
        sa.and_(same_time, new.is_nan == old.is_nan, new.value > old.value),
    )


def point_order(row: Mapping[str, Any]) -> tuple[int, int, bool, float]:
    """The Python twin of ``_newer_point``: larger means later."""
    return (row["step"], row["timestamp"], bool(row["is_nan"]), float(row["value"]))


def update_latest_metrics(
    conn: sa.Connection, run_id: str, latest: Mapping[str, Mapping[str, Any]]
) -> None:
    """Make ``latest_metrics`` hold, per key, the later of its point and ``latest[key]``.

    ``latest`` maps key -> the batch's latest row (``run_uuid, key, value, timestamp,
    step, is_nan, is_inf``). On PostgreSQL and SQLite one conditional upsert does it, safe
    against concurrent writers. MySQL cannot condition an upsert without session
    variables, so it locks the existing rows, compares in Python and writes the winners.
    """
    if not latest:
        return
    lm = t.latest_metrics
    rows = [latest[key] for key in sorted(latest)]  # sorted: same lock order everywhere
    if conn.dialect.name not in _MYSQL:
        upsert(conn, lm, rows, where=lambda excluded: _newer_point(excluded, lm.c))
        return
    existing = conn.execute(
        sa.select(lm.c.key, lm.c.value, lm.c.timestamp, lm.c.step, lm.c.is_nan, lm.c.is_inf)
        .where(lm.c.run_uuid == run_id, lm.c.key.in_(list(latest)))
        .order_by(lm.c.key)
        .with_for_update()
    ).mappings()
    current: dict[str, Mapping[str, Any]] = {row["key"]: dict(row) for row in existing}
    winners = [
        row
        for row in rows
        if row["key"] not in current or point_order(row) > point_order(current[row["key"]])
    ]
    upsert(conn, lm, winners)
