"""Offline failover end to end: a real server killed mid-run, restarted, and nothing lost.

Each test starts a real ``cairn server`` process; the fluent API logs from a training
loop; the server is killed (SIGKILL) while the loop goes on, then restarted on the same
port over the same store; every point must arrive exactly once, in order.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

import cairn
from cairn.cli import main as cli_main
from cairn.entities import Metric, PagedList, Param, RunTag
from cairn.exceptions import (
    ErrorCode,
    InvalidParameterValue,
    MlflowException,
    ResourceDoesNotExist,
    TemporarilyUnavailable,
)
from cairn.store.journal import Journal
from cairn.tracking import MlflowClient
from cairn.tracking.batching import AsyncLoggingError
from cairn.tracking.offline import OfflineFailover, is_unreachable
from forks import held_by_another_thread, in_forked_child
from server.live import LiveServer, free_port, start_server, stop_server

live = [pytest.mark.server, pytest.mark.slow]


def with_live_server(test: Callable[..., None]) -> Callable[..., None]:
    for mark in live:
        test = mark(test)
    return test


OFFLINE_LOGGER = "cairn.tracking.offline"


@pytest.fixture(autouse=True)
def _fast_failover(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Journals in the test's directory; short retries so an outage is noticed fast."""
    monkeypatch.setenv("CAIRN_JOURNAL_DIR", str(tmp_path / "journals"))
    monkeypatch.setenv("CAIRN_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("CAIRN_HTTP_REQUEST_BACKOFF_FACTOR", "0.05")
    monkeypatch.setenv("CAIRN_HTTP_REQUEST_TIMEOUT", "20")
    monkeypatch.setenv("CAIRN_JOURNAL_RETRY_INTERVAL", "0.2")


class Server:
    """A cairn server that can be killed and started again on the same port and store."""

    def __init__(self, root: Path, backend_uri: str) -> None:
        self.root = root
        self.args = (backend_uri, None, None, True, False, "127.0.0.1", free_port(), 1)
        self.live: LiveServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.args[6]}"

    def start(self) -> None:
        self.live = start_server(self.root, *self.args)

    def kill(self) -> None:
        assert self.live is not None
        self.live.process.kill()  # no graceful shutdown: the server just vanishes
        self.live.process.wait(30)
        self.live = None

    def stop(self) -> None:
        if self.live is not None:
            stop_server(self.live.process)
            self.live = None


