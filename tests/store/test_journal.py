"""The offline journal: durability, torn lines after a crash, exactly-once replay."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from cairn import env
from cairn.entities import Metric, PagedList, Param, RunStatus, RunTag
from cairn.store.journal import Journal, JournalBatch, journal_dir_for
from cairn.store.registry import create_tracking_store


def batch(run_id: str, first_step: int, n: int = 3, **extra: Any) -> JournalBatch:
    metrics = tuple(
        Metric("loss", float(s), 1000 + s, s) for s in range(first_step, first_step + n)
    )
    return JournalBatch(run_id, metrics, **extra)


class FlakyStore:
    """Fails the first ``failures`` log_batch calls, then records what it is sent."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.batches: list[tuple[str, list[Metric], list[Param], list[RunTag]]] = []

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("server unreachable")
        self.batches.append((run_id, list(metrics), list(params), list(tags)))

    def get_metric_history(
        self, run_id: str, key: str, max_results: int | None = None, token: str | None = None
    ) -> PagedList[Metric]:
        found = [m for rid, ms, _, _ in self.batches if rid == run_id for m in ms if m.key == key]
        return PagedList(found, None)

    def steps(self) -> list[int]:
        return [m.step for _, metrics, _, _ in self.batches for m in metrics]


def test_appended_and_replayed_batches_survive_a_new_process_view(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j")
    first = journal.append(batch("r1", 0, params=(Param("lr", "0.1"),)))
    second = journal.append(batch("r1", 3, tags=(RunTag("phase", "train"),)))
    assert (first, second) == (1, 2)

    class TakesOnlyParams(FlakyStore):
        def log_batch(self, run_id: str, metrics: Sequence[Metric] = (), *args: Any) -> None:
            if args[1]:
                raise ConnectionError("down again")
            super().log_batch(run_id, metrics, *args)

    with pytest.raises(ConnectionError):
        journal.replay(TakesOnlyParams())  # type: ignore[arg-type]
    reopened = Journal(tmp_path / "j")
    [(seq, pending)] = list(reopened.pending())
    assert seq == 2
    assert [m.step for m in pending.metrics] == [3, 4, 5]
    assert pending.tags == (RunTag("phase", "train"),)
    assert len(reopened) == 1


def test_values_round_trip_exactly_including_nan_and_infinity(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    metrics = (Metric("a", math.nan, 1, 0), Metric("b", -math.inf, 2, 1), Metric("c", 0.1, 3, 2))
    original = JournalBatch("r", metrics, (Param("p", "ü ✓"),), (RunTag("t", 'quote " \n'),))
    journal.append(original)
    [(_, loaded)] = list(journal.pending())
    assert loaded.batch_id == original.batch_id
    assert math.isnan(loaded.metrics[0].value)
    assert loaded.metrics[1:] == metrics[1:]
    assert (loaded.params, loaded.tags) == (original.params, original.tags)


def test_replay_after_failures_sends_each_batch_once_in_order(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    for i in range(5):
        journal.append(batch("r1", i * 3))
    store = FlakyStore(failures=2)
    with pytest.raises(ConnectionError):
        journal.replay(store)  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        journal.replay(store)  # type: ignore[arg-type]
    assert len(journal) == 5
    assert journal.replay(store) == 5  # type: ignore[arg-type]
    assert store.steps() == list(range(15))
    assert journal.replay(store) == 0  # type: ignore[arg-type]
    assert store.steps() == list(range(15))
    assert not (tmp_path / "batches.jsonl").exists()  # compacted once empty


def test_replay_reports_each_batch_it_deals_with(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    for i in range(4):
        journal.append(batch("r1", i * 3))
    journal.append(batch("r1", 0), uncertain=True)  # already there: skipped, still counted
    store = FlakyStore()
    progress: list[tuple[int, int]] = []  # (batches reported, points in the store then)
    journal.replay(store, on_batch=lambda n: progress.append((n, len(store.steps()))))  # type: ignore[arg-type]
    assert progress == [(1, 3), (1, 6), (1, 9), (1, 12), (1, 12)]


def test_replay_stops_at_a_failure_and_keeps_the_rest_pending(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    for i in range(3):
        journal.append(batch("r1", i * 3))

    class FailsSecond(FlakyStore):
        def log_batch(self, run_id: str, metrics: Sequence[Metric] = (), *args: Any) -> None:
            if metrics[0].step == 3 and not getattr(self, "failed", False):
                self.failed = True
                raise ConnectionError("down again")
            super().log_batch(run_id, metrics, *args)

    store = FailsSecond()
    with pytest.raises(ConnectionError):
        journal.replay(store)  # type: ignore[arg-type]
    assert [seq for seq, _ in journal.pending()] == [2, 3]
    journal.replay(store)  # type: ignore[arg-type]
    assert store.steps() == list(range(9))


def test_replay_sends_the_batch_as_logged_with_no_tag_of_its_own(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    item = batch("r1", 0, tags=(RunTag("a", "1"),))
    journal.append(item)
    store = FlakyStore()
    journal.replay(store)  # type: ignore[arg-type]
    [(_, metrics, _, tags)] = store.batches
    assert tags == [RunTag("a", "1")]
    assert [m.step for m in metrics] == [0, 1, 2]


def test_a_batch_appended_twice_is_replayed_once(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    item = batch("r1", 0)
    journal.append(item)
    journal.append(item)  # e.g. two failover attempts journaled the same batch
    store = FlakyStore()
    assert journal.replay(store) == 1  # type: ignore[arg-type]
    assert store.steps() == [0, 1, 2]


@pytest.fixture
def file_store_run(store_uri_factory: Callable[[str], str]) -> tuple[Any, str]:
    # The file store appends every point it is given: a duplicate would show.
    store = create_tracking_store(store_uri_factory("file"))
    return store, store.create_run("0", "me", 0, [], None).info.run_id


@pytest.mark.parametrize("crash_after", [1, 2], ids=["first-batch", "second-batch"])
def test_a_crash_after_the_store_applied_a_batch_does_not_duplicate(
    tmp_path: Path,
    file_store_run: tuple[Any, str],
    monkeypatch: pytest.MonkeyPatch,
    crash_after: int,
) -> None:
    """The process dies once the store has applied a batch and before the journal
    recorded it (its "done" goes out with the next batch's "sending")."""
    store, run_id = file_store_run
    journal = Journal(tmp_path / "j")
    for first_step in (0, 3, 6):
        journal.append(batch(run_id, first_step))
    log_batch, applied = store.log_batch, []

    def apply_then_crash(*args: Any) -> None:
        log_batch(*args)
        applied.append(args)
        if len(applied) == crash_after:
            raise SystemExit("killed after the store applied the batch")

    monkeypatch.setattr(store, "log_batch", apply_then_crash)
    with pytest.raises(SystemExit):
        journal.replay(store)
    monkeypatch.setattr(store, "log_batch", log_batch)
    # a new process: same files, nothing in memory
    restarted = Journal(tmp_path / "j")
    assert restarted.replay(store) == 3 - crash_after  # the crashed one found applied
    history = store.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == list(range(9))
    assert len(restarted) == 0


def test_an_uncertain_batch_that_never_arrived_is_replayed(
    tmp_path: Path, file_store_run: tuple[Any, str]
) -> None:
    store, run_id = file_store_run
    journal = Journal(tmp_path)
    arrived = batch(run_id, 0)
    store.log_batch(run_id, *arrived.store_args())  # the server applied it, the reply was lost
    journal.append(arrived, uncertain=True)
    journal.append(batch(run_id, 3), uncertain=True)  # this one never reached it
    assert journal.replay(store) == 1
    assert [m.step for m in store.get_metric_history(run_id, "loss")] == list(range(6))


def test_uncertain_batches_leave_no_duplicate_and_no_trace_in_the_run(
    tmp_path: Path, file_store_run: tuple[Any, str]
) -> None:
    store, run_id = file_store_run
    journal = Journal(tmp_path)
    first = batch(run_id, 0, params=(Param("lr", "0.1"),), tags=(RunTag("phase", "a"),))
    store.log_batch(run_id, *first.store_args())  # applied, but the reply was lost
    journal.append(first, uncertain=True)
    journal.append(JournalBatch(run_id, tags=(RunTag("phase", "b"),)), uncertain=True)
    journal.append(batch(run_id, 3))
    # the first batch's params and tags go again: they may be what a dying server missed
    assert journal.replay(store) == 3
    run = store.get_run(run_id)
    assert [m.step for m in store.get_metric_history(run_id, "loss")] == list(range(6))
    assert run.data.params == {"lr": "0.1"}
    assert run.data.tags["phase"] == "b"
    assert not [key for key in run.data.tags if key.startswith("cairn.")]


def test_a_run_ended_offline_is_ended_on_replay_after_its_data(
    tmp_path: Path, file_store_run: tuple[Any, str]
) -> None:
    store, run_id = file_store_run
    journal = Journal(tmp_path)
    journal.append(batch(run_id, 0))
    journal.append(JournalBatch(run_id, end=("FAILED", 12345)))
    journal.append(JournalBatch(run_id, end=("FAILED", 12345)), uncertain=True)
    ends = [b.end for _, b in Journal(tmp_path).pending()]
    assert ends == [None, ("FAILED", 12345), ("FAILED", 12345)]
    journal.replay(store)
    info = store.get_run(run_id).info
    assert (info.status, info.end_time) == (RunStatus.to_string(RunStatus.FAILED), 12345)
    assert len(store.get_metric_history(run_id, "loss")) == 3


def test_journal_directory_follows_xdg_and_hashes_the_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    a = journal_dir_for("http://tracking:5000")
    assert a.parent == tmp_path / "cache" / "cairn" / "journal"
    assert a != journal_dir_for("http://other:5000")
    # credentials do not change which journal a server has, nor are they written down
    assert journal_dir_for("http://user:secret@tracking:5000") == a
    journal = Journal.for_tracking_uri("http://user:secret@tracking:5000")
    assert journal.tracking_uri == "http://tracking:5000"
    assert "secret" not in (journal.directory / "uri").read_text()
    monkeypatch.setenv(env.JOURNAL_DIR.name, str(tmp_path / "elsewhere"))
    assert journal_dir_for("http://tracking:5000").parent == tmp_path / "elsewhere"


def test_a_torn_last_line_is_ignored_and_cut_before_the_next_append(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append(batch("r", 0))
    with open(tmp_path / "batches.jsonl", "ab") as handle:
        handle.write(b'{"seq":2,"id":"abc","run_id":"r","metr')
    assert [seq for seq, _ in journal.pending()] == [1]
    journal.append(batch("r", 3))
    assert [seq for seq, _ in Journal(tmp_path).pending()] == [1, 2]


def test_kill_9_mid_append_leaves_a_readable_journal(tmp_path: Path) -> None:
    directory = tmp_path / "j"
    code = f"""
        import sys
        from cairn.entities import Metric
        from cairn.store.journal import Journal, JournalBatch
        journal = Journal({str(directory)!r})
        print("ready", flush=True)
        step = 0
        while True:
            metrics = tuple(Metric("m" * 200, 0.5, 1, step + i) for i in range(999))
            journal.append(JournalBatch("run", metrics))
            step += 999
        """
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        journal_file = directory / "batches.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # let it write a few batches, then kill it
            if journal_file.exists() and journal_file.stat().st_size > 1_000_000:
                break
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(30)
        if child.stdout is not None:
            child.stdout.close()
    journal = Journal(directory)
    pending = list(journal.pending())
    assert pending, "the child wrote at least one whole batch"
    steps = [m.step for _, b in pending for m in b.metrics]
    assert steps == list(range(len(steps)))  # whole batches only, no gaps
    assert all(len(b.metrics) == 999 for _, b in pending)
    next_seq = pending[-1][0] + 1
    assert journal.append(batch("run", 0)) == next_seq
    assert [seq for seq, _ in Journal(directory).pending()][-1] == next_seq


def test_a_compaction_cut_short_does_not_swallow_later_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between deleting the batches and the acks: the acks left behind must not
    answer for the batches appended next."""
    journal = Journal(tmp_path / "j")
    for first_step in (0, 3):
        journal.append(batch("r1", first_step))
    unlink = Path.unlink

    def die_after_the_batches(path: Path, missing_ok: bool = False) -> None:
        unlink(path, missing_ok)
        if path.name == "batches.jsonl":
            raise SystemExit("killed mid-compaction")

    monkeypatch.setattr(Path, "unlink", die_after_the_batches)
    store = FlakyStore()
    with pytest.raises(SystemExit):
        journal.replay(store)  # type: ignore[arg-type]
    monkeypatch.setattr(Path, "unlink", unlink)
    restarted = Journal(tmp_path / "j")
    restarted.append(batch("r1", 6))
    assert len(restarted) == 1
    assert restarted.replay(store) == 1  # type: ignore[arg-type]
    assert store.steps() == list(range(9))


def test_a_batch_a_dying_server_kept_part_of_is_completed_without_duplicates(
    tmp_path: Path, file_store_run: tuple[Any, str]
) -> None:
    """An mlruns store writes params, then each key's points, then tags: a server killed
    in the middle kept the params and one key's points."""
    store, run_id = file_store_run
    loss = [Metric("loss", float(s), 1000 + s, s) for s in range(3)]
    acc = [Metric("acc", s / 10, 1000 + s, s) for s in range(3)]
    whole = JournalBatch(run_id, (*loss, *acc), (Param("lr", "0.1"),), (RunTag("phase", "a"),))
    store.log_batch(run_id, loss, [Param("lr", "0.1")])  # what the server kept
    journal = Journal(tmp_path)
    journal.append(whole, uncertain=True)
    assert journal.replay(store) == 1
    for key in ("loss", "acc"):
        assert [m.step for m in store.get_metric_history(run_id, key)] == [0, 1, 2]
    run = store.get_run(run_id)
    assert run.data.params == {"lr": "0.1"}
    assert run.data.tags["phase"] == "a"
