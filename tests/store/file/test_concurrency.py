"""Several writers at once, and writers that die mid-write, leave a consistent store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from cairn.entities import Metric, Param, RunStatus, RunTag
from cairn.exceptions import InvalidParameterValue
from cairn.store.file import layout
from cairn.store.file.store import FileStore
from forks import held_by_another_thread, in_forked_child

WRITER = """
import sys
from cairn.entities import Metric
from cairn.store.file.store import FileStore

root, run_id, worker, points = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
store = FileStore(root)
batch = []
for i in range(points):
    batch.append(Metric("shared", float(worker * 100000 + i), 1000 + i, worker * 100000 + i))
    if len(batch) == 7 or i == points - 1:  # odd-sized batches, interleaving with others
        store.log_batch(run_id, metrics=batch)
        batch = []
"""


def test_four_processes_logging_into_one_run_lose_nothing(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    store = FileStore(str(root))
    run_id = store.create_run("0", "u", 0, [], "shared").info.run_id
    points = 2000
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(WRITER), str(root), run_id, str(w), str(points)]
        )
        for w in range(4)
    ]
    assert all(p.wait(timeout=600) == 0 for p in procs)

    history = store.get_metric_history(run_id, "shared")
    assert len(history) == 4 * points
    assert sorted(int(m.value) for m in history) == sorted(
        w * 100000 + i for w in range(4) for i in range(points)
    )
    assert all(m.step == int(m.value) for m in history)  # no line was torn or mixed
    assert store.get_run(run_id).data.metrics["shared"] == 3 * 100000 + points - 1


def test_threads_logging_params_tags_and_metrics(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path / "mlruns"))
    run_id = store.create_run("0", "u", 0, [], "threads").info.run_id
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(50):
                store.log_batch(
                    run_id,
                    metrics=[Metric(f"m{worker}", float(i), i, i)],
                    params=[Param(f"p{worker}_{i}", str(i)), Param("same", "v")],
                    tags=[RunTag(f"t{worker}", str(i))],
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    run = store.get_run(run_id)
    assert len(run.data.params) == 4 * 50 + 1
    assert run.data.metrics == {f"m{w}": 49.0 for w in range(4)}
    assert {run.data.tags[f"t{w}"] for w in range(4)} == {"49"}
    found = store.search_runs(["0"], "params.same = 'v' and metrics.m3 = 49")
    assert [r.info.run_id for r in found] == [run_id]


def test_concurrent_different_param_values_one_wins(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path / "mlruns"))
    run_id = store.create_run("0", "u", 0, [], "race").info.run_id
    outcomes: list[str] = []

    def log(value: str) -> None:
        try:
            store.log_batch(run_id, params=[Param("p", value)])
            outcomes.append("ok")
        except InvalidParameterValue:
            outcomes.append("refused")

    threads = [threading.Thread(target=log, args=(str(v),)) for v in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 1
    value = store.get_run(run_id).data.params["p"]
    assert value in {str(v) for v in range(8)}


def test_failed_meta_write_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(str(tmp_path / "mlruns"))
    run = store.create_run("0", "u", 0, [], "keep")
    meta = Path(run.info.artifact_uri.removeprefix("file://")).parent / "meta.yaml"  # type: ignore[union-attr]
    before = meta.read_bytes()

    def explode(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", explode)
    with pytest.raises(OSError, match="disk full"):
        store.delete_run(run.info.run_id)
    monkeypatch.undo()
    assert meta.read_bytes() == before
    leftovers = [p.name for p in meta.parent.rglob("*") if p.name.startswith(layout.TMP_PREFIX)]
    assert leftovers == []
    assert store.get_run(run.info.run_id).info.lifecycle_stage == "active"


REWRITER = """
import sys
from cairn.store.file.store import FileStore
store = FileStore(sys.argv[1])
run_id = sys.argv[2]
print("ready", flush=True)
while True:
    store.update_run_info(run_id, None, None, "x" * 3000)
    store.update_run_info(run_id, None, None, "y")
