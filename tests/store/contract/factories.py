"""Short ways to fill a store in contract tests, so each test states only what matters."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from cairn.entities import Experiment, ExperimentTag, Metric, Param, Run, RunTag, ViewType
from cairn.store.tracking import TrackingStore

T0 = 1_700_000_000_000  # a fixed start time (ms) so ordering tests do not depend on the clock


def now_ms() -> int:
    return int(time.time() * 1000)


def next_millisecond(after: int | None) -> None:
    """Wait until the clock is past ``after`` (ms), so the next write gets a later time."""
    limit = (after if after is not None else now_ms()) + 1
    while now_ms() <= limit:
        time.sleep(0.001)


def new_experiment(
    store: TrackingStore,
    name: str | None = None,
    artifact_location: str | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    return store.create_experiment(
        name or f"exp-{uuid.uuid4().hex[:8]}",
        artifact_location,
        [ExperimentTag(k, v) for k, v in (tags or {}).items()],
    )


def new_run(
    store: TrackingStore,
    experiment_id: str = "0",
    *,
    name: str | None = None,
    start_time: int | None = T0,
    user: str = "alice",
    tags: dict[str, str] | None = None,
) -> str:
    run = store.create_run(
        experiment_id, user, start_time, [RunTag(k, v) for k, v in (tags or {}).items()], name
    )
    assert run.info.run_id
    return run.info.run_id


def metric(key: str, value: Any, step: int = 0, timestamp: int = T0) -> Metric:
    return Metric(key, value, timestamp, step)


def log(
    store: TrackingStore,
    run_id: str,
    *,
    metrics: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    """Log latest-only values: one metric point at step 0 per key."""
    store.log_batch(
        run_id,
        [metric(k, v) for k, v in (metrics or {}).items()],
        [Param(k, v) for k, v in (params or {}).items()],
        [RunTag(k, v) for k, v in (tags or {}).items()],
    )


def all_runs(
    store: TrackingStore,
    experiment_ids: Sequence[str],
    filter_string: str = "",
    view: ViewType = ViewType.ACTIVE_ONLY,
    order_by: Sequence[str] | None = None,
    page_size: int = 1000,
) -> list[Run]:
    """Every page of a search_runs, concatenated."""
    found: list[Run] = []
    token: str | None = None
    while True:
        page = store.search_runs(experiment_ids, filter_string, view, page_size, order_by, token)
        found.extend(page)
        token = page.token
        if not token:
            return found
        assert len(page) == page_size, "only the last page may be short"


def all_experiments(
    store: TrackingStore,
    filter_string: str | None = None,
    view: ViewType = ViewType.ACTIVE_ONLY,
    order_by: Sequence[str] | None = None,
    page_size: int = 1000,
) -> list[Experiment]:
    found: list[Experiment] = []
    token: str | None = None
    while True:
        page = store.search_experiments(view, page_size, filter_string, order_by, token)
        found.extend(page)
        token = page.token
        if not token:
            return found
        assert len(page) == page_size, "only the last page may be short"


def ids(runs: Iterable[Run]) -> list[str]:
    return [r.info.run_id for r in runs]  # type: ignore[misc]


def names(runs: Iterable[Run]) -> list[str]:
    return [r.info.run_name or "" for r in runs]
