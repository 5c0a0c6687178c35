"""Evaluate parsed filters and ``order_by`` keys on entities in memory.

This is the reference semantics: the file store searches with it, and the SQL
translation (``cairn.search.sql``) is tested to agree with it.

- A comparison on a metric, param, tag or attribute the entity lacks never matches,
  whatever the operator (``!=`` included), like SQL's NULL.
- Metrics compare their latest value, with IEEE semantics: NaN only satisfies ``!=``.
- ``LIKE``: ``%`` is any run of characters, ``_`` one character, matched against the
  whole value and case-sensitively; ``ILIKE`` ignores case.
- A param compared with an unquoted number (a Cairn extension) matches only when its
  value is a plain decimal number (``NUMERIC_PARAM_PATTERN``), compared as a float.
- A dataset comparison matches when any of the run's dataset inputs matches.
- Sorting puts missing values last and NaN just before them, in both directions.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from cairn.entities import DatasetInput, Experiment, Run
from cairn.search.ast import NUMERIC_PARAM_PATTERN, And, Comparison, Node, Or, OrderKey

__all__ = ["experiment_matches", "run_matches", "sort_experiments", "sort_runs"]

T = TypeVar("T")

# the input tag that records how a dataset was used ("train", "eval", ...)
DATASET_CONTEXT_TAG = "mlflow.data.context"

_NUMERIC_PARAM = re.compile(NUMERIC_PARAM_PATTERN)

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@functools.lru_cache(maxsize=256)
def _like_regex(pattern: str) -> re.Pattern[str]:
    translated = "".join(
        ".*" if char == "%" else "." if char == "_" else re.escape(char) for char in pattern
    )
    return re.compile(translated, re.DOTALL)


def _compare(actual: Any, comparison: Comparison) -> bool:
    """Apply a comparison to one value; ``None`` (absent) never matches."""
    if actual is None:
        return False
    op, expected = comparison.op, comparison.value
    if op == "LIKE":
        return _like_regex(str(expected)).fullmatch(actual) is not None
    if op == "ILIKE":
        # both sides lowered (not re.IGNORECASE), exactly as the SQL backends compare
        return _like_regex(str(expected).lower()).fullmatch(actual.lower()) is not None
    if op == "IN":
        return actual in expected  # type: ignore[operator]
    if op == "NOT IN":
        return actual not in expected  # type: ignore[operator]
    return _COMPARE[op](actual, expected)


def _param_value(value: str | None, comparison: Comparison) -> str | float | None:
    if value is None or isinstance(comparison.value, str | tuple):
        return value
    # numeric comparison of a param: only values that are plain numbers take part
    if _NUMERIC_PARAM.fullmatch(value) is None:
        return None
    return float(value)


def _dataset_field(dataset_input: DatasetInput, key: str) -> str | None:
    if key == "name":
        return dataset_input.dataset.name
    if key == "digest":
        return dataset_input.dataset.digest
    for tag in dataset_input.tags:
        if tag.key == DATASET_CONTEXT_TAG:
            return tag.value
    return None


def _run_comparison_matches(comparison: Comparison, run: Run) -> bool:
    entity, key = comparison.entity, comparison.key
    if entity == "metric":
        return _compare(run.data.metrics.get(key), comparison)
    if entity == "param":
        return _compare(_param_value(run.data.params.get(key), comparison), comparison)
    if entity == "tag":
        return _compare(run.data.tags.get(key), comparison)
    if entity == "dataset":
        return any(
            _compare(_dataset_field(dataset_input, key), comparison)
            for dataset_input in run.inputs.dataset_inputs
        )
    return _compare(getattr(run.info, key, None), comparison)


def _matches(node: Node, leaf: Callable[[Comparison], bool]) -> bool:
    if isinstance(node, And):
        return all(_matches(clause, leaf) for clause in node.clauses)
    if isinstance(node, Or):
        return any(_matches(clause, leaf) for clause in node.clauses)
    return leaf(node)


def run_matches(node: Node | None, run: Run) -> bool:
    """Whether ``run`` satisfies a parsed filter; no filter matches every run."""
    if node is None:
        return True
    return _matches(node, lambda comparison: _run_comparison_matches(comparison, run))


def _experiment_comparison_matches(comparison: Comparison, experiment: Experiment) -> bool:
    if comparison.entity == "tag":
        return _compare(experiment.tags.get(comparison.key), comparison)
    return _compare(getattr(experiment, comparison.key, None), comparison)


def experiment_matches(node: Node | None, experiment: Experiment) -> bool:
    """Whether ``experiment`` satisfies a parsed filter; no filter matches all."""
    if node is None:
        return True
    return _matches(node, lambda comparison: _experiment_comparison_matches(comparison, experiment))


# ---------------------------------------------------------------------------------------
# Sorting
# ---------------------------------------------------------------------------------------


def _sort_by(items: list[T], value_of: Callable[[T, OrderKey], Any], key: OrderKey) -> list[T]:
    """Stable sort on one key: present values in order, then NaN, then missing."""
    present: list[tuple[Any, T]] = []
    nans: list[T] = []
    missing: list[T] = []
    for item in items:
        value = value_of(item, key)
        if value is None:
            missing.append(item)
        elif isinstance(value, float) and math.isnan(value):
            nans.append(item)
        else:
            present.append((value, item))
    # sort(reverse=True) keeps equal items in their original order, so ties stay stable
    present.sort(key=operator.itemgetter(0), reverse=not key.ascending)
    return [item for _, item in present] + nans + missing


def _sort(
    items: Iterable[T], keys: Sequence[OrderKey], value_of: Callable[[T, OrderKey], Any]
) -> list[T]:
    result = list(items)
    # sorting by the least significant key first makes the most significant one win
    for key in reversed(keys):
        result = _sort_by(result, value_of, key)
    return result


def experiment_id_order(value: str) -> tuple[int, int, str]:
    """Sort key of an experiment id (also the file store's index numbers by it)."""
    # ids are integers in every store MLflow ships: order "10" after "9", as SQL does
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


def _run_sort_value(run: Run, key: OrderKey) -> Any:
    if key.entity == "metric":
        return run.data.metrics.get(key.key)
    if key.entity == "param":
        return run.data.params.get(key.key)
    if key.entity == "tag":
        return run.data.tags.get(key.key)
    if key.key == "experiment_id":
        return experiment_id_order(run.info.experiment_id)
    return getattr(run.info, key.key, None)


def sort_runs(runs: Iterable[Run], keys: Sequence[OrderKey]) -> list[Run]:
    """Runs ordered by ``keys`` (as from ``parse_run_order_by``), missing values last."""
    return _sort(runs, keys, _run_sort_value)


def _experiment_sort_value(experiment: Experiment, key: OrderKey) -> Any:
    if key.entity == "tag":
        return experiment.tags.get(key.key)
    value = getattr(experiment, key.key, None)
    if key.key == "experiment_id" and isinstance(value, str):
        return experiment_id_order(value)
    return value


def sort_experiments(
    experiments: Iterable[Experiment], keys: Sequence[OrderKey]
) -> list[Experiment]:
    """Experiments ordered by ``keys`` (as from ``parse_experiment_order_by``)."""
    return _sort(experiments, keys, _experiment_sort_value)