@pytest.fixture(params=["sqlite", "file"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """The file store keeps every point it is sent, so a duplicate would show there."""
    root = tmp_path / "server"
    root.mkdir()
    backend = (
        f"sqlite:///{root / 'cairn.db'}" if request.param == "sqlite" else str(root / "mlruns")
    )
    instance = Server(root, backend)
    yield instance
    instance.stop()


def offline_messages(caplog: pytest.LogCaptureFixture) -> tuple[int, int]:
    records = [r.getMessage() for r in caplog.records if r.name == OFFLINE_LOGGER]
    return (
        sum("cannot be reached" in m for m in records),
        sum(" is back;" in m for m in records),
    )


@with_live_server
def test_a_training_loop_survives_the_server_being_killed_and_restarted(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=OFFLINE_LOGGER)
    cairn.set_tracking_uri(server.url)
    steps = 600
    with cairn.start_run() as run:
        cairn.log_param("lr", 0.01)
        for step in range(steps):
            cairn.log_metric("loss", 1.0 / (step + 1), step=step)
            cairn.log_metrics({"acc": step / steps, "epoch": step // 100}, step=step)
            if step == 200:
                cairn.flush()  # the first 200 steps are on the server...
                server.kill()  # ...which then dies mid-run
            if step == 400:
                # Still down: the flush puts what was queued into the journal, and
                # neither it nor the training loop raises.
                cairn.flush()
                assert offline_messages(caplog) == (1, 0)
                server.start()
            if step % 50 == 0:
                cairn.set_tag("progress", step)
    # end_run flushed, replayed the journal and ended the run on the restarted server
    client = MlflowClient(server.url)
    run_id = run.info.run_id
    finished = client.get_run(run_id)
    assert finished.info.status == "FINISHED"
    assert finished.data.params == {"lr": "0.01"}
    assert finished.data.tags["progress"] == "550"
    for key in ("loss", "acc", "epoch"):
        history = client.get_metric_history(run_id, key)
        assert [m.step for m in history] == list(range(steps)), key  # each exactly once
    loss = client.get_metric_history(run_id, "loss")
    assert [m.value for m in loss] == [1.0 / (s + 1) for s in range(steps)]
    assert not [k for k in finished.data.tags if k.startswith("cairn.")]
    assert offline_messages(caplog) == (1, 1)
    assert len(Journal.for_tracking_uri(server.url)) == 0


@with_live_server
def test_the_journal_is_replayed_in_the_background_once_the_server_is_back(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=OFFLINE_LOGGER)
    client = MlflowClient(server.url)
    run_id = client.create_run("0").info.run_id
    server.kill()
    for step in range(50):
        client.log_metric(run_id, "m", step, step=step)
    cairn.flush()
    server.start()
    # No flush point: the replayer thread finds the server and sends the journal.
    journal = Journal.for_tracking_uri(server.url)
    reader = MlflowClient(server.url)
    for _ in range(600):
        if not len(journal) and offline_messages(caplog) == (1, 1):
            break
        time.sleep(0.05)
    assert offline_messages(caplog) == (1, 1)
    history = reader._store.get_metric_history(run_id, "m")  # no flush: what is really there
    assert [m.step for m in history] == list(range(50))


@with_live_server
def test_cairn_sync_replays_what_a_finished_process_left_in_the_journal(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = textwrap.dedent(
        """
        import sys
        import cairn
        cairn.set_tracking_uri(sys.argv[1])
        with cairn.start_run() as run:
            print(run.info.run_id, flush=True)
            for step in range(30):
                cairn.log_metric("m", step, step=step)
            cairn.flush()
            sys.stdin.readline()  # the test kills the server now
            for step in range(30, 60):
                cairn.log_metric("m", step, step=step)
            cairn.log_param("p", "v")
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, server.url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdin is not None
    run_id = child.stdout.readline().strip()
    server.kill()
    _, err = child.communicate("go\n", timeout=120)
    assert child.returncode == 0, err
    assert "cannot be reached" in err
    assert "cairn sync" in err  # what is left, and how to send it, is said at exit
    assert len(Journal.for_tracking_uri(server.url)) > 0

    server.start()
    result = CliRunner().invoke(cli_main, ["sync"])  # finds the journal and its server
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{server.url}: sent ")
    assert f"Replaying to {server.url}" in result.stderr  # progress goes to stderr
    client = MlflowClient(server.url)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"p": "v"}
    assert [m.step for m in client.get_metric_history(run_id, "m")] == list(range(60))
    assert len(Journal.for_tracking_uri(server.url)) == 0
    # a second sync has nothing to do and sends nothing twice
    again = CliRunner().invoke(cli_main, ["sync", "--tracking-uri", server.url])
    assert again.exit_code == 0, again.output
    assert "Nothing to sync" in again.output
    assert [m.step for m in client.get_metric_history(run_id, "m")] == list(range(60))


@with_live_server
def test_a_spawned_worker_says_once_what_it_left_in_the_journal(server: Server) -> None:
    """A spawned ``multiprocessing`` worker writes its queues at its end twice over (its
    finalizers, then interpreter exit); the last try of the journal and the warning about
    what is left come once."""
    script = textwrap.dedent(
        """
        import multiprocessing, sys
        import cairn

        def work(run_id):
            client = cairn.MlflowClient(sys.argv[1])
            for step in range(20):
                client.log_metric(run_id, "m", step, step=step)

        if __name__ == "__main__":
            run_id = cairn.MlflowClient(sys.argv[1]).create_run("0").info.run_id
            print(run_id, flush=True)
            sys.stdin.readline()  # the test kills the server now
            pool = multiprocessing.get_context("spawn").Pool(1)
            pool.apply(work, (run_id,))
            pool.close()
            pool.join()  # the worker ends by itself
        """
    )
    (server.root / "spawned.py").write_text(script)
    child = subprocess.Popen(
        [sys.executable, str(server.root / "spawned.py"), server.url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    server.kill()
    _, err = child.communicate("go\n", timeout=120)
    assert child.returncode == 0, err
    assert err.count("run `cairn sync`") == 1, err

    server.start()
    result = CliRunner().invoke(cli_main, ["sync", "--tracking-uri", server.url])
    assert result.exit_code == 0, result.output
    steps = [m.step for m in MlflowClient(server.url).get_metric_history(run_id, "m")]
    assert steps == list(range(20))


@with_live_server
def test_a_process_ended_by_sigterm_while_the_server_is_away_keeps_its_points(
    server: Server,
) -> None:
    """The SIGTERM flush puts what was queued into the journal; ``cairn sync`` sends it."""
    script = textwrap.dedent(
        """
        import sys, time
        import cairn
        cairn.set_tracking_uri(sys.argv[1])
        run = cairn.start_run()
        print(run.info.run_id, flush=True)
        sys.stdin.readline()  # the test kills the server now
        step = 0
        while True:
            cairn.log_metric("m", step, step=step)
            print(step, flush=True)
            step += 1
            time.sleep(0.002)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script, server.url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as child:
        assert child.stdout is not None
        assert child.stdin is not None
        run_id = child.stdout.readline().strip()
        server.kill()
        child.stdin.write("go\n")
        child.stdin.flush()
        last = -1
        while last < 200:
            last = int(child.stdout.readline())
        child.send_signal(signal.SIGTERM)
        for line in child.stdout:
            last = int(line)
        assert child.wait(timeout=60) == -signal.SIGTERM

    server.start()
    result = CliRunner().invoke(cli_main, ["sync", "--tracking-uri", server.url])
    assert result.exit_code == 0, result.output
    steps = [m.step for m in MlflowClient(server.url).get_metric_history(run_id, "m")]
    assert steps[: last + 1] == list(range(last + 1))  # each acknowledged point, once
    assert len(steps) <= last + 2  # at most the point being logged when the signal came


@with_live_server
def test_an_error_the_server_means_is_not_journaled(server: Server) -> None:
    client = MlflowClient(server.url)
    run_id = client.create_run("0").info.run_id
    client.log_param(run_id, "p", "a")
    client.log_param(run_id, "p", "b")  # refused by the server: a failure, not an outage
    with pytest.raises(cairn.MlflowException, match=r"1 params \(p\)"):
        client.get_run(run_id)
    assert len(Journal.for_tracking_uri(server.url)) == 0


# -- the failover alone, over a store that fails on demand -------------------------------
class SwitchableStore:
    """Records log_batch calls; raises ``error`` while it is set."""

    def __init__(self) -> None:
        self.error: Exception | None = None
        self.param_error: Exception | None = None  # refuses only batches with params
        self.calls: list[tuple[str, list[Metric], list[Param], list[RunTag]]] = []

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        if self.error is not None:
            raise self.error
        if params and self.param_error is not None:
            raise self.param_error
        self.calls.append((run_id, list(metrics), list(params), list(tags)))

    def steps(self) -> list[int]:
        """The steps of every metric point received, in order."""
        return [m.step for _, metrics, _, _ in self.calls for m in metrics]

    def get_metric_history(
        self, run_id: str, key: str, max_results: int | None = None, token: str | None = None
    ) -> PagedList[Metric]:
        found = [m for rid, ms, _, _ in self.calls if rid == run_id for m in ms if m.key == key]
        return PagedList(found, None)


def point(step: int) -> Metric:
    return Metric("m", float(step), 1000 + step, step)


@pytest.fixture
def failover(monkeypatch: pytest.MonkeyPatch) -> tuple[OfflineFailover, SwitchableStore]:
    store = SwitchableStore()
    instance = OfflineFailover("http://tracking.invalid:5000", store)  # type: ignore[arg-type]
    instance.retry_interval = 3600  # only explicit drains
    instance._replay_store = store  # type: ignore[assignment]
    return instance, store


def test_errors_that_mean_the_server_is_away_are_told_apart_from_refusals() -> None:
    assert is_unreachable(TemporarilyUnavailable("connection refused"))
    assert is_unreachable(MlflowException("timed out", ErrorCode.DEADLINE_EXCEEDED))
    assert is_unreachable(MlflowException("HTTP 502"))  # INTERNAL_ERROR after retries
    assert is_unreachable(ConnectionResetError())
    assert not is_unreachable(InvalidParameterValue("changed param"))
    assert not is_unreachable(ResourceDoesNotExist("no such run"))
    assert not is_unreachable(ValueError("a bug"))


def test_an_outage_journals_everything_after_it_and_replays_it_in_order(
    failover: tuple[OfflineFailover, SwitchableStore], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=OFFLINE_LOGGER)
    instance, store = failover
    instance.log_batch("r", [point(0)])
    store.error = TemporarilyUnavailable("connection refused")
    instance.log_batch("r", [point(1)])  # fails: journaled, no exception
    store.error = None
    instance.log_batch("r", [point(2)], tags=[RunTag("t", "a")])  # queued behind the journal
    assert store.steps() == [0]
    assert instance.journaling
    assert offline_messages(caplog) == (1, 0)
    assert instance.drain()
    assert not instance.journaling
    assert store.steps() == [0, 1, 2]
    instance.log_batch("r", [point(3)])  # straight to the store again
    assert store.steps() == [0, 1, 2, 3]
    assert offline_messages(caplog) == (1, 1)


def test_a_batch_refused_on_replay_is_dropped_and_reported_at_the_flush(
    failover: tuple[OfflineFailover, SwitchableStore],
) -> None:
    instance, store = failover
    store.error = TemporarilyUnavailable("down")
    instance.log_batch("r", params=[Param("lr", "0.2")])
    instance.log_batch("r", [point(0)])
    store.error = None
    store.param_error = InvalidParameterValue("Changing param values is not allowed.")
    with pytest.raises(AsyncLoggingError, match=r"1 params \(lr\)") as info:
        instance.flush("r")
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert not instance.journaling  # the point behind it went on
    assert store.steps() == [0]
    instance.flush("r")  # reported once


def test_a_refusal_that_is_not_an_outage_is_raised_not_journaled(
    failover: tuple[OfflineFailover, SwitchableStore],
) -> None:
    instance, store = failover
    store.error = ResourceDoesNotExist("no run r")
    with pytest.raises(ResourceDoesNotExist):
        instance.log_batch("r", [point(0)])
    assert not instance.journaling


# -- a process forked while the failover is at work (a fork-mode pool's workers) ---------
def test_a_child_forked_mid_replay_can_replay_and_flush(
    failover: tuple[OfflineFailover, SwitchableStore],
) -> None:
    instance, store = failover
    store.error = TemporarilyUnavailable("down")
    instance.log_batch("r", [point(0)])
    store.error = None

    def child_sends_the_journal() -> bool:
        instance.log_batch("r", [point(1)])  # behind the journal
        instance.flush("r")
        sent = store.steps()
        return sent == [0, 1] and not instance.journaling

    # the parent's replayer holds the drain lock at the moment of the fork
    with held_by_another_thread(instance._drain_lock):
        assert in_forked_child(child_sends_the_journal)


def test_a_forked_child_replays_its_journal_in_the_background(
    failover: tuple[OfflineFailover, SwitchableStore],
) -> None:
    instance, store = failover
    store.error = TemporarilyUnavailable("down")
    instance.log_batch("r", [point(0)])

    def child_replays_without_a_flush() -> bool:
        instance.retry_interval = 0.05
        instance.log_batch("r", [point(1)])
        store.error = None
        deadline = time.monotonic() + 30
        while instance.journaling and time.monotonic() < deadline:
            time.sleep(0.02)
        return store.steps() == [0, 1]

    assert in_forked_child(child_replays_without_a_flush)


def test_failures_recorded_before_a_fork_are_reported_by_the_parent_only(
    failover: tuple[OfflineFailover, SwitchableStore],
) -> None:
    instance, store = failover
    store.error = TemporarilyUnavailable("down")
    instance.log_batch("r", params=[Param("lr", "0.2")])
    store.error = None
    store.param_error = InvalidParameterValue("Changing param values is not allowed.")
    assert instance.drain()  # the refused batch is dropped and recorded

    def child_flushes_cleanly() -> bool:
        instance.flush("r")
        return True

    assert in_forked_child(child_flushes_cleanly)
    with pytest.raises(AsyncLoggingError, match=r"1 params \(lr\)"):
        instance.flush("r")
