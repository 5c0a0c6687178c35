"""Threads and processes logging to one store at once: each keeps its own run, nothing is lost."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import cairn
from cairn.tracking import MlflowClient

THREADS = 4
POINTS = 30


def test_each_thread_has_its_own_active_run(any_store_uri: str) -> None:
    cairn.set_tracking_uri(any_store_uri)
    run_ids: dict[int, str] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def work(n: int) -> None:
        try:
            with cairn.start_run(run_name=f"thread-{n}") as run:
                barrier.wait()  # every thread holds an active run at the same time
                active = cairn.active_run()
                assert active is not None
                assert active.info.run_id == run.info.run_id
                for step in range(POINTS):
                    cairn.log_metric("m", float(n), step=step)
                cairn.log_param("thread", n)
                run_ids[n] = str(run.info.run_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert cairn.active_run() is None  # the main thread never had one
    client = MlflowClient()
    assert len(set(run_ids.values())) == THREADS
    for n, run_id in run_ids.items():
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert run.data.params == {"thread": str(n)}
        history = client.get_metric_history(run_id, "m")
        assert sorted(m.step for m in history) == list(range(POINTS))
        assert {m.value for m in history} == {float(n)}


def test_threads_sharing_one_run_lose_nothing(any_store_uri: str) -> None:
    client = MlflowClient(any_store_uri)
    run_id = str(client.create_run("0").info.run_id)

    def work(n: int) -> None:
        for step in range(POINTS):
            client.log_metric(run_id, f"m{n}", float(step), step=step)
            client.set_tag(run_id, f"t{n}", str(step))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run = client.get_run(run_id)
    for n in range(THREADS):
        assert len(client.get_metric_history(run_id, f"m{n}")) == POINTS
        assert run.data.tags[f"t{n}"] == str(POINTS - 1)


_WORKER = textwrap.dedent(
    """
    import sys
    import cairn
    cairn.set_tracking_uri(sys.argv[1])
    cairn.set_experiment("shared")
    with cairn.start_run(run_name="proc-" + sys.argv[2]):
        for step in range({points}):
            cairn.log_metric("m", step, step=step)
        cairn.log_param("proc", sys.argv[2])
    """
)


def test_processes_logging_to_one_store(any_store_uri: str, tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(_WORKER.format(points=POINTS))
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), any_store_uri, str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    client = MlflowClient(any_store_uri)
    exp = client.get_experiment_by_name("shared")
    assert exp is not None
    runs = client.search_runs(exp.experiment_id)
    assert sorted(r.data.params["proc"] for r in runs) == ["0", "1", "2"]
    for run in runs:
        assert run.info.status == "FINISHED"
        assert len(client.get_metric_history(str(run.info.run_id), "m")) == POINTS


POOL_SCRIPT = """
import multiprocessing, sys
from cairn.tracking import MlflowClient


def work(task: tuple[str, str, int]) -> None:
    uri, run_id, worker = task
    client = MlflowClient(uri)
    for step in range(200):
        client.log_metric(run_id, f"w{worker}", float(step), step=step)
    # returns without a flush, as a task does; a forked worker then ends with os._exit


if __name__ == "__main__":
    uri, method, ending = sys.argv[1:]
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment(method + ending)).info.run_id
    with multiprocessing.get_context(method).Pool(2) as pool:
        pool.map(work, [(uri, run_id, worker) for worker in range(4)])
        if ending == "join":
            pool.close()
            pool.join()
        # else leaving the block terminates the workers with SIGTERM
    print(run_id)
"""


@pytest.mark.parametrize("ending", ["join", "terminate"])
def test_pool_workers_forked_or_spawned_lose_nothing_at_their_exit(
    tmp_path: Path, ending: str
) -> None:
    """A forked worker ends with ``os._exit`` (joined) or SIGTERM (terminated), and
    both skip the interpreter's exit, where the queue is written."""
    uri = f"sqlite:///{tmp_path / 'pool.db'}"
    script = tmp_path / "pool_script.py"
    script.write_text(POOL_SCRIPT)
    for method in ("fork", "spawn"):
        done = subprocess.run(
            [sys.executable, str(script), uri, method, ending],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        run_id = done.stdout.strip()
        client = MlflowClient(uri)
        for worker in range(4):
            steps = [m.step for m in client.get_metric_history(run_id, f"w{worker}")]
            assert steps == list(range(200)), (method, worker, len(steps))
