"""The few statements that differ per database: upserts, insert-or-ignore, metric values.

Each runs a whole list of rows as one executemany (or one multi-row statement), so a
batch of a thousand metrics costs a few statements, not a thousand ORM flushes.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from cairn.store.sql import plain
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
    # imported here: a script on SQLite need not load PostgreSQL's dialect (~0.05 s)
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    if dialect in _MYSQL:
        from sqlalchemy.dialects import mysql

        return mysql.insert(table)
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    raise NotImplementedError(f"Cairn's SQL store does not support the '{dialect}' dialect")


def _primary_key(table: sa.Table) -> list[str]:
    return [column.name for column in table.primary_key.columns]


# Both statements are built once per table, dialect (and updated columns): building an
# upsert and keying it for the compiled cache costs more than running it on SQLite.
@functools.cache
def _insert_ignoring_statement(table: sa.Table, dialect: str) -> Any:
    stmt = _insert(table, dialect)
    if dialect in _MYSQL:
        # a no-op update rather than INSERT IGNORE, which would also hide real errors
        first_key = _primary_key(table)[0]
        return stmt.on_duplicate_key_update({first_key: stmt.inserted[first_key]})
    return stmt.on_conflict_do_nothing(index_elements=_primary_key(table))


@functools.cache
def _upsert_statement(table: sa.Table, dialect: str, updated: tuple[str, ...]) -> Any:
    stmt = _insert(table, dialect)
    if dialect in _MYSQL:
        return stmt.on_duplicate_key_update({name: stmt.inserted[name] for name in updated})
    return stmt.on_conflict_do_update(
        index_elements=_primary_key(table), set_={name: stmt.excluded[name] for name in updated}
    )


def insert_ignoring_duplicates(
    conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert ``rows``; those whose primary key is already present are skipped."""
    plain.execute_many(conn, _insert_ignoring_statement(table, conn.dialect.name), rows)


def upsert(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows``, overwriting the non-key columns of rows that already exist."""
    if not rows:
        return
    keys = _primary_key(table)
    updated = tuple(name for name in rows[0] if name not in keys)
    plain.execute_many(conn, _upsert_statement(table, conn.dialect.name, updated), rows)


# ---------------------------------------------------------------------------------------
# Metrics: the hot path, written as plain SQL with tuples
# ---------------------------------------------------------------------------------------
# SQLAlchemy's per-row parameter processing costs more than the database's own work for
# a thousand-point batch, and psycopg2's executemany sends one row per round trip. So
# metric points go to the driver as tuples: SQLite and PyMySQL (which folds an
# executemany INSERT into multi-row statements) get an executemany, PostgreSQL one
# multi-row VALUES statement per thousand rows.

METRIC_COLUMNS = ("run_uuid", "key", "step", "timestamp", "value", "is_nan", "is_inf")
_LATEST_KEY = ("run_uuid", "key")
_LATEST_UPDATED = ("value", "timestamp", "step", "is_nan", "is_inf")
_PG_ROWS_PER_STATEMENT = 1000


def _bulk_insert(
    conn: sa.Connection, table: sa.Table, rows: Sequence[tuple[Any, ...]], suffix: str
) -> None:
    if not rows:
        return
    dialect = conn.dialect.name
    quote = conn.dialect.identifier_preparer.quote
    head = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in METRIC_COLUMNS)}) VALUES "
    )
    placeholders = "(" + ", ".join([plain.placeholder(dialect)] * len(METRIC_COLUMNS)) + ")"
    if dialect == "sqlite" or dialect in _MYSQL:
        plain.run_sql(conn, f"{head}{placeholders} {suffix}", list(rows), many=True)
        return
    for start in range(0, len(rows), _PG_ROWS_PER_STATEMENT):
        chunk = rows[start : start + _PG_ROWS_PER_STATEMENT]
        values = ", ".join([placeholders] * len(chunk))
        flat = tuple(value for row in chunk for value in row)
        plain.run_sql(conn, f"{head}{values} {suffix}", flat)


def insert_metric_points(conn: sa.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Append metric points (tuples in ``METRIC_COLUMNS`` order); duplicates are skipped."""
    if conn.dialect.name in _MYSQL:
        # a no-op update rather than INSERT IGNORE, which would also hide real errors
        suffix = "ON DUPLICATE KEY UPDATE run_uuid = run_uuid"
    else:
        suffix = "ON CONFLICT DO NOTHING"
    _bulk_insert(conn, t.metrics, rows, suffix)


def _newer_point_sql(conn: sa.Connection) -> str:
    """SQL for: the proposed point (``excluded``) comes after the stored one.

    Points order by (step, timestamp, NaN-ness, value), as ``point_order`` does.
    """
    quote = conn.dialect.identifier_preparer.quote
    old = quote(t.latest_metrics.name)

    def both(column: str) -> tuple[str, str]:
        return f"excluded.{quote(column)}", f"{old}.{quote(column)}"

    (new_step, old_step), (new_time, old_time) = both("step"), both("timestamp")
    (new_nan, old_nan), (new_value, old_value) = both("is_nan"), both("value")
    same_time = f"{new_step} = {old_step} AND {new_time} = {old_time}"
    return (
        f"{new_step} > {old_step}"
        f" OR ({new_step} = {old_step} AND {new_time} > {old_time})"
        f" OR ({same_time} AND {new_nan} AND NOT {old_nan})"
        f" OR ({same_time} AND {new_nan} = {old_nan} AND {new_value} > {old_value})"
    )


def point_order(row: Sequence[Any]) -> tuple[int, int, bool, float]:
    """The Python twin of ``_newer_point_sql`` for a ``METRIC_COLUMNS`` tuple."""
    return (row[2], row[3], bool(row[5]), float(row[4]))


def update_latest_metrics(
    conn: sa.Connection, run_id: str, latest: Mapping[str, tuple[Any, ...]]
) -> None:
    """Make ``latest_metrics`` hold, per key, the later of its point and ``latest[key]``.

    ``latest`` maps key -> the batch's latest point (a ``METRIC_COLUMNS`` tuple). On
    PostgreSQL and SQLite one conditional upsert does it, safe against concurrent
    writers. MySQL cannot condition an upsert without session variables, so it locks the
    existing rows, compares in Python and writes the winners.
    """
    if not latest:
        return
    quote = conn.dialect.identifier_preparer.quote
    rows = [latest[key] for key in sorted(latest)]  # sorted: the same lock order everywhere
    if conn.dialect.name in _MYSQL:
        lm = t.latest_metrics
        existing = conn.execute(
            sa.select(lm.c.key, lm.c.step, lm.c.timestamp, lm.c.value, lm.c.is_nan)
            .where(lm.c.run_uuid == run_id, lm.c.key.in_(list(latest)))
            .order_by(lm.c.key)
            .with_for_update()
        ).all()
        current = {
            row.key: (run_id, row.key, row.step, row.timestamp, row.value, row.is_nan)
            for row in existing
        }
        rows = [
            row
            for row in rows
            if row[1] not in current or point_order(row) > point_order(current[row[1]])
        ]
        updates = ", ".join(f"{quote(c)} = VALUES({quote(c)})" for c in _LATEST_UPDATED)
        _bulk_insert(conn, t.latest_metrics, rows, f"ON DUPLICATE KEY UPDATE {updates}")
        return
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in _LATEST_UPDATED)
    target = ", ".join(quote(c) for c in _LATEST_KEY)
    suffix = f"ON CONFLICT ({target}) DO UPDATE SET {updates} WHERE {_newer_point_sql(conn)}"
    _bulk_insert(conn, t.latest_metrics, rows, suffix)


