"""The search index is a cache of the files: losing it, or editing files behind it, is safe."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pytest

from cairn.entities import Metric, Param, RunStatus, RunTag, ViewType
from cairn.store.file import index as index_module
from cairn.store.file import layout, mirror
from cairn.store.file.store import FileStore

QUERIES = [
    ("", None),
    ("metrics.acc > 0.5", ["metrics.acc DESC"]),
    ("params.group = 'b' and tags.kind LIKE 'k%'", ["params.idx ASC"]),
    ("attributes.status = 'FINISHED'", ["attributes.start_time ASC"]),
    ("metrics.loss <= 3", ["metrics.loss ASC", "params.group DESC"]),
]


def _populate(store: FileStore) -> str:
    exp_id = store.create_experiment("indexed")
    for i in range(30):
        run_id = store.create_run(
            exp_id, "u", 1000 + i, [RunTag("kind", f"k{i % 3}")], None
        ).info.run_id
        store.log_batch(
            run_id,
            metrics=[Metric("acc", i / 30, 5, 0), Metric("loss", float(i % 7), 5, i)],
            params=[Param("group", "ab"[i % 2]), Param("idx", f"{i:03d}")],
        )
        if i % 4 == 0:
            store.update_run_info(run_id, 3, 2000 + i, None)
        if i % 5 == 0:
            store.delete_run(run_id)
    return exp_id


def _results(store: FileStore, exp_id: str) -> list[list[str]]:
    out = []
    for view in (ViewType.ACTIVE_ONLY, ViewType.ALL):
        for filter_string, order_by in QUERIES:
            page = store.search_runs([exp_id, "0"], filter_string, view, 7, order_by)
            ids = [r.info.run_id for r in page]
            while page.token:
                page = store.search_runs(
                    [exp_id, "0"], filter_string, view, 7, order_by, page.token
                )
                ids += [r.info.run_id for r in page]
            out.append(ids)
    return out


def test_deleting_the_index_gives_identical_results(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    store = FileStore(str(root))
    exp_id = _populate(store)
    before = _results(store, exp_id)
    assert (root / layout.INDEX_FILE).is_file()
    assert len(before[0]) == 24
    assert len(before[5]) == 30
    store.index.close()
    for path in root.glob(layout.INDEX_FILE + "*"):
        path.unlink()

    reopened = FileStore(str(root))
    assert _results(reopened, exp_id) == before
    # and the results equal a plain scan of the files, with no index at all
    scanned = [
        r.info.run_id
        for r in reopened._scan_runs([root / exp_id, root / "0"], ViewType.ACTIVE_ONLY)
    ]
    assert sorted(scanned) == sorted(before[0])


def test_a_corrupt_index_is_rebuilt(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    store = FileStore(str(root))
    exp_id = _populate(store)
    before = _results(store, exp_id)
    store.index.close()
    for path in root.glob(layout.INDEX_FILE + "*"):
        path.unlink()
    (root / layout.INDEX_FILE).write_bytes(b"this is not a database")
    assert _results(FileStore(str(root)), exp_id) == before


def test_file_changes_behind_the_index_are_picked_up(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    store = FileStore(str(root))
    exp_id = store.create_experiment("edited")
    keep = store.create_run(exp_id, "u", 1, [], "keep").info.run_id
    copy_from = store.create_run(exp_id, "u", 2, [], "source").info.run_id
    store.log_batch(copy_from, params=[Param("p", "1")])
    assert len(store.search_runs([exp_id], "params.p = '1'")) == 1

    # another writer copies a run in, removes one, and edits a third's files in place
    clone = "c" * 32
    shutil.copytree(root / exp_id / copy_from, root / exp_id / clone)
    meta = (root / exp_id / clone / "meta.yaml").read_text().replace(copy_from, clone)
    (root / exp_id / clone / "meta.yaml").write_text(meta)
    shutil.rmtree(root / exp_id / copy_from)
    (root / exp_id / keep / "params" / "p").write_text("1")
    os.utime(root / exp_id / keep / "params", ns=(1, 1))  # a stamp the index never saw

    fresh = FileStore(str(root))  # a new process: checks every run's stamp once
    assert sorted(r.info.run_id for r in fresh.search_runs([exp_id], "params.p = '1'")) == sorted(
        [keep, clone]
    )
    # the running store sees the added and removed runs through the experiment fingerprint
    assert clone in {r.info.run_id for r in store.search_runs([exp_id], "params.p = '1'")}
    assert copy_from not in {r.info.run_id for r in store.search_runs([exp_id], "")}


# -- edits made behind the index's back, inside runs it already holds ----------------
def _ids(runs: list) -> list[str]:  # type: ignore[type-arg]
    return [run.info.run_id for run in runs]


def _append(store: FileStore, run_id: str, key: str, line: str) -> None:
    (run_dir,) = store.root.glob(f"*/{run_id}")
    with open(run_dir / layout.METRICS / key, "a", encoding="utf-8") as handle:
        handle.write(line)


def test_every_run_is_rechecked_within_a_bounded_number_of_searches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "_RECHECK_RUNS_PER_SEARCH", 4)
    monkeypatch.setattr(index_module, "_RECHECK_ALL_RUNS_INTERVAL_S", 0.0)
    store = FileStore(str(tmp_path / "mlruns"))
    exp_id = store.create_experiment("many")
    run_ids = []
    for i in range(12):
        run_id = store.create_run(exp_id, "u", 1000 + i, [], f"r{i}").info.run_id
        store.log_batch(run_id, metrics=[Metric("m", 0.0, 1, 0)])
        store.update_run_info(run_id, RunStatus.FINISHED, 2000, None)
        run_ids.append(run_id)
    assert store.search_runs([exp_id], "metrics.m > 0") == []
    for run_id in run_ids:
        _append(store, run_id, "m", "5 1.0 3\n")
    # 4 runs a search (none RUNNING): the 12 are all seen after 3 more searches
    for _ in range(3):
        store.search_runs([exp_id], "")
    assert sorted(_ids(store.search_runs([exp_id], "metrics.m > 0"))) == sorted(run_ids)


def test_finished_runs_are_rechecked_at_most_once_an_interval_running_runs_always(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(index_module, "monotonic", lambda: clock[0])
    store = FileStore(str(tmp_path / "mlruns"))
    exp_id = store.create_experiment("burst")
    finished = store.create_run(exp_id, "u", 1000, [], "finished").info.run_id
    running = store.create_run(exp_id, "u", 1001, [], "running").info.run_id
    for run_id in (finished, running):
        store.log_batch(run_id, metrics=[Metric("m", 0.0, 1, 0)])
    store.update_run_info(finished, RunStatus.FINISHED, 2000, None)
    assert store.search_runs([exp_id], "metrics.m > 0") == []  # builds the index

    _append(store, finished, "m", "5 1.0 3\n")
    _append(store, running, "m", "5 1.0 3\n")
    # within the interval only the RUNNING run is looked at again
    clock[0] += index_module._RECHECK_ALL_RUNS_INTERVAL_S / 2
    assert _ids(store.search_runs([exp_id], "metrics.m > 0")) == [running]
    # once it has passed, the finished run's slice comes round too
    clock[0] += index_module._RECHECK_ALL_RUNS_INTERVAL_S
    assert sorted(_ids(store.search_runs([exp_id], "metrics.m > 0"))) == sorted([finished, running])


def test_only_the_appended_bytes_are_read_and_torn_lines_wait(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path / "mlruns"))
    exp_id = store.create_experiment("tail")
    run_id = store.create_run(exp_id, "u", 1000, [], "r").info.run_id
    store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)])
    assert _ids(store.search_runs([exp_id], "metrics.m = 1")) == [run_id]

    _append(store, run_id, "m", "7 2.0 1\n8 3.")  # the second line is still being written
    assert _ids(store.search_runs([exp_id], "metrics.m = 2")) == [run_id]
    _append(store, run_id, "m", "0 2\n")
    assert _ids(store.search_runs([exp_id], "metrics.m = 3")) == [run_id]
    assert store.search_runs([exp_id], "")[0].data.metrics == {"m": 3.0}


def test_a_rewritten_shorter_metric_file_is_read_again(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path / "mlruns"))
    exp_id = store.create_experiment("rewrite")
    run_id = store.create_run(exp_id, "u", 1000, [], "r").info.run_id
    store.log_batch(run_id, metrics=[Metric("m", 9.0, 1, 5), Metric("m", 8.0, 2, 6)])
    assert store.search_runs([exp_id], "")[0].data.metrics == {"m": 8.0}
    (run_dir,) = store.root.glob(f"*/{run_id}")
    (run_dir / layout.METRICS / "m").write_text("1 4.0 0\n", encoding="utf-8")
    assert store.search_runs([exp_id], "")[0].data.metrics == {"m": 4.0}


def test_cairn_appends_leave_nothing_for_the_recheck_to_read(tmp_path: Path) -> None:
    # the re-check must not re-read what Cairn itself logged (it would cost every search)
    import sqlalchemy as sa

    from cairn.store.file import tails

    store = FileStore(str(tmp_path / "mlruns"))
    exp_id = store.create_experiment("own")
    run_id = store.create_run(exp_id, "u", 1000, [], "r").info.run_id
    store.search_runs([exp_id], "")  # writes go to the index once a search has made it
    for step in range(3):
        store.log_batch(run_id, metrics=[Metric("a", 1.0, 1, step), Metric("b/c", 2.0, 1, step)])
    store.index.flush_pending()  # metric-only writes reach the index in batches
    (run_dir,) = store.root.glob(f"*/{run_id}")
    engine = sa.create_engine(f"sqlite:///{store.root / layout.INDEX_FILE}")
    with engine.connect() as conn:
        offsets = dict(
            conn.execute(
                sa.text(f"SELECT key, offset FROM {mirror.OFFSETS_TABLE} WHERE run_uuid = :r"),
                {"r": run_id},
            ).all()
        )
    engine.dispose()
    assert offsets == tails.metric_file_sizes(run_dir)


def test_metric_writes_waiting_for_the_index_are_searched(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path / "mlruns"))
    exp_id = store.create_experiment("deferred")
    run_id = store.create_run(exp_id, "u", 1000, [], "r").info.run_id
    for step in range(5):
        store.log_batch(run_id, metrics=[Metric("loss", 10.0 - step, 1, step)])
    found = store.search_runs([exp_id], "metrics.loss < 7")
    assert [r.info.run_id for r in found] == [run_id]
    assert found[0].data.metrics == {"loss": 6.0}


KILLED_WRITER = """
import os, sys
from cairn.entities import Metric
from cairn.store.file.store import FileStore

