"""Downsampling a metric history for charts without losing its extremes.

The step range ``[start, end]`` is cut into ``max_points`` buckets of equal width, and
each bucket reports how many points fell in it, the smallest and largest step and
timestamp, and the smallest and largest value. A chart drawing each bucket from its
minimum to its maximum shows every spike, however many points the bucket holds (a
bucket holding one point is that point exactly). When the range has no more distinct
steps than buckets, every step gets a bucket of its own, so a zoomed-in chart shows
the raw data.

NaN and infinite values cannot be drawn on a chart axis and are left out of the
buckets; ``non_finite`` counts them.

A store that implements ``SupportsDownsampling`` buckets in place: the SQL store does
it in the database in one ``GROUP BY`` (a million-point history answers in about a
second on SQLite, instead of being sent row by row to Python). Any other store is read
through ``get_metric_history`` and bucketed with numpy.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from cairn.entities import Bucket, DownsampledHistory
from cairn.exceptions import InvalidParameterValue
from cairn.store.tracking import TrackingStore
from cairn.validation import check_key, check_run_id

if TYPE_CHECKING:
    # imported where used: numpy took ~0.3 s of a tracking server's start-up, and only
    # charts over a store without SQL bucketing need it
    import numpy as np

DEFAULT_MAX_POINTS = 1000
MAX_POINTS_LIMIT = 10_000
_STEP_MIN = -(2**63)
_STEP_MAX = 2**63 - 1


@runtime_checkable
class SupportsDownsampling(Protocol):
    """A store that buckets a history itself (the SQL store, in one ``GROUP BY``)."""

    def downsample_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_points: int,
        start_step: int | None,
        end_step: int | None,
    ) -> DownsampledHistory: ...


def check_request(max_points: int | None, start_step: int | None, end_step: int | None) -> int:
    """The number of buckets to use, after validating the request's bounds."""
    points = DEFAULT_MAX_POINTS if max_points is None else max_points
    if not 1 <= points <= MAX_POINTS_LIMIT:
        raise InvalidParameterValue(
            f"max_points must be between 1 and {MAX_POINTS_LIMIT}, got {max_points}."
        )
    if start_step is not None and end_step is not None and start_step > end_step:
        raise InvalidParameterValue(
            f"end_step ({end_step}) must be greater than or equal to start_step ({start_step})."
        )
    return points


def bucket_arrays(
    steps: np.ndarray[Any, Any],
    timestamps: np.ndarray[Any, Any],
    values: np.ndarray[Any, Any],
    max_points: int,
    low: int,
    high: int,
) -> list[Bucket]:
    """Bucket finite points whose step lies in ``[low, high]`` (arrays of equal length,
    in any order) into ``max_points`` equal step intervals; empty buckets are omitted."""
    import numpy as np

    if steps.size == 0:
        return []
    span = float(high) - float(low) + 1.0
    # the same formula the SQL query uses, so both paths cut buckets identically
    index = np.floor((steps.astype(np.float64) - float(low)) * max_points / span).astype(np.int64)
    order = np.argsort(index, kind="stable")
    index, steps, timestamps, values = index[order], steps[order], timestamps[order], values[order]
    starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    counts = np.diff(np.r_[starts, index.size])
    reduce = {
        "step_min": np.minimum.reduceat(steps, starts),
        "step_max": np.maximum.reduceat(steps, starts),
        "timestamp_min": np.minimum.reduceat(timestamps, starts),
        "timestamp_max": np.maximum.reduceat(timestamps, starts),
        "value_min": np.minimum.reduceat(values, starts),
        "value_max": np.maximum.reduceat(values, starts),
    }
    return [
        Bucket(
            count=int(counts[i]),
            step_min=int(reduce["step_min"][i]),
            step_max=int(reduce["step_max"][i]),
            timestamp_min=int(reduce["timestamp_min"][i]),
            timestamp_max=int(reduce["timestamp_max"][i]),
            value_min=float(reduce["value_min"][i]),
            value_max=float(reduce["value_max"][i]),
        )
        for i in range(starts.size)
    ]


def downsample_history(
    store: TrackingStore,
    run_id: str,
    metric_key: str,
    max_points: int | None = None,
    start_step: int | None = None,
    end_step: int | None = None,
) -> DownsampledHistory:
    """The history of ``metric_key`` in run ``run_id`` over ``[start_step, end_step]``
    (either bound may be open), as at most ``max_points`` min/max buckets."""
    check_run_id(run_id)
    check_key(metric_key, "metric name")
    points = check_request(max_points, start_step, end_step)
    store.get_run(run_id)  # RESOURCE_DOES_NOT_EXIST for an unknown run
    if isinstance(store, SupportsDownsampling):
        return store.downsample_metric_history(run_id, metric_key, points, start_step, end_step)
    return _downsample_in_python(store, run_id, metric_key, points, start_step, end_step)


def _downsample_in_python(
    store: TrackingStore,
    run_id: str,
    metric_key: str,
    max_points: int,
    start_step: int | None,
    end_step: int | None,
) -> DownsampledHistory:
    import numpy as np

    history = store.get_metric_history(run_id, metric_key)
    low = _STEP_MIN if start_step is None else start_step
    high = _STEP_MAX if end_step is None else end_step
    kept = [p for p in history if low <= p.step <= high]
    finite = [p for p in kept if math.isfinite(p.value)]
    steps = np.fromiter((p.step for p in finite), dtype=np.int64, count=len(finite))
    timestamps = np.fromiter((p.timestamp for p in finite), dtype=np.int64, count=len(finite))
    values = np.fromiter((p.value for p in finite), dtype=np.float64, count=len(finite))
    buckets: list[Bucket] = []
    if steps.size:
        # open bounds bucket over the data actually present, not the whole int64 range
        lo = int(steps.min()) if start_step is None else start_step
        hi = int(steps.max()) if end_step is None else end_step
        buckets = bucket_arrays(steps, timestamps, values, max_points, lo, hi)
    return DownsampledHistory(
        total_points=len(kept),
        non_finite=len(kept) - len(finite),
        start_step=start_step,
        end_step=end_step,
        buckets=buckets,
    )
