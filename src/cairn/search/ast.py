"""The typed syntax tree of a search filter and of ``order_by`` clauses.

``grammar`` builds these from text; ``evaluate`` and ``sql`` consume them. Keys are
already canonical here: entity names are singular (``metric``, ``param``, ``tag``,
``attribute``, ``dataset``) and attribute aliases are resolved (``created`` ->
``start_time``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

Entity = Literal["metric", "param", "tag", "attribute", "dataset"]
Operator = Literal["=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN", "NOT IN"]
Value = str | float | int | tuple[str, ...]

NUMERIC_OPERATORS: frozenset[str] = frozenset({"=", "!=", "<", "<=", ">", ">="})
STRING_OPERATORS: frozenset[str] = frozenset({"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"})

# attributes of a run, by value type
RUN_STRING_ATTRIBUTES = (
    "run_id",
    "run_name",
    "user_id",
    "status",
    "artifact_uri",
    "experiment_id",
    "lifecycle_stage",
)
RUN_NUMERIC_ATTRIBUTES = ("start_time", "end_time")
DATASET_KEYS = ("name", "digest", "context")
# attributes of an experiment
EXPERIMENT_STRING_ATTRIBUTES = ("name", "experiment_id")
EXPERIMENT_NUMERIC_ATTRIBUTES = ("creation_time", "last_update_time")


@dataclass(frozen=True, slots=True)
class Comparison:
    """``<entity>.<key> <op> <value>``.

    ``value`` is a float for numeric comparisons (metrics, numeric attributes, and params
    compared with a number, a Cairn extension), a str for string ones, and a tuple of
    str for ``IN``/``NOT IN``.
    """

    entity: Entity
    key: str
    op: Operator
    value: Value


@dataclass(frozen=True, slots=True)
class And:
    clauses: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """A Cairn extension: MLflow's grammar only has AND."""

    clauses: tuple[Node, ...]


Node: TypeAlias = Comparison | And | Or


@dataclass(frozen=True, slots=True)
class OrderKey:
    entity: Entity
    key: str
    ascending: bool = True


# A Cairn extension: ``params.lr > 0.01`` (an unquoted number) compares numerically and
# only considers params whose whole value matches this pattern (plain decimal notation,
# no surrounding spaces, no nan/inf), so Python and SQL agree on which values count.
NUMERIC_PARAM_PATTERN = r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?"