store = FileStore(sys.argv[1])
for step in range(50):
    store.log_batch(sys.argv[2], metrics=[Metric("loss", 100.0 - step, 1, step)])
os._exit(0)  # dies like a killed process: no exit handlers, nothing flushed
"""


def test_metrics_of_a_process_that_died_before_mirroring_are_searched(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = tmp_path / "mlruns"
    store = FileStore(str(root))
    exp_id = store.create_experiment("killed")
    run_id = store.create_run(exp_id, "u", 1000, [], "r").info.run_id
    assert store.search_runs([exp_id], "metrics.loss < 60") == []
    subprocess.run([sys.executable, "-c", KILLED_WRITER, str(root), run_id], check=True)
    for searcher in (store, FileStore(str(root))):
        found = searcher.search_runs([exp_id], "metrics.loss < 60")
        assert [r.info.run_id for r in found] == [run_id]
        assert found[0].data.metrics == {"loss": 51.0}


def test_a_lone_metric_write_reaches_the_index_without_further_calls(tmp_path: Path) -> None:
    # other processes read the index: a write must not wait there for the next one
    import sqlite3
    import time

    store = FileStore(str(tmp_path / "mlruns"))
    run_id = store.create_run("0", "u", 1000, [], "r").info.run_id
    store.search_runs(["0"], "")  # writes go to the index once a search has made it
    store.log_batch(run_id, metrics=[Metric("loss", 0.25, 1, 3)])
    found: list[tuple[float, int]] = []
    deadline = time.monotonic() + 30
    while not found and time.monotonic() < deadline:
        time.sleep(0.05)
        with contextlib.closing(sqlite3.connect(store.root / layout.INDEX_FILE)) as conn:
            found = conn.execute(
                "SELECT value, step FROM latest_metrics WHERE run_uuid = ?", (run_id,)
            ).fetchall()
    assert found == [(0.25, 3)]


KILLED_RUN_WRITER = """
import os, sys
from cairn.entities import Metric, Param, RunStatus, RunTag
from cairn.store.file.store import FileStore

