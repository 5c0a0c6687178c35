"""Translate parsed filters and ``order_by`` keys into SQLAlchemy expressions.

The semantics are those of ``cairn.search.evaluate`` (the reference), made to hold on
SQLite, PostgreSQL and MySQL/MariaDB alike:

- Comparisons on metrics, params, tags and datasets are ``EXISTS`` subqueries, so a run
  lacking the key never matches, whatever the operator. Metrics read ``latest_metrics``.
- NaN is stored as ``value = 0, is_nan = true``: it satisfies only ``!=``.
- ``LIKE`` is case-sensitive everywhere: SQLite's LIKE ignores ASCII case, so there it
  becomes ``GLOB``; MySQL's tables use a binary collation. ``ILIKE`` compares lowered
  strings where the database has no ILIKE. A backslash is an ordinary character.
- Numeric param comparisons cast only values that look like numbers, so PostgreSQL never
  fails on ``CAST('abc' AS DOUBLE PRECISION)`` and SQLite never reads 'abc' as 0.
- Sorting puts missing values last and NaN just before them, in both directions; strings
  sort by code point (``COLLATE "C"`` on PostgreSQL, whose default collation is
  locale-aware).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from cairn.exceptions import InvalidParameterValue
from cairn.search.ast import NUMERIC_PARAM_PATTERN, And, Comparison, Node, Or, OrderKey
from cairn.store.sql import tables as t
from cairn.store.sql.engine import SQLITE_LOWER_FUNCTION

__all__ = [
    "experiment_filter",
    "experiment_order",
    "run_filter",
    "run_order",
]

DATASET_CONTEXT_TAG = "mlflow.data.context"
_MYSQL = ("mysql", "mariadb")

_NUMERIC_PARAM_REGEX = f"^({NUMERIC_PARAM_PATTERN})$"

_RUN_ATTRIBUTES: dict[str, ColumnElement[Any]] = {
    "run_id": t.runs.c.run_uuid,
    "run_name": t.runs.c.name,
    "user_id": t.runs.c.user_id,
    "status": t.runs.c.status,
    "artifact_uri": t.runs.c.artifact_uri,
    "lifecycle_stage": t.runs.c.lifecycle_stage,
    "start_time": t.runs.c.start_time,
    "end_time": t.runs.c.end_time,
}

_EXPERIMENT_ATTRIBUTES: dict[str, ColumnElement[Any]] = {
    "name": t.experiments.c.name,
    "creation_time": t.experiments.c.creation_time,
    "last_update_time": t.experiments.c.last_update_time,
    "lifecycle_stage": t.experiments.c.lifecycle_stage,
}


# ---------------------------------------------------------------------------------------
# Comparisons of one column
# ---------------------------------------------------------------------------------------


def _like_to_glob(pattern: str) -> str:
    """A LIKE pattern as a SQLite GLOB pattern (GLOB is case-sensitive, LIKE is not)."""
    out = []
    for char in pattern:
        if char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        elif char in "*?[":
            out.append(f"[{char}]")
        else:
            out.append(char)
    return "".join(out)


def _like(column: ColumnElement[Any], pattern: str, dialect: str, ignore_case: bool) -> Any:
    if dialect == "sqlite":
        if ignore_case:
            lower = getattr(sa.func, SQLITE_LOWER_FUNCTION)
            return lower(column).like(lower(pattern))
        return column.op("GLOB")(_like_to_glob(pattern))
    # PostgreSQL and MySQL treat a backslash in a LIKE pattern as an escape; MLflow's
    # patterns have no escape character, so a backslash stands for itself.
    pattern = pattern.replace("\\", "\\\\")
    return column.ilike(pattern) if ignore_case else column.like(pattern)


def _compare(column: ColumnElement[Any], op: str, value: Any, dialect: str) -> Any:
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    if op in ("LIKE", "ILIKE"):
        if not isinstance(value, str):
            raise InvalidParameterValue(f"{op} needs a string pattern, got {value!r}")
        return _like(column, value, dialect, ignore_case=op == "ILIKE")
    if op == "IN":
        return column.in_(list(value))
    if op == "NOT IN":
        return column.not_in(list(value))
    raise InvalidParameterValue(f"Unsupported comparison operator '{op}'")


def _holds(actual: float, op: str, expected: float) -> bool:
    """A numeric comparison evaluated in Python."""
    return {
        "=": actual == expected,
        "!=": actual != expected,
        "<": actual < expected,
        "<=": actual <= expected,
        ">": actual > expected,
        ">=": actual >= expected,
    }[op]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numeric_text(column: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    """``column`` (text) as a double where it holds a plain number, else NULL."""
    as_double: ColumnElement[Any]
    if dialect in ("mysql", "mariadb"):
        # older MySQL cannot CAST AS DOUBLE; adding 0e0 converts the same way (an
        # explicit operator: SQLAlchemy would render + on a string column as concat)
        as_double = column.op("+", return_type=sa.Double())(sa.literal_column("0e0"))
    else:
        as_double = sa.cast(column, sa.Double())
    return sa.case((column.regexp_match(_NUMERIC_PARAM_REGEX), as_double), else_=sa.null())


# ---------------------------------------------------------------------------------------
# Run filters
# ---------------------------------------------------------------------------------------


def _metric_condition(comparison: Comparison, dialect: str) -> Any:
    lm = t.latest_metrics
    op, value = comparison.op, comparison.value
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidParameterValue(
            f"Metric '{comparison.key}' can only be compared with a number, "
            f"got {comparison.value!r}"
        )
    matched = _compare(lm.c.value, comparison.op, comparison.value, dialect)
    if dialect in _MYSQL:
        # MySQL keeps infinities as the largest finite doubles: decide them in Python
        expected = float(value)
        matched = sa.or_(
            sa.and_(sa.not_(lm.c.is_inf), matched),
            sa.and_(lm.c.is_inf, lm.c.value > 0, sa.literal(_holds(math.inf, op, expected))),
            sa.and_(lm.c.is_inf, lm.c.value < 0, sa.literal(_holds(-math.inf, op, expected))),
        )
    # NaN (stored as 0) differs from every number and equals none of them
    if comparison.op == "!=":
        matched = sa.or_(lm.c.is_nan, matched)
    else:
        matched = sa.and_(sa.not_(lm.c.is_nan), matched)
    return sa.exists().where(
        lm.c.run_uuid == t.runs.c.run_uuid, lm.c.key == comparison.key, matched
    )


def _key_value_condition(table: sa.Table, comparison: Comparison, dialect: str) -> Any:
    value_column: ColumnElement[Any] = table.c.value
    if table is t.params and _is_number(comparison.value):
        value_column = _numeric_text(value_column, dialect)
    elif _is_number(comparison.value):
        raise InvalidParameterValue(
            f"Tag '{comparison.key}' can only be compared with a string, got {comparison.value!r}"
        )
    return sa.exists().where(
        table.c.run_uuid == t.runs.c.run_uuid,
        table.c.key == comparison.key,
        _compare(value_column, comparison.op, comparison.value, dialect),
    )


def _dataset_condition(comparison: Comparison, dialect: str) -> Any:
    inputs, datasets, input_tags = t.inputs, t.datasets, t.input_tags
    query = sa.exists().where(inputs.c.run_uuid == t.runs.c.run_uuid)
    if comparison.key in ("name", "digest"):
        column = datasets.c[comparison.key]
        query = query.where(datasets.c.dataset_uuid == inputs.c.dataset_uuid)
    elif comparison.key == "context":
        column = input_tags.c.value
        query = query.where(
            input_tags.c.input_uuid == inputs.c.input_uuid,
            input_tags.c.name == DATASET_CONTEXT_TAG,
        )
    else:
        raise InvalidParameterValue(f"Invalid dataset key '{comparison.key}'")
    return query.where(_compare(column, comparison.op, comparison.value, dialect))


def _run_attribute_column(key: str) -> ColumnElement[Any]:
    if key == "experiment_id":
        return sa.cast(t.runs.c.experiment_id, sa.String())
    try:
        return _RUN_ATTRIBUTES[key]
    except KeyError:
        raise InvalidParameterValue(f"Invalid attribute key '{key}'") from None


def _run_comparison(comparison: Comparison, dialect: str) -> Any:
    entity = comparison.entity
    if entity == "metric":
        return _metric_condition(comparison, dialect)
    if entity == "param":
        return _key_value_condition(t.params, comparison, dialect)
    if entity == "tag":
        return _key_value_condition(t.tags, comparison, dialect)
    if entity == "dataset":
        return _dataset_condition(comparison, dialect)
    column = _run_attribute_column(comparison.key)
    # a missing attribute (end_time of a running run) never matches, even with !=
    return sa.and_(column.is_not(None), _compare(column, comparison.op, comparison.value, dialect))


def _combine(node: Node, leaf: Any, dialect: str) -> Any:
    if isinstance(node, And):
        return sa.and_(*(_combine(clause, leaf, dialect) for clause in node.clauses))
    if isinstance(node, Or):
        return sa.or_(*(_combine(clause, leaf, dialect) for clause in node.clauses))
    return leaf(node, dialect)


def run_filter(node: Node | None, dialect: str) -> ColumnElement[bool]:
    """A WHERE condition on ``runs`` equivalent to ``evaluate.run_matches(node, run)``.

    Args:
        node: the parsed filter (``grammar.parse_run_filter``); None matches all runs.
        dialect: the SQLAlchemy dialect name (``sqlite``, ``postgresql``, ``mysql``...).
    """
    if node is None:
        return sa.true()
    condition: ColumnElement[bool] = _combine(node, _run_comparison, dialect)
    return condition


# ---------------------------------------------------------------------------------------
# Experiment filters
# ---------------------------------------------------------------------------------------


def _experiment_comparison(comparison: Comparison, dialect: str) -> Any:
    if comparison.entity == "tag":
        tags = t.experiment_tags
        return sa.exists().where(
            tags.c.experiment_id == t.experiments.c.experiment_id,
            tags.c.key == comparison.key,
            _compare(tags.c.value, comparison.op, comparison.value, dialect),
        )
    if comparison.entity != "attribute":
        raise InvalidParameterValue(f"Invalid entity '{comparison.entity}' for experiments")
    column: ColumnElement[Any]
    if comparison.key == "experiment_id":
        column = sa.cast(t.experiments.c.experiment_id, sa.String())
    elif comparison.key in _EXPERIMENT_ATTRIBUTES:
        column = _EXPERIMENT_ATTRIBUTES[comparison.key]
    else:
        raise InvalidParameterValue(f"Invalid attribute key '{comparison.key}'")
    return sa.and_(column.is_not(None), _compare(column, comparison.op, comparison.value, dialect))


def experiment_filter(node: Node | None, dialect: str) -> ColumnElement[bool]:
    """A WHERE condition on ``experiments`` equivalent to ``evaluate.experiment_matches``."""
    if node is None:
        return sa.true()
    condition: ColumnElement[bool] = _combine(node, _experiment_comparison, dialect)
    return condition


# ---------------------------------------------------------------------------------------
# Ordering
# ---------------------------------------------------------------------------------------


def _directed(column: ColumnElement[Any], ascending: bool) -> ColumnElement[Any]:
    return column.asc() if ascending else column.desc()


def _string_order(column: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    return column.collate("C") if dialect == "postgresql" else column


def _puts_missing_last(column: ColumnElement[Any], ascending: bool, dialect: str) -> bool:
    """Whether ordering by ``column`` alone already sorts NULLs after every value."""
    if isinstance(column, sa.Column) and column.table is t.runs and not column.nullable:
        return True  # never NULL (a joined table's column is, for runs lacking the key)
    # PostgreSQL sorts NULL above every value; SQLite and MySQL below
    return (dialect == "postgresql") == ascending


def _value_order(
    column: ColumnElement[Any], ascending: bool, dialect: str, is_string: bool
) -> list[ColumnElement[Any]]:
    ordered = _directed(_string_order(column, dialect) if is_string else column, ascending)
    if _puts_missing_last(column, ascending, dialect):
        # no CASE in front: an index on the column can then serve the order, so the
        # default order (start_time DESC) reads one page instead of sorting every run
        return [ordered]
    return [sa.case((column.is_(None), 1), else_=0).asc(), ordered]


def run_order(stmt: sa.Select[Any], keys: Sequence[OrderKey], dialect: str) -> sa.Select[Any]:
    """``stmt`` (a select from ``runs``) ordered by ``keys``, joining what they need.

    Metric, param and tag keys add one LEFT OUTER JOIN each (on ``latest_metrics`` for
    metrics), so runs lacking the key stay in the result and sort last.
    """
    source: sa.FromClause = t.runs
    clauses: list[ColumnElement[Any]] = []
    for index, key in enumerate(keys):
        if key.entity == "metric":
            lm = t.latest_metrics.alias(f"order_metric_{index}")
            source = source.outerjoin(
                lm, sa.and_(lm.c.run_uuid == t.runs.c.run_uuid, lm.c.key == key.key)
            )
            rank = sa.case((lm.c.value.is_(None), 2), (lm.c.is_nan, 1), else_=0)
            # on MySQL an infinity and the largest double share a value: the flag decides
            infinity = sa.case(
                (sa.and_(lm.c.is_inf, lm.c.value > 0), 1),
                (sa.and_(lm.c.is_inf, lm.c.value < 0), -1),
                else_=0,
            )
            clauses += [
                rank.asc(),
                _directed(lm.c.value, key.ascending),
                _directed(infinity, key.ascending),
            ]
        elif key.entity in ("param", "tag"):
            table = (t.params if key.entity == "param" else t.tags).alias(f"order_{index}")
            source = source.outerjoin(
                table, sa.and_(table.c.run_uuid == t.runs.c.run_uuid, table.c.key == key.key)
            )
            clauses += _value_order(table.c.value, key.ascending, dialect, is_string=True)
        elif key.entity == "attribute":
            if key.key == "experiment_id":
                clauses += _value_order(
                    t.runs.c.experiment_id, key.ascending, dialect, is_string=False
                )
                continue
            column = _run_attribute_column(key.key)
            is_string = key.key not in ("start_time", "end_time")
            clauses += _value_order(column, key.ascending, dialect, is_string)
        else:
            raise InvalidParameterValue(f"Cannot order runs by {key.entity} '{key.key}'")
    return stmt.select_from(source).order_by(*clauses)


def experiment_order(
    stmt: sa.Select[Any], keys: Sequence[OrderKey], dialect: str
) -> sa.Select[Any]:
    """``stmt`` (a select from ``experiments``) ordered by ``keys``."""
    source: sa.FromClause = t.experiments
    clauses: list[ColumnElement[Any]] = []
    for index, key in enumerate(keys):
        if key.entity == "tag":
            tags = t.experiment_tags.alias(f"order_tag_{index}")
            source = source.outerjoin(
                tags,
                sa.and_(
                    tags.c.experiment_id == t.experiments.c.experiment_id, tags.c.key == key.key
                ),
            )
            clauses += _value_order(tags.c.value, key.ascending, dialect, is_string=True)
        elif key.key == "experiment_id":
            clauses += _value_order(
                t.experiments.c.experiment_id, key.ascending, dialect, is_string=False
            )
        elif key.key in _EXPERIMENT_ATTRIBUTES:
            column = _EXPERIMENT_ATTRIBUTES[key.key]
            is_string = key.key in ("name", "lifecycle_stage")
            clauses += _value_order(column, key.ascending, dialect, is_string)
        else:
            raise InvalidParameterValue(f"Cannot order experiments by '{key.key}'")
    return stmt.select_from(source).order_by(*clauses)
