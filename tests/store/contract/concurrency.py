"""Concurrency: one store instance shared by several threads loses no write."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from cairn.entities import Param, RunTag
from cairn.store.tracking import TrackingStore
from contract.factories import T0, metric, new_experiment, new_run

THREADS = 8
STEPS = 10


class ConcurrencyContract:
    def test_threads_logging_to_their_own_runs(self, store: TrackingStore) -> None:
        exp_id = new_experiment(store)

        def work(worker: int) -> str:
            run_id = new_run(store, exp_id, name=f"worker-{worker}")
            for step in range(STEPS):
                store.log_batch(
                    run_id,
                    [metric("loss", float(worker * 100 + step), step=step)],
                    [Param(f"p{step}", str(worker))],
                    [RunTag("last_step", str(step))],
                )
            return run_id

        with ThreadPoolExecutor(THREADS) as pool:
            run_ids = list(pool.map(work, range(THREADS)))

        assert len(set(run_ids)) == THREADS
        for worker, run_id in enumerate(run_ids):
            run = store.get_run(run_id)
            assert run.info.run_name == f"worker-{worker}"
            assert run.data.metrics == {"loss": float(worker * 100 + STEPS - 1)}
            assert run.data.params == {f"p{s}": str(worker) for s in range(STEPS)}
            assert run.data.tags["last_step"] == str(STEPS - 1)
            assert len(store.get_metric_history(run_id, "loss")) == STEPS

    def test_threads_logging_to_the_same_run(self, store: TrackingStore) -> None:
        run_id = new_run(store)

        def work(worker: int) -> None:
            for step in range(STEPS):
                store.log_batch(
                    run_id,
                    [metric(f"m{worker}", float(step), step=step, timestamp=T0 + step)],
                    # every thread logs the shared param with the same value: write-once holds
                    [Param("shared", "same"), Param(f"own{worker}-{step}", "v")],
                    [RunTag(f"tag{worker}", str(step))],
                )

        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(work, range(THREADS)))

        run = store.get_run(run_id)
        assert run.data.metrics == {f"m{w}": float(STEPS - 1) for w in range(THREADS)}
        assert len(run.data.params) == 1 + THREADS * STEPS
        assert run.data.params["shared"] == "same"
        for worker in range(THREADS):
            assert run.data.tags[f"tag{worker}"] == str(STEPS - 1)
            history = store.get_metric_history(run_id, f"m{worker}")
            assert [m.step for m in history] == list(range(STEPS))

    def test_threads_creating_experiments(self, store: TrackingStore) -> None:
        with ThreadPoolExecutor(THREADS) as pool:
            exp_ids = list(pool.map(lambda i: new_experiment(store, f"parallel-{i}"), range(16)))
        assert len(set(exp_ids)) == 16
        for i, exp_id in enumerate(exp_ids):
            assert store.get_experiment(exp_id).name == f"parallel-{i}"
