"""A metric history summarised for charts: step intervals with their extremes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Bucket:
    """The points of one step interval, summarised by their extremes."""

    count: int
    step_min: int
    step_max: int
    timestamp_min: int
    timestamp_max: int
    value_min: float
    value_max: float


@dataclass(frozen=True, slots=True)
class DownsampledHistory:
    """One metric of one run over a step range, as at most ``max_points`` buckets."""

    total_points: int
    non_finite: int
    start_step: int | None
    end_step: int | None
    buckets: list[Bucket] = field(default_factory=list)
