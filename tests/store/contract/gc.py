"""Garbage collection: finding deleted runs and experiments, and erasing them for good."""

from __future__ import annotations

import pytest

from cairn.entities import Dataset, DatasetInput, ViewType
from cairn.exceptions import ResourceDoesNotExist
from cairn.store.tracking import TrackingStore
from contract.factories import log, new_experiment, new_run

HOUR_MS = 3_600_000


class GcContract:
    def test_deleted_run_ids(self, store: TrackingStore) -> None:
        kept, gone = new_run(store), new_run(store)
        assert store.deleted_run_ids() == []
        store.delete_run(gone)
        assert store.deleted_run_ids() == [gone]
        assert store.deleted_run_ids(older_than_ms=0) == [gone]
        # deleted just now, so not an hour ago
        assert store.deleted_run_ids(older_than_ms=HOUR_MS) == []
        store.restore_run(gone)
        assert store.deleted_run_ids() == []
        assert kept

    def test_runs_of_a_deleted_experiment_are_deleted_runs(self, store: TrackingStore) -> None:
        exp_id = new_experiment(store)
        run_ids = {new_run(store, exp_id) for _ in range(2)}
        store.delete_experiment(exp_id)
        assert set(store.deleted_run_ids()) == run_ids

    def test_deleted_experiment_ids(self, store: TrackingStore) -> None:
        kept, gone = new_experiment(store), new_experiment(store)
        assert store.deleted_experiment_ids() == []
        store.delete_experiment(gone)
        assert store.deleted_experiment_ids() == [gone]
        assert store.deleted_experiment_ids(older_than_ms=0) == [gone]
        assert store.deleted_experiment_ids(older_than_ms=HOUR_MS) == []
        store.restore_experiment(gone)
        assert store.deleted_experiment_ids() == []
        assert store.get_experiment(kept).lifecycle_stage == "active"

    def test_hard_delete_run_erases_it_and_only_it(self, store: TrackingStore) -> None:
        exp_id = new_experiment(store)
        kept, gone = new_run(store, exp_id), new_run(store, exp_id)
        for run_id in (kept, gone):
            log(store, run_id, metrics={"m": 1.0}, params={"p": "1"}, tags={"t": "1"})
            store.log_inputs(run_id, [DatasetInput(Dataset("d", "1", "local", "{}"))])
        kept_before = store.get_run(kept)
        store.delete_run(gone)
        store.hard_delete_run(gone)
        with pytest.raises(ResourceDoesNotExist):
            store.get_run(gone)
        assert store.deleted_run_ids() == []
        assert [r.info.run_id for r in store.search_runs([exp_id], "", ViewType.ALL)] == [kept]
        assert store.get_run(kept) == kept_before

    def test_hard_delete_experiment_erases_it_with_its_runs(self, store: TrackingStore) -> None:
        kept = new_experiment(store, "kept", tags={"a": "1"})
        kept_run = new_run(store, kept)
        gone = new_experiment(store, "gone", tags={"a": "1"})
        gone_runs = [new_run(store, gone) for _ in range(2)]
        for run_id in [kept_run, *gone_runs]:
            log(store, run_id, metrics={"m": 1.0}, params={"p": "1"})
        kept_before = store.get_experiment(kept)
        kept_run_before = store.get_run(kept_run)

        store.delete_experiment(gone)
        for run_id in gone_runs:
            store.hard_delete_run(run_id)  # gc erases the runs first, then the experiment
        store.hard_delete_experiment(gone)

        with pytest.raises(ResourceDoesNotExist):
            store.get_experiment(gone)
        for run_id in gone_runs:
            with pytest.raises(ResourceDoesNotExist):
                store.get_run(run_id)
        assert store.get_experiment_by_name("gone") is None
        assert store.deleted_experiment_ids() == []
        assert store.get_experiment(kept) == kept_before
        assert store.get_run(kept_run) == kept_run_before
        # the name is free again once the experiment is gone for good
        reborn = new_experiment(store, "gone")
        assert store.get_experiment(reborn).tags == {}
        assert store.search_runs([reborn], "", ViewType.ALL) == []

    def test_hard_delete_experiment_alone_takes_its_runs(self, store: TrackingStore) -> None:
        gone = new_experiment(store, "gone")
        run_id = new_run(store, gone)
        store.delete_experiment(gone)
        store.hard_delete_experiment(gone)
        with pytest.raises(ResourceDoesNotExist):
            store.get_run(run_id)
        assert run_id not in store.deleted_run_ids()
