"""The search index is a cache of the files: losing it, or editing files behind it, is safe."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from cairn.entities import Metric, Param, RunTag, ViewType
from cairn.store.file import layout
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
