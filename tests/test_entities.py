"""Metric, built by its own fast ``__init__``, behaves as the frozen dataclass it is."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from cairn.entities import Metric


def test_metric_by_position_and_by_keyword_are_equal() -> None:
    by_position = Metric("loss", 0.5, 1_700_000_000_000, 3)
    by_keyword = Metric(step=3, timestamp=1_700_000_000_000, value=0.5, key="loss")
    assert by_position == by_keyword
    assert hash(by_position) == hash(by_keyword)
    assert (by_keyword.key, by_keyword.value, by_keyword.timestamp, by_keyword.step) == (
        "loss",
        0.5,
        1_700_000_000_000,
        3,
    )
    assert repr(by_keyword) == "Metric(key='loss', value=0.5, timestamp=1700000000000, step=3)"


def test_metric_stays_frozen() -> None:
    metric = Metric("loss", 0.5, 1, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        metric.value = 1.0  # type: ignore[misc]


def test_metric_arguments_are_checked_like_any_call() -> None:
    with pytest.raises(TypeError, match=r"Metric.__init__\(\) missing 1 required .*'step'"):
        Metric("loss", 0.5, 1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'epoch'"):
        Metric("loss", 0.5, 1, 0, epoch=2)  # type: ignore[call-arg]


def test_metric_copies_replaces_and_pickles() -> None:
    metric = Metric("loss", 0.5, 1, 0)
    assert dataclasses.replace(metric, step=7) == Metric("loss", 0.5, 1, 7)
    assert copy.copy(metric) == metric
    assert pickle.loads(pickle.dumps(metric)) == metric
    assert dataclasses.asdict(metric) == {"key": "loss", "value": 0.5, "timestamp": 1, "step": 0}


def test_from_columns_builds_the_same_metrics_as_the_constructor() -> None:
    values = [0.5, float("nan"), 2.0]
    built = Metric.from_columns(["a", "b", "c"], values, [10, 11, 12], [0, 1, 2])
    expected = [Metric("a", 0.5, 10, 0), Metric("b", values[1], 11, 1), Metric("c", 2.0, 12, 2)]
    # (astuple compares NaN by identity; the Metrics' own == would find NaN unequal)
    assert [dataclasses.astuple(m) for m in built] == [dataclasses.astuple(m) for m in expected]
    assert [built[0], built[2]] == [expected[0], expected[2]]