def select_metric_history(
    conn: sa.Connection, run_id: str, key: str, limit: int | None, offset: int
) -> list[tuple[Any, ...]]:
    """One metric's stored points as ``(value, timestamp, step, is_nan, is_inf)`` tuples.

    In history order: (step, timestamp), then NaN after numbers, then by value. Fetched
    on the driver's cursor, without SQLAlchemy's result rows: for a long history they
    cost several times what the database does.
    """
    quote = conn.dialect.identifier_preparer.quote
    mark = plain.placeholder(conn.dialect.name)
    step, timestamp, value, is_nan, is_inf = map(
        quote, ("step", "timestamp", "value", "is_nan", "is_inf")
    )
    where = (
        f" FROM {quote(t.metrics.name)}"
        f" WHERE {quote('run_uuid')} = {mark} AND {quote('key')} = {mark}"
    )
    parameters: tuple[Any, ...] = (run_id, key)
    # The primary key's order needs no sort (sorting is ~40% of the query on SQLite), and
    # it is the history order unless a NaN (stored as 0) sits among the numbers of one
    # (step, timestamp). One order for every page, or pages would overlap.
    _, nan = plain.run_sql(conn, f"SELECT 1{where} AND {is_nan} LIMIT 1", parameters, fetch=True)
    order = (is_nan, value) if nan else (value, is_nan)
    sql = (
        f"SELECT {value}, {timestamp}, {step}, {is_nan}, {is_inf}{where}"
        f" ORDER BY {step}, {timestamp}, {', '.join(order)}, {is_inf}"
    )
    if limit is not None or offset:
        # every dialect takes LIMIT n OFFSET m; "no limit" is the largest BIGINT
        sql += f" LIMIT {mark} OFFSET {mark}"
        parameters += (sys.maxsize if limit is None else limit, offset)
    _, rows = plain.run_sql(conn, sql, parameters, fetch=True)
    return list(rows)
