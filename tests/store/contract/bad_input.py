"""Bad input: refused with MLflow's error code, and the store reads back exactly as before."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from cairn.entities import (
    Dataset,
    DatasetInput,
    ExperimentTag,
    InputTag,
    Metric,
    Param,
    RunStatus,
    RunTag,
    ViewType,
)
from cairn.exceptions import (
    ErrorCode,
    InvalidParameterValue,
    MlflowException,
    ResourceDoesNotExist,
)
from cairn.store.tracking import TrackingStore
from contract.factories import T0, log, metric, new_experiment, new_run

BAD_KEYS = [
    "k" * 251,  # too long
    "bad!key",
    "semi;colon",
    "new\nline",
    "../escape",
    "a/../b",
    "/absolute",
    "trailing/",
    "double//slash",
    ".",
    "",
]


def _batch(
    metrics: list[Metric] | None = None,
    params: list[Param] | None = None,
    tags: list[RunTag] | None = None,
) -> tuple[list[Metric], list[Param], list[RunTag]]:
    return metrics or [], params or [], tags or []


BAD_BATCHES: dict[str, tuple[list[Metric], list[Param], list[RunTag]]] = {
    "param value too long": _batch(params=[Param("p", "v" * 6001)]),
    "tag value too long": _batch(tags=[RunTag("t", "v" * 8001)]),
    # JSON can carry a lone UTF-16 surrogate, which no UTF-8 store can hold
    "lone surrogate in a param value": _batch(params=[Param("p", "a\ud800")]),
    "lone surrogate in a tag value": _batch(tags=[RunTag("t", "\udfff")]),
    "too many metrics": _batch(metrics=[metric(f"m{i}", 1.0) for i in range(1001)]),
    "too many params": _batch(params=[Param(f"p{i}", "v") for i in range(101)]),
    "too many tags": _batch(tags=[RunTag(f"t{i}", "v") for i in range(101)]),
    "too many in total": _batch(
        metrics=[metric(f"m{i}", 1.0) for i in range(900)],
        params=[Param(f"p{i}", "v") for i in range(100)],
        tags=[RunTag("t", "v")],
    ),
    "string metric": _batch(metrics=[metric("m", "0.5")]),
    "None metric": _batch(metrics=[metric("m", None)]),
    "bool metric": _batch(metrics=[metric("m", True)]),
    "negative timestamp": _batch(metrics=[metric("m", 1.0, timestamp=-1)]),
    "float timestamp": _batch(metrics=[metric("m", 1.0, timestamp=1.5)]),  # type: ignore[arg-type]
    "float step": _batch(metrics=[metric("m", 1.0, step=0.5)]),  # type: ignore[arg-type]
    "non-string param value": _batch(params=[Param("p", 5)]),  # type: ignore[arg-type]
    "None tag value": _batch(tags=[RunTag("t", None)]),  # type: ignore[arg-type]
    # one bad entity spoils an otherwise good batch
    "good metrics then a bad one": _batch(
        metrics=[metric("good", 1.0), metric("bad", "x")],
        params=[Param("good", "1")],
        tags=[RunTag("good", "1")],
    ),
    "good params then a bad tag": _batch(
        metrics=[metric("good", 1.0)], params=[Param("good", "1")], tags=[RunTag("bad!", "1")]
    ),
}


def _seeded_run(store: TrackingStore) -> str:
    run_id = new_run(store, name="seeded")
    log(store, run_id, metrics={"m": 1.0}, params={"p": "old"}, tags={"t": "old"})
    return run_id


def _refused(action: Callable[[], Any], error: type[MlflowException]) -> MlflowException:
    with pytest.raises(error) as caught:
        action()
    return caught.value


class BadInputContract:
    @pytest.mark.parametrize("key", BAD_KEYS)
    @pytest.mark.parametrize("kind", ["metric", "param", "tag"])
    def test_bad_keys_are_refused(self, store: TrackingStore, key: str, kind: str) -> None:
        run_id = _seeded_run(store)
        before = store.get_run(run_id)
        batch = {
            "metric": _batch(metrics=[metric(key, 1.0)]),
            "param": _batch(params=[Param(key, "v")]),
            "tag": _batch(tags=[RunTag(key, "v")]),
        }[kind]
        _refused(lambda: store.log_batch(run_id, *batch), InvalidParameterValue)
        assert store.get_run(run_id) == before

    @pytest.mark.parametrize("case", list(BAD_BATCHES))
    def test_bad_batches_are_refused_whole(self, store: TrackingStore, case: str) -> None:
        run_id = _seeded_run(store)
        before = store.get_run(run_id)
        history = list(store.get_metric_history(run_id, "m"))
        err = _refused(lambda: store.log_batch(run_id, *BAD_BATCHES[case]), InvalidParameterValue)
        assert err.error_code == ErrorCode.INVALID_PARAMETER_VALUE
        assert err.get_http_status_code() == 400
        assert store.get_run(run_id) == before
        assert list(store.get_metric_history(run_id, "m")) == history
        assert list(store.get_metric_history(run_id, "good")) == []

    def test_limits_themselves_are_accepted(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        store.log_batch(
            run_id,
            [metric(f"m{i}", 1.0) for i in range(800)],
            [Param(f"p{i}", "v" * 6000) for i in range(100)],
            [RunTag(f"t{i}", "v" * 8000) for i in range(100)],
        )
        data = store.get_run(run_id).data
        assert len(data.metrics) == 800
        assert len(data.params) == 100
        assert len(data.tags) >= 100

    @pytest.mark.parametrize("name", ["", "x" * 501, None])
    def test_bad_experiment_names_are_refused(self, store: TrackingStore, name: Any) -> None:
        _refused(lambda: store.create_experiment(name), InvalidParameterValue)
        assert [e.name for e in store.search_experiments(ViewType.ALL)] == ["Default"]

    def test_longest_experiment_name_is_accepted(self, store: TrackingStore) -> None:
        exp_id = new_experiment(store, "x" * 500)
        assert store.get_experiment(exp_id).name == "x" * 500

    @pytest.mark.parametrize("name", ["", "x" * 501])
    def test_bad_rename_is_refused(self, store: TrackingStore, name: str) -> None:
        exp_id = new_experiment(store, "kept")
        before = store.get_experiment(exp_id)
        _refused(lambda: store.rename_experiment(exp_id, name), InvalidParameterValue)
        assert store.get_experiment(exp_id) == before

    @pytest.mark.parametrize(
        "tag",
        [ExperimentTag("k" * 251, "v"), ExperimentTag("bad!", "v"), ExperimentTag("k", "v" * 5001)],
    )
    def test_bad_experiment_tags_are_refused(
        self, store: TrackingStore, tag: ExperimentTag
    ) -> None:
        exp_id = new_experiment(store, tags={"a": "1"})
        before = store.get_experiment(exp_id)
        _refused(lambda: store.set_experiment_tag(exp_id, tag), InvalidParameterValue)
        assert store.get_experiment(exp_id) == before
        # at creation the same tag spoils the whole experiment
        _refused(lambda: store.create_experiment("tagged", None, [tag]), InvalidParameterValue)
        assert store.get_experiment_by_name("tagged") is None

    def test_bad_run_tag_at_creation_creates_nothing(self, store: TrackingStore) -> None:
        exp_id = new_experiment(store)
        _refused(
            lambda: store.create_run(exp_id, "u", T0, [RunTag("bad!", "v")], None),
            InvalidParameterValue,
        )
        assert store.search_runs([exp_id], "", ViewType.ALL) == []

    def test_bad_dataset_inputs_are_refused(self, store: TrackingStore) -> None:
        run_id = _seeded_run(store)
        before = store.get_run(run_id)
        good = Dataset("iris", "d1", "local", "{}")
        bad_inputs = [
            [DatasetInput(Dataset("n" * 501, "d", "local", "{}"))],
            [DatasetInput(Dataset("iris", "d" * 37, "local", "{}"))],
            [DatasetInput(Dataset("", "d", "local", "{}"))],
            [DatasetInput(good, [InputTag("k", "v" * 501)])],
            [DatasetInput(good), DatasetInput(Dataset("", "", "", ""))],
        ]
        for inputs in bad_inputs:
            _refused(lambda inputs=inputs: store.log_inputs(run_id, inputs), InvalidParameterValue)
        assert store.get_run(run_id) == before

    def test_unknown_run_is_not_found(self, store: TrackingStore) -> None:
        missing = uuid.uuid4().hex
        actions: list[Callable[[], Any]] = [
            lambda: store.get_run(missing),
            lambda: store.update_run_info(missing, RunStatus.FINISHED, T0, None),
            lambda: store.delete_run(missing),
            lambda: store.restore_run(missing),
            lambda: store.delete_tag(missing, "t"),
            lambda: log(store, missing, metrics={"m": 1.0}),
            lambda: log(store, missing, params={"p": "1"}),
            lambda: log(store, missing, tags={"t": "1"}),
            lambda: store.log_inputs(missing, [DatasetInput(Dataset("d", "1", "local", "{}"))]),
        ]
        for action in actions:
            err = _refused(action, ResourceDoesNotExist)
            assert err.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST
            assert err.get_http_status_code() == 404

    def test_unknown_experiment_is_not_found(self, store: TrackingStore) -> None:
        missing = "987654321"
        actions: list[Callable[[], Any]] = [
            lambda: store.get_experiment(missing),
            lambda: store.rename_experiment(missing, "new"),
            lambda: store.delete_experiment(missing),
            lambda: store.restore_experiment(missing),
            lambda: store.set_experiment_tag(missing, ExperimentTag("k", "v")),
            lambda: store.delete_experiment_tag(missing, "k"),
            lambda: store.create_run(missing, "u", T0, [], None),
        ]
        for action in actions:
            err = _refused(action, ResourceDoesNotExist)
            assert err.get_http_status_code() == 404
        assert store.get_experiment_by_name("new") is None

    @pytest.mark.parametrize("run_id", ["../etc", "a/b", "has space", "", "-leading-dash"])
    def test_malformed_run_ids_are_invalid(self, store: TrackingStore, run_id: str) -> None:
        for action in (
            lambda: store.get_run(run_id),
            lambda: log(store, run_id, metrics={"m": 1.0}),
            lambda: store.delete_run(run_id),
        ):
            _refused(action, InvalidParameterValue)

    @pytest.mark.parametrize("experiment_id", ["../0", "a/b", "", "0 OR 1=1"])
    def test_malformed_experiment_ids_are_invalid(
        self, store: TrackingStore, experiment_id: str
    ) -> None:
        for action in (
            lambda: store.get_experiment(experiment_id),
            lambda: store.delete_experiment(experiment_id),
            lambda: store.create_run(experiment_id, "u", T0, [], None),
        ):
            _refused(action, InvalidParameterValue)
        assert store.get_experiment("0").lifecycle_stage == "active"
