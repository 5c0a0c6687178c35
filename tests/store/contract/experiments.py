"""Experiments: create, read, rename, tag, delete and restore."""

from __future__ import annotations

import pytest

from cairn.entities import ExperimentTag, LifecycleStage
from cairn.exceptions import (
    InvalidParameterValue,
    InvalidState,
    MlflowException,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from cairn.store.tracking import TrackingStore
from contract.factories import new_experiment, new_run, next_millisecond


class ExperimentContract:
    def test_default_experiment_exists(self, store: TrackingStore) -> None:
        default = store.get_experiment("0")
        assert default.experiment_id == "0"
        assert default.name == "Default"
        assert default.lifecycle_stage == LifecycleStage.ACTIVE
        assert default.artifact_location
        assert store.get_experiment_by_name("Default") == default

    def test_create_and_get_round_trip(self, store: TrackingStore) -> None:
        exp_id = new_experiment(
            store, "churn", "s3://bucket/churn-artifacts", {"team": "growth", "k 2": "v:2"}
        )
        assert isinstance(exp_id, str)
        exp = store.get_experiment(exp_id)
        assert exp.experiment_id == exp_id
        assert exp.name == "churn"
        assert exp.artifact_location == "s3://bucket/churn-artifacts"
        assert exp.lifecycle_stage == LifecycleStage.ACTIVE
        assert exp.tags == {"team": "growth", "k 2": "v:2"}
        assert isinstance(exp.creation_time, int)
        assert exp.creation_time > 0
        assert exp.last_update_time is not None
        assert exp.last_update_time >= exp.creation_time
        assert store.get_experiment_by_name("churn") == exp

    @pytest.mark.parametrize(
        "location", ["mlflow-artifacts:/proxied", "mlflow-artifacts://host/x", "file:/data/x"]
    )
    def test_an_artifact_location_with_a_scheme_is_kept_as_given(
        self, store: TrackingStore, location: str
    ) -> None:
        # what a server proxying artifacts hands the store; never a path under the cwd
        exp_id = new_experiment(store, "proxied", location)
        assert store.get_experiment(exp_id).artifact_location == location
        run = store.create_run(exp_id, "u", 0, [], "r")
        assert run.info.artifact_uri == f"{location}/{run.info.run_id}/artifacts"

    def test_ids_are_distinct_and_default_artifact_location_names_the_id(
        self, store: TrackingStore
    ) -> None:
        first, second = new_experiment(store, "a"), new_experiment(store, "b")
        assert len({"0", first, second}) == 3
        for exp_id in (first, second):
            location = store.get_experiment(exp_id).artifact_location
            assert location.rstrip("/").endswith("/" + exp_id)

    def test_unicode_name_round_trips(self, store: TrackingStore) -> None:
        exp_id = new_experiment(store, "Ünïcode 実験 🚀")
        assert store.get_experiment(exp_id).name == "Ünïcode 実験 🚀"
        assert store.get_experiment_by_name("Ünïcode 実験 🚀") is not None

    def test_get_by_name_is_none_when_missing_and_exact(self, store: TrackingStore) -> None:
        new_experiment(store, "Exact")
        assert store.get_experiment_by_name("missing") is None
        assert store.get_experiment_by_name("exact") is None
        assert store.get_experiment_by_name("Exac") is None

    def test_duplicate_name_is_refused(self, store: TrackingStore) -> None:
        exp_id = new_experiment(store, "dup")
        with pytest.raises(ResourceAlreadyExists):
            new_experiment(store, "dup")
        store.delete_experiment(exp_id)
        with pytest.raises(ResourceAlreadyExists):
            new_experiment(store, "dup")
        found = store.get_experiment_by_name("dup")
        assert found is not None
        assert found.experiment_id == exp_id

    def test_get_by_name_finds_deleted_experiment(self, store: TrackingStore) -> None:
        exp_id = new_experiment(store, "gone")
        store.delete_experiment(exp_id)
        found = store.get_experiment_by_name("gone")
        assert found is not None
        assert found.lifecycle_stage == LifecycleStage.DELETED

    def test_rename(self, store: TrackingStore) -> None:
        exp_id = new_experiment(store, "old")
        before = store.get_experiment(exp_id)
        next_millisecond(before.last_update_time)
        store.rename_experiment(exp_id, "new")
        after = store.get_experiment(exp_id)
        assert after.name == "new"
        assert store.get_experiment_by_name("old") is None
        assert store.get_experiment_by_name("new") == after
        assert after.creation_time == before.creation_time
        assert after.last_update_time is not None
        assert before.last_update_time is not None
        assert after.last_update_time > before.last_update_time
        # the old name is free again
        assert new_experiment(store, "old") != exp_id

    def test_rename_to_a_taken_name_is_refused(self, store: TrackingStore) -> None:
        first, second = new_experiment(store, "first"), new_experiment(store, "second")
        with pytest.raises(MlflowException) as err:
            store.rename_experiment(second, "first")
        assert err.value.get_http_status_code() == 400
        assert store.get_experiment(first).name == "first"
        assert store.get_experiment(second).name == "second"

    def test_delete_and_restore_take_the_runs_along(self, store: TrackingStore) -> None:
        exp_id = new_experiment(store)
        run_ids = [new_run(store, exp_id) for _ in range(3)]
        other = new_run(store, "0")
        before = store.get_experiment(exp_id)
        next_millisecond(before.last_update_time)

        store.delete_experiment(exp_id)
        deleted = store.get_experiment(exp_id)
        assert deleted.lifecycle_stage == LifecycleStage.DELETED
        assert deleted.last_update_time is not None
        assert before.last_update_time is not None
        assert deleted.last_update_time > before.last_update_time
        for run_id in run_ids:
            assert store.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
        assert store.get_run(other).info.lifecycle_stage == LifecycleStage.ACTIVE

        next_millisecond(deleted.last_update_time)
        store.restore_experiment(exp_id)
        restored = store.get_experiment(exp_id)
        assert restored.lifecycle_stage == LifecycleStage.ACTIVE
        assert restored.last_update_time is not None
        assert restored.last_update_time > deleted.last_update_time
        for run_id in run_ids:
            assert store.get_run(run_id).info.lifecycle_stage == LifecycleStage.ACTIVE

    def test_deleted_experiment_accepts_no_new_runs(self, store: TrackingStore) -> None:
        exp_id = new_experiment(store)
        store.delete_experiment(exp_id)
        with pytest.raises(InvalidParameterValue):
            new_run(store, exp_id)

    def test_deleted_experiment_refuses_tags_and_rename(self, store: TrackingStore) -> None:
        exp_id = new_experiment(store, "frozen", tags={"a": "1"})
        store.delete_experiment(exp_id)
        before = store.get_experiment(exp_id)
        with pytest.raises(InvalidParameterValue):
            store.set_experiment_tag(exp_id, ExperimentTag("a", "2"))
        # MLflow's SQL store answers INVALID_STATE here; either refusal is acceptable.
        with pytest.raises((InvalidParameterValue, InvalidState)):
            store.rename_experiment(exp_id, "thawed")
        assert store.get_experiment(exp_id) == before

    def test_restore_of_active_and_delete_of_deleted_are_refused(
        self, store: TrackingStore
    ) -> None:
        exp_id = new_experiment(store)
        with pytest.raises(MlflowException):
            store.restore_experiment(exp_id)
        store.delete_experiment(exp_id)
        with pytest.raises(MlflowException):
            store.delete_experiment(exp_id)
        assert store.get_experiment(exp_id).lifecycle_stage == LifecycleStage.DELETED

    def test_set_and_delete_experiment_tag(self, store: TrackingStore) -> None:
        exp_id = new_experiment(store, tags={"keep": "1"})
        store.set_experiment_tag(exp_id, ExperimentTag("stage", "dev"))
        assert store.get_experiment(exp_id).tags == {"keep": "1", "stage": "dev"}
        store.set_experiment_tag(exp_id, ExperimentTag("stage", "prod"))
        assert store.get_experiment(exp_id).tags == {"keep": "1", "stage": "prod"}
        store.set_experiment_tag(exp_id, ExperimentTag("empty", ""))
        assert store.get_experiment(exp_id).tags["empty"] == ""
        store.delete_experiment_tag(exp_id, "stage")
        assert store.get_experiment(exp_id).tags == {"keep": "1", "empty": ""}

    def test_delete_missing_experiment_tag_is_not_found(self, store: TrackingStore) -> None:
        exp_id = new_experiment(store, tags={"keep": "1"})
        with pytest.raises(ResourceDoesNotExist):
            store.delete_experiment_tag(exp_id, "never-set")
        assert store.get_experiment(exp_id).tags == {"keep": "1"}

    def test_long_experiment_tag_value_round_trips(self, store: TrackingStore) -> None:
        exp_id = new_experiment(store)
        store.set_experiment_tag(exp_id, ExperimentTag("note", "x" * 5000))
        assert store.get_experiment(exp_id).tags["note"] == "x" * 5000
