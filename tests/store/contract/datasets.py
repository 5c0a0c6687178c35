"""Dataset inputs: what a run consumed, with its input tags."""

from __future__ import annotations

import pytest

from cairn.entities import Dataset, DatasetInput, InputTag
from cairn.exceptions import InvalidParameterValue
from cairn.store.tracking import TrackingStore
from contract.factories import new_run

CONTEXT_TAG = "mlflow.data.context"

IRIS = Dataset(
    name="iris",
    digest="abc123",
    source_type="local",
    source='{"uri": "/data/iris.csv"}',
    schema='{"mlflow_colspec": [{"type": "double", "name": "sepal"}]}',
    profile='{"num_rows": 150}',
)
WINE = Dataset("wine", "def456", "http", '{"url": "https://example.com/wine.csv"}')


def _by_name(inputs: list[DatasetInput]) -> dict[str, DatasetInput]:
    return {i.dataset.name: i for i in inputs}


class DatasetContract:
    def test_new_run_has_no_inputs(self, store: TrackingStore) -> None:
        assert store.get_run(new_run(store)).inputs.dataset_inputs == []

    def test_log_inputs_round_trip(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        store.log_inputs(
            run_id,
            [
                DatasetInput(IRIS, [InputTag(CONTEXT_TAG, "training"), InputTag("note", "x")]),
                DatasetInput(WINE, []),
            ],
        )
        inputs = _by_name(store.get_run(run_id).inputs.dataset_inputs)
        assert set(inputs) == {"iris", "wine"}
        assert inputs["iris"].dataset == IRIS
        assert {(t.key, t.value) for t in inputs["iris"].tags} == {
            (CONTEXT_TAG, "training"),
            ("note", "x"),
        }
        assert inputs["wine"].dataset == WINE
        assert inputs["wine"].tags == []

    def test_logging_the_same_input_twice_keeps_one(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        item = DatasetInput(IRIS, [InputTag(CONTEXT_TAG, "training")])
        store.log_inputs(run_id, [item])
        store.log_inputs(run_id, [item])
        assert len(store.get_run(run_id).inputs.dataset_inputs) == 1

    def test_one_dataset_shared_by_two_runs(self, store: TrackingStore) -> None:
        first, second = new_run(store), new_run(store)
        store.log_inputs(first, [DatasetInput(IRIS, [InputTag(CONTEXT_TAG, "training")])])
        store.log_inputs(second, [DatasetInput(IRIS, [InputTag(CONTEXT_TAG, "eval")])])
        (first_input,) = store.get_run(first).inputs.dataset_inputs
        (second_input,) = store.get_run(second).inputs.dataset_inputs
        assert first_input.dataset == second_input.dataset == IRIS
        assert [t.value for t in first_input.tags] == ["training"]
        assert [t.value for t in second_input.tags] == ["eval"]

    def test_empty_log_inputs_is_fine(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        store.log_inputs(run_id, [])
        assert store.get_run(run_id).inputs.dataset_inputs == []

    def test_deleted_run_refuses_inputs(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        store.delete_run(run_id)
        with pytest.raises(InvalidParameterValue):
            store.log_inputs(run_id, [DatasetInput(IRIS, [])])
        assert store.get_run(run_id).inputs.dataset_inputs == []