store = FileStore(sys.argv[1])
run_id = sys.argv[3] if len(sys.argv) > 3 else store.create_run(sys.argv[2], "u", 1000, [], "r").info.run_id
store.log_batch(run_id, [Metric("loss", 0.5, 1, 0)], [Param("p", sys.argv[2])], [RunTag("t", "v")])
store.update_run_info(run_id, RunStatus.FINISHED, 2000, None)
print(run_id)
os._exit(0)  # dies like a killed process: no exit handlers, nothing mirrored
"""


def _write_and_die(root: Path, exp_id: str, run_id: str | None = None) -> str:
    import subprocess
    import sys

    argv = [
        sys.executable,
        "-c",
        KILLED_RUN_WRITER,
        str(root),
        exp_id,
        *([run_id] if run_id else []),
    ]
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def test_runs_written_by_a_process_that_died_before_mirroring_are_searched(
    tmp_path: Path,
) -> None:
    root = tmp_path / "mlruns"
    store = FileStore(str(root))
    exp_id = store.create_experiment("killed")
    assert store.search_runs([exp_id], "") == []  # the index exists from here on
    run_id = _write_and_die(root, exp_id)
    for searcher in (store, FileStore(str(root))):
        found = searcher.search_runs([exp_id], f"params.p = '{exp_id}' and tags.t = 'v'")
        assert [r.info.run_id for r in found] == [run_id]
        assert found[0].info.status == "FINISHED"
        assert found[0].data.metrics == {"loss": 0.5}


def test_changes_to_an_indexed_run_by_a_process_that_died_are_searched(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    store = FileStore(str(root))
    exp_id = store.create_experiment("killed later")
    run_id = store.create_run(exp_id, "u", 1000, [], "r").info.run_id
    assert [r.info.status for r in store.search_runs([exp_id], "")] == ["RUNNING"]
    _write_and_die(root, exp_id, run_id)
    found = store.search_runs([exp_id], "attributes.status = 'FINISHED' and params.p != ''")
    assert [r.info.run_id for r in found] == [run_id]
    assert found[0].data.tags["t"] == "v"


@pytest.mark.parametrize("ids", [None, ["7", "10", "9", "0", "123456789012345678"]])
def test_runs_order_by_the_real_experiment_id(tmp_path: Path, ids: list[str] | None) -> None:
    # ids None: MLflow's random 18-digit ids; else ids of older stores, "10" after "9"
    store = FileStore(str(tmp_path / "mlruns"))
    if ids is None:
        ids = [store.create_experiment(f"e{i}") for i in range(6)] + ["0"]
    else:
        for experiment_id in ids:
            if experiment_id != "0":
                store._write_new_experiment(experiment_id, f"e{experiment_id}", None, ())
    by_experiment = {store.create_run(e, "u", 1000, [], "r").info.run_id: e for e in ids}
    expected = sorted(ids, key=int)
    # searched in an order unlike the ids', so the index meets them out of order
    searched = sorted(ids, key=lambda e: e[::-1])
    for direction, ordered in (("ASC", expected), ("DESC", expected[::-1])):
        found = store.search_runs(searched, "", order_by=[f"attributes.experiment_id {direction}"])
        assert [by_experiment[r.info.run_id] for r in found] == ordered
        assert [r.info.experiment_id for r in found] == ordered


def test_a_large_first_indexing_is_announced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "mlruns"
    exp_id = _populate(FileStore(str(root)))
    assert not (root / layout.INDEX_FILE).exists()  # nothing searched yet
    monkeypatch.setattr(index_module, "_ANNOUNCED_SYNC_RUNS", 10)
    with caplog.at_level("WARNING", logger=index_module.__name__):
        found = FileStore(str(root)).search_runs([exp_id], "", ViewType.ALL, 100)
    assert len(found) == 30
    assert f"Indexing 30 runs of experiment {exp_id}" in caplog.text


def test_a_first_indexing_stores_runs_in_start_time_order(tmp_path: Path) -> None:
    # Searches walk runs by start_time; rows stored in that order make them cheaper.
    root = tmp_path / "mlruns"
    exp_id = _populate(FileStore(str(root)))
    FileStore(str(root)).search_runs([exp_id], "", ViewType.ALL, 1)
    with contextlib.closing(mirror.connect(root / layout.INDEX_FILE)) as db:
        stored = [row[0] for row in db.execute("SELECT start_time FROM runs ORDER BY rowid")]
    assert stored == sorted(range(1000, 1030))


def test_searched_runs_equal_the_runs_read_from_their_files(tmp_path: Path) -> None:
    """The index numbers experiments itself; what a search returns carries the real
    (18-digit) experiment id and every other field exactly as ``get_run`` reads them."""
    store = FileStore(str(tmp_path / "mlruns"))
    exp_id = _populate(store)
    assert len(exp_id) == 18
    found = store.search_runs([exp_id], "", ViewType.ALL, 1000)
    assert store.index.search_runs([tmp_path / "mlruns" / exp_id], "", ViewType.ALL, 1000, None, 0)
    assert len(found) == 30
    assert all(run.info.experiment_id == exp_id for run in found)
    assert list(found) == [store.get_run(run.info.run_id) for run in found]
