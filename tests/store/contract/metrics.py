"""Metrics: the latest-value rule, special floats, and metric history with paging."""

from __future__ import annotations

import math

import pytest

from cairn.entities import Metric
from cairn.exceptions import InvalidParameterValue
from cairn.store.tracking import TrackingStore
from contract.factories import T0, metric, new_run


def _points(history: list[Metric]) -> list[tuple[float, int, int]]:
    return [(m.value, m.timestamp, m.step) for m in history]


class MetricContract:
    def test_latest_value_is_max_by_step_then_timestamp_then_value(
        self, store: TrackingStore
    ) -> None:
        run_id = new_run(store)
        store.log_batch(
            run_id,
            [
                # higher step wins even with an older timestamp
                metric("by_step", 1.0, step=2, timestamp=T0),
                metric("by_step", 5.0, step=1, timestamp=T0 + 100),
                # same step: the later timestamp wins
                metric("by_time", 7.0, step=0, timestamp=T0 + 50),
                metric("by_time", 9.0, step=0, timestamp=T0 + 10),
                # same step and timestamp: the larger value wins
                metric("by_value", 2.0, step=0, timestamp=T0),
                metric("by_value", 3.0, step=0, timestamp=T0),
                metric("by_value", 1.0, step=0, timestamp=T0),
            ],
        )
        run = store.get_run(run_id)
        assert run.data.metrics == {"by_step": 1.0, "by_time": 7.0, "by_value": 3.0}
        latest = {m.key: m for m in run.data.metric_objects}
        assert latest["by_step"] == metric("by_step", 1.0, step=2, timestamp=T0)
        assert latest["by_time"] == metric("by_time", 7.0, step=0, timestamp=T0 + 50)

    def test_latest_value_holds_across_batches(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        store.log_batch(run_id, [metric("m", 10.0, step=5)])
        store.log_batch(run_id, [metric("m", 20.0, step=4, timestamp=T0 + 999)])
        assert store.get_run(run_id).data.metrics == {"m": 10.0}
        store.log_batch(run_id, [metric("m", 30.0, step=6)])
        assert store.get_run(run_id).data.metrics == {"m": 30.0}

    def test_negative_steps_and_integer_values(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        store.log_batch(run_id, [metric("m", 3, step=-5), metric("m", -2.5, step=-1)])
        assert store.get_run(run_id).data.metrics == {"m": -2.5}
        assert _points(store.get_metric_history(run_id, "m")) == [(3.0, T0, -5), (-2.5, T0, -1)]

    def test_extreme_doubles_round_trip(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        values = {"tiny": 5e-324, "huge": 1.7976931348623157e308, "neg": -1e-300, "pi": math.pi}
        store.log_batch(run_id, [metric(k, v) for k, v in values.items()])
        assert store.get_run(run_id).data.metrics == values

    def test_nan_and_infinities_round_trip(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        store.log_batch(
            run_id,
            [
                metric("nan", math.nan),
                metric("pos", math.inf),
                metric("neg", -math.inf),
                metric("mixed", 1.0, step=0),
                metric("mixed", math.nan, step=1),
                metric("mixed", math.inf, step=2),
                metric("mixed", -math.inf, step=3),
            ],
        )
        latest = store.get_run(run_id).data.metrics
        assert math.isnan(latest["nan"])
        assert latest["pos"] == math.inf
        assert latest["neg"] == -math.inf
        assert latest["mixed"] == -math.inf
        history = [m.value for m in store.get_metric_history(run_id, "mixed")]
        assert history[0] == 1.0
        assert math.isnan(history[1])
        assert history[2:] == [math.inf, -math.inf]

    def test_history_is_every_point_ordered_by_step_then_timestamp(
        self, store: TrackingStore
    ) -> None:
        run_id = new_run(store)
        store.log_batch(
            run_id,
            [
                metric("h", 3.0, step=1, timestamp=T0 + 30),
                metric("h", 1.0, step=0, timestamp=T0 + 10),
                metric("h", 2.0, step=1, timestamp=T0 + 5),
                metric("h", 4.0, step=2, timestamp=T0 + 1),
                metric("other", 9.0),
            ],
        )
        store.log_batch(run_id, [metric("h", 5.0, step=2, timestamp=T0 + 2)])
        history = store.get_metric_history(run_id, "h")
        assert all(m.key == "h" for m in history)
        assert _points(history) == [
            (1.0, T0 + 10, 0),
            (2.0, T0 + 5, 1),
            (3.0, T0 + 30, 1),
            (4.0, T0 + 1, 2),
            (5.0, T0 + 2, 2),
        ]
        assert history.token is None

    def test_history_of_unlogged_key_is_empty(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        store.log_batch(run_id, [metric("m", 1.0)])
        assert list(store.get_metric_history(run_id, "nope")) == []

    def test_history_is_per_run(self, store: TrackingStore) -> None:
        first, second = new_run(store), new_run(store)
        store.log_batch(first, [metric("m", 1.0)])
        store.log_batch(second, [metric("m", 2.0), metric("m", 3.0, step=1)])
        assert _points(store.get_metric_history(first, "m")) == [(1.0, T0, 0)]
        assert len(store.get_metric_history(second, "m")) == 2

    def test_history_pages_cover_every_point_once(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        points = [metric("m", float(i), step=i, timestamp=T0 + i) for i in range(11)]
        store.log_batch(run_id, points)
        seen: list[Metric] = []
        token: str | None = None
        pages = 0
        while True:
            page = store.get_metric_history(run_id, "m", max_results=4, page_token=token)
            assert len(page) <= 4
            seen.extend(page)
            pages += 1
            token = page.token
            if not token:
                break
        assert pages == 3
        assert _points(seen) == _points(points)

    def test_history_max_results_alone_truncates(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        store.log_batch(run_id, [metric("m", float(i), step=i) for i in range(5)])
        page = store.get_metric_history(run_id, "m", max_results=2)
        assert [m.step for m in page] == [0, 1]
        assert page.token

    def test_history_rejects_a_garbage_page_token(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        store.log_batch(run_id, [metric("m", 1.0)])
        with pytest.raises(InvalidParameterValue):
            store.get_metric_history(run_id, "m", max_results=1, page_token="not a token!")

    def test_a_thousand_metrics_in_one_batch(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        store.log_batch(run_id, [metric("m", float(i), step=i) for i in range(1000)])
        assert store.get_run(run_id).data.metrics == {"m": 999.0}
        assert len(store.get_metric_history(run_id, "m")) == 1000