"""


def test_killed_writer_never_leaves_a_torn_meta_file(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    store = FileStore(str(root))
    run = store.create_run("0", "u", 0, [], "start")
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(REWRITER), str(root), run.info.run_id],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"ready"
    meta = root / "0" / run.info.run_id / "meta.yaml"
    names = set()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:  # readers racing the writer always see a whole file
        names.add(layout.load_yaml(meta)["run_name"])  # type: ignore[index]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert names <= {"start", "x" * 3000, "y"}
    final = store.get_run(run.info.run_id)
    assert final.info.run_name in {"x" * 3000, "y"}
    assert final.data.tags["mlflow.runName"] in {"x" * 3000, "y"}


@pytest.mark.parametrize("rewrite", ["other store", "in place"])
def test_a_run_deleted_by_another_writer_refuses_logging(tmp_path: Path, rewrite: str) -> None:
    # the store remembers each run's state between calls; a change on disk must show
    root = tmp_path / "mlruns"
    store = FileStore(str(root))
    run_id = store.create_run("0", "u", 1000, [], "r").info.run_id
    store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)])
    if rewrite == "other store":
        FileStore(str(root)).delete_run(run_id)
    else:  # as a plain editor (or an older MLflow) would: same file, rewritten
        meta = root / "0" / run_id / layout.META
        text = meta.read_text(encoding="utf-8")
        meta.write_text(text.replace("lifecycle_stage: active", "lifecycle_stage: deleted"))
    with pytest.raises(InvalidParameterValue, match="must be in the 'active' state"):
        store.log_batch(run_id, metrics=[Metric("m", 2.0, 1, 1)])


def test_ending_a_run_keeps_what_another_writer_put_in_its_meta_file(tmp_path: Path) -> None:
    # the store remembers the meta.yaml it wrote; a rewrite by anyone else must win over it
    root = tmp_path / "mlruns"
    store = FileStore(str(root))
    run_id = store.create_run("0", "u", 1000, [], "r").info.run_id
    meta = root / "0" / run_id / layout.META
    text = meta.read_text(encoding="utf-8")
    meta.write_text(text.replace("user_id: u", "user_id: someone") + "written_by: other\n")
    store.update_run_info(run_id, RunStatus.FINISHED, 2000, None)
    ended = layout.load_yaml(meta)
    assert ended is not None
    assert (ended["written_by"], ended["user_id"], ended["end_time"]) == ("other", "someone", 2000)
    assert ended["status"] == int(RunStatus.FINISHED)
    info = store.get_run(run_id).info
    assert (info.user_id, info.status, info.end_time) == ("someone", "FINISHED", 2000)
    # and the file this store wrote last is what it reads back, here and in another store
    store.update_run_info(run_id, None, None, "renamed")
    for reader_store in (store, FileStore(str(root))):
        info = reader_store.get_run(run_id).info
        assert (info.run_name, info.user_id, info.status) == ("renamed", "someone", "FINISHED")
    assert layout.load_yaml(meta)["written_by"] == "other"  # type: ignore[index]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_a_child_forked_while_the_index_is_busy_can_log_and_search(tmp_path: Path) -> None:
    """The index's lock, held by another thread at the fork (its backlog timer mirrors
    in the background), would stay held in the child and hang its first write."""
    store = FileStore(str(tmp_path / "mlruns"))
    experiment_id = store.create_experiment("forked")
    run_id = store.create_run(experiment_id, "u", 1, [], None).info.run_id
    assert len(store.search_runs([experiment_id])) == 1  # the index is open

    def log_and_search() -> bool:
        store.log_batch(run_id, [Metric("m", 2.0, 1, 0)])
        found = store.search_runs([experiment_id], "metrics.m = 2")
        return [r.info.run_id for r in found] == [run_id]

    with held_by_another_thread(store.index._lock):
        assert in_forked_child(log_and_search)
    assert [r.info.run_id for r in store.search_runs([experiment_id], "metrics.m = 2")] == [run_id]
