"""Thinning metric histories for charts: the logic behind get-history-bulk-interval."""

from __future__ import annotations

from collections.abc import Sequence

from cairn.exceptions import InvalidParameterValue

MAX_RUNS_PER_BULK_REQUEST = 100
MAX_POINTS_PER_BULK_REQUEST = 2500


def check_bulk_interval_request(
    run_ids: Sequence[str], start_step: int | None, end_step: int | None, max_results: int | None
) -> int:
    """Validate the request's bounds and return the number of steps to keep."""
    if len(run_ids) > MAX_RUNS_PER_BULK_REQUEST:
        raise InvalidParameterValue(
            f"GetMetricHistoryBulkInterval request supports at most {MAX_RUNS_PER_BULK_REQUEST} "
            f"run_ids, got {len(run_ids)}."
        )
    if (start_step is None) != (end_step is None):
        raise InvalidParameterValue(
            "If either start_step or end_step are specified, both must be specified."
        )
    if start_step is not None and end_step is not None and start_step > end_step:
        raise InvalidParameterValue(
            f"end_step ({end_step}) must be greater than or equal to start_step ({start_step})."
        )
    limit = MAX_POINTS_PER_BULK_REQUEST if max_results is None else max_results
    if not 1 <= limit <= MAX_POINTS_PER_BULK_REQUEST:
        raise InvalidParameterValue(
            f"max_results must be between 1 and {MAX_POINTS_PER_BULK_REQUEST}, got {max_results}."
        )
    return limit


def sample_steps(steps: Sequence[int], max_steps: int) -> set[int]:
    """At most ``max_steps`` of the sorted distinct ``steps``, evenly spread by position;
    the first and last are always kept so a chart spans the whole range."""
    if len(steps) <= max_steps:
        return set(steps)
    if max_steps == 1:
        return {steps[-1]}
    stride = (len(steps) - 1) / (max_steps - 1)
    return {steps[round(i * stride)] for i in range(max_steps)}
