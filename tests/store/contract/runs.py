"""Runs: create, read, update, delete/restore, tags and params."""

from __future__ import annotations

import pytest

from cairn.entities import LifecycleStage, Param, RunStatus, RunTag
from cairn.exceptions import InvalidParameterValue, ResourceDoesNotExist
from cairn.store.tracking import TrackingStore
from contract.factories import T0, log, metric, new_experiment, new_run, now_ms

RUN_NAME_TAG = "mlflow.runName"


class RunContract:
    def test_create_run_returns_what_get_run_reads(self, store: TrackingStore) -> None:
        exp_id = new_experiment(store)
        created = store.create_run(
            exp_id, "alice", T0, [RunTag("mlflow.source.name", "train.py")], "first"
        )
        info = created.info
        assert info.run_id
        assert info.run_uuid == info.run_id
        assert info.experiment_id == exp_id
        assert info.user_id == "alice"
        assert info.status == "RUNNING"
        assert info.start_time == T0
        assert info.end_time is None
        assert info.lifecycle_stage == LifecycleStage.ACTIVE
        assert info.run_name == "first"
        assert created.data.tags == {"mlflow.source.name": "train.py", RUN_NAME_TAG: "first"}
        assert created.data.metrics == {}
        assert created.data.params == {}
        assert store.get_run(info.run_id) == created

    def test_artifact_uri_sits_under_the_experiment_location(self, store: TrackingStore) -> None:
        exp_id = new_experiment(store, artifact_location="s3://bucket/exp")
        run_id = new_run(store, exp_id)
        assert store.get_run(run_id).info.artifact_uri == f"s3://bucket/exp/{run_id}/artifacts"

    def test_default_artifact_uri_sits_under_the_default_location(
        self, store: TrackingStore
    ) -> None:
        exp_id = new_experiment(store)
        location = store.get_experiment(exp_id).artifact_location.rstrip("/")
        run_id = new_run(store, exp_id)
        assert store.get_run(run_id).info.artifact_uri == f"{location}/{run_id}/artifacts"

    def test_run_name_from_tag_and_generated_when_absent(self, store: TrackingStore) -> None:
        from_tag = store.create_run("0", "bob", T0, [RunTag(RUN_NAME_TAG, "tagged")], None)
        assert from_tag.info.run_name == "tagged"
        assert store.get_run(from_tag.info.run_id).info.run_name == "tagged"  # type: ignore[arg-type]

        generated = store.get_run(new_run(store))
        assert generated.info.run_name
        assert generated.data.tags[RUN_NAME_TAG] == generated.info.run_name

    def test_conflicting_run_name_and_tag_are_refused(self, store: TrackingStore) -> None:
        with pytest.raises(InvalidParameterValue):
            store.create_run("0", "bob", T0, [RunTag(RUN_NAME_TAG, "x")], "y")

    def test_start_time_defaults_to_now(self, store: TrackingStore) -> None:
        before = now_ms()
        run = store.get_run(new_run(store, start_time=None))
        assert run.info.start_time is not None
        assert before <= run.info.start_time <= now_ms()

    def test_run_ids_are_unique(self, store: TrackingStore) -> None:
        created = {new_run(store) for _ in range(5)}
        assert len(created) == 5

    def test_update_run_info(self, store: TrackingStore) -> None:
        run_id = new_run(store, name="before")
        info = store.update_run_info(run_id, RunStatus.FINISHED, T0 + 5000, None)
        assert info.status == "FINISHED"
        assert info.end_time == T0 + 5000
        assert info.run_name == "before"
        assert store.get_run(run_id).info == info

        renamed = store.update_run_info(run_id, None, None, "after")
        assert renamed.run_name == "after"
        assert renamed.status == "FINISHED"
        assert renamed.end_time == T0 + 5000
        run = store.get_run(run_id)
        assert run.info.run_name == "after"
        assert run.data.tags[RUN_NAME_TAG] == "after"

    @pytest.mark.parametrize("status", list(RunStatus))
    def test_every_status_round_trips(self, store: TrackingStore, status: RunStatus) -> None:
        run_id = new_run(store)
        store.update_run_info(run_id, status, None, None)
        assert store.get_run(run_id).info.status == status.name

    def test_setting_the_run_name_tag_renames_the_run(self, store: TrackingStore) -> None:
        run_id = new_run(store, name="old")
        log(store, run_id, tags={RUN_NAME_TAG: "new"})
        run = store.get_run(run_id)
        assert run.info.run_name == "new"
        assert run.data.tags[RUN_NAME_TAG] == "new"

    def test_delete_and_restore_run(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        log(store, run_id, metrics={"m": 1.0}, params={"p": "1"}, tags={"t": "1"})
        before = store.get_run(run_id)
        store.delete_run(run_id)
        deleted = store.get_run(run_id)
        assert deleted.info.lifecycle_stage == LifecycleStage.DELETED
        assert deleted.data == before.data
        store.restore_run(run_id)
        assert store.get_run(run_id) == before

    def test_log_batch_round_trips_everything(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        store.log_batch(
            run_id,
            [metric("loss", 0.5, step=3, timestamp=T0 + 1), metric("acc/train", 1e-5)],
            [Param("lr", "0.01"), Param("empty", ""), Param("long", "p" * 6000)],
            [RunTag("note", "t" * 8000), RunTag("blank", "")],
        )
        run = store.get_run(run_id)
        assert run.data.metrics == {"loss": 0.5, "acc/train": 1e-5}
        assert set(run.data.metric_objects) == {
            metric("loss", 0.5, step=3, timestamp=T0 + 1),
            metric("acc/train", 1e-5),
        }
        assert run.data.params == {"lr": "0.01", "empty": "", "long": "p" * 6000}
        assert run.data.tags["note"] == "t" * 8000
        assert run.data.tags["blank"] == ""

    def test_empty_log_batch_changes_nothing(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        before = store.get_run(run_id)
        store.log_batch(run_id, [], [], [])
        assert store.get_run(run_id) == before

    def test_unusual_but_valid_keys_round_trip(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        keys = ["a b", "x:y", "dir/sub/leaf", "with-dash_and.dot", "k" * 250, "Ünï"]
        log(store, run_id, metrics=dict.fromkeys(keys, 1.0), params=dict.fromkeys(keys, "v"))
        run = store.get_run(run_id)
        assert set(run.data.metrics) == set(keys)
        assert set(run.data.params) == set(keys)

    def test_tags_overwrite_and_delete(self, store: TrackingStore) -> None:
        run_id = new_run(store, name="n")
        log(store, run_id, tags={"a": "1", "b": "1"})
        log(store, run_id, tags={"a": "2"})
        store.delete_tag(run_id, "b")
        assert store.get_run(run_id).data.tags == {"a": "2", RUN_NAME_TAG: "n"}

    def test_delete_missing_tag_is_not_found(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        before = store.get_run(run_id)
        with pytest.raises(ResourceDoesNotExist):
            store.delete_tag(run_id, "never-set")
        assert store.get_run(run_id) == before

    def test_params_are_write_once(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        log(store, run_id, params={"lr": "0.1"})
        log(store, run_id, params={"lr": "0.1"})  # the same value again is fine
        before = store.get_run(run_id)
        with pytest.raises(InvalidParameterValue):
            store.log_batch(
                run_id,
                [metric("m", 1.0)],
                [Param("other", "x"), Param("lr", "0.2")],
                [RunTag("t", "v")],
            )
        assert store.get_run(run_id) == before

    def test_duplicate_param_with_different_values_in_one_batch(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        before = store.get_run(run_id)
        with pytest.raises(InvalidParameterValue):
            store.log_batch(run_id, [], [Param("p", "1"), Param("p", "2")], [])
        assert store.get_run(run_id) == before

    def test_same_param_twice_in_one_batch_is_fine(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        store.log_batch(run_id, [], [Param("p", "1"), Param("p", "1")], [])
        assert store.get_run(run_id).data.params == {"p": "1"}

    def test_deleted_run_refuses_writes(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        log(store, run_id, tags={"t": "1"})
        store.delete_run(run_id)
        before = store.get_run(run_id)
        writes = [
            lambda: log(store, run_id, metrics={"m": 1.0}),
            lambda: log(store, run_id, params={"p": "1"}),
            lambda: log(store, run_id, tags={"t": "2"}),
            lambda: store.delete_tag(run_id, "t"),
            lambda: store.update_run_info(run_id, RunStatus.FINISHED, T0 + 1, "renamed"),
        ]
        for write in writes:
            with pytest.raises(InvalidParameterValue):
                write()
        assert store.get_run(run_id) == before

    def test_restore_of_active_run_and_delete_of_deleted_run_are_no_ops(
        self, store: TrackingStore
    ) -> None:
        run_id = new_run(store)
        store.restore_run(run_id)
        assert store.get_run(run_id).info.lifecycle_stage == LifecycleStage.ACTIVE
        store.delete_run(run_id)
        store.delete_run(run_id)
        assert store.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
