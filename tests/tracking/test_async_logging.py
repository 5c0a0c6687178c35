"""Non-blocking logging through the public API: flush points, failures, the synchronous path."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import cairn
from cairn.exceptions import ErrorCode, InvalidParameterValue
from cairn.tracking import MlflowClient, batching
from cairn.tracking.batching import AsyncLoggingError, BatchingLogger


@pytest.fixture
def slow_logger(monkeypatch: pytest.MonkeyPatch) -> Iterator[BatchingLogger]:
    """A process logger that writes only when a batch fills or a flush point asks."""
    logger = BatchingLogger(flush_interval=60.0)
    monkeypatch.setattr(batching, "_process_logger", logger)
    yield logger
    logger.close(timeout=30)


def stored_steps(tracking_uri: str, run_id: str, key: str) -> list[int]:
    """What the store holds now, read around the client so that nothing is flushed."""
    store = MlflowClient(tracking_uri)._store
    return [m.step for m in store.get_metric_history(run_id, key)]


def test_reads_of_a_run_see_what_was_just_logged(
    tracking_uri: str, slow_logger: BatchingLogger
) -> None:
    with cairn.start_run() as run:
        run_id = run.info.run_id
        for step in range(5):
            cairn.log_metric("loss", 1.0 / (step + 1), step=step)
        cairn.log_params({"lr": 0.1, "layers": 3})
        cairn.set_tag("phase", "train")
        assert stored_steps(tracking_uri, run_id, "loss") == []  # still queued
        fetched = cairn.get_run(run_id)  # a read is a flush point
        assert fetched.data.metrics == {"loss": 0.2}
        assert fetched.data.params == {"lr": "0.1", "layers": "3"}
        assert fetched.data.tags["phase"] == "train"
        cairn.log_metric("loss", 0.1, step=5)
        history = MlflowClient().get_metric_history(run_id, "loss")
        assert [m.step for m in history] == list(range(6))


def test_end_run_writes_everything_and_cairn_flush_does_too(
    tracking_uri: str, slow_logger: BatchingLogger
) -> None:
    with cairn.start_run() as run:
        cairn.log_metric("a", 1.0)
        cairn.flush()
        assert stored_steps(tracking_uri, run.info.run_id, "a") == [0]
        cairn.log_metric("a", 2.0, step=1)
        cairn.flush_async_logging()
        assert stored_steps(tracking_uri, run.info.run_id, "a") == [0, 1]
        cairn.log_metric("a", 3.0, step=2)
    assert stored_steps(tracking_uri, run.info.run_id, "a") == [0, 1, 2]
    assert cairn.get_run(run.info.run_id).info.status == "FINISHED"


def test_a_background_failure_is_raised_at_end_run_naming_the_keys(
    tracking_uri: str, slow_logger: BatchingLogger
) -> None:
    run = cairn.start_run()
    cairn.log_param("lr", 0.1)
    cairn.log_metric("loss", 0.5)
    cairn.log_param("lr", 0.2)  # valid on its own; the store refuses the change
    with pytest.raises(AsyncLoggingError) as info:
        cairn.end_run()
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert "1 params (lr)" in info.value.message
    assert run.info.run_id in info.value.message
    ended = cairn.get_run(run.info.run_id)  # the run was still ended, its good data kept
    assert ended.info.status == "FINISHED"
    assert ended.data.params == {"lr": "0.1"}
    assert ended.data.metrics == {"loss": 0.5}
    assert cairn.active_run() is None


def test_bad_input_raises_at_the_call_and_queues_nothing(
    tracking_uri: str, slow_logger: BatchingLogger
) -> None:
    with cairn.start_run() as run:
        with pytest.raises(InvalidParameterValue):
            cairn.log_metric("loss", "not a number")  # type: ignore[arg-type]
        with pytest.raises(InvalidParameterValue):
            cairn.log_metrics({"ok": 1.0, "../escape": 2.0})
        with pytest.raises(InvalidParameterValue):
            cairn.set_tag("", "x")
    assert cairn.get_run(run.info.run_id).data.metrics == {}


def test_synchronous_true_writes_before_returning_and_raises_at_the_call(
    tracking_uri: str, slow_logger: BatchingLogger
) -> None:
    with cairn.start_run() as run:
        run_id = run.info.run_id
        cairn.log_metric("queued", 1.0)
        cairn.log_metric("direct", 1.0, synchronous=True)
        # the synchronous call wrote what was queued before it first, keeping order
        assert stored_steps(tracking_uri, run_id, "queued") == [0]
        assert stored_steps(tracking_uri, run_id, "direct") == [0]
        cairn.log_param("lr", 0.1, synchronous=True)
        with pytest.raises(InvalidParameterValue):
            cairn.log_param("lr", 0.2, synchronous=True)
        cairn.log_metrics({"m": 1.0}, synchronous=True)
        cairn.set_tags({"t": "v"}, synchronous=True)
        assert MlflowClient(tracking_uri)._store.get_run(run_id).data.tags["t"] == "v"


def test_the_environment_switch_makes_every_call_synchronous(
    tracking_uri: str, slow_logger: BatchingLogger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAIRN_ASYNC_LOGGING", "false")
    with cairn.start_run() as run:
        cairn.log_metric("m", 1.0)
        assert stored_steps(tracking_uri, run.info.run_id, "m") == [0]
        cairn.log_param("p", "a")
        with pytest.raises(InvalidParameterValue):
            cairn.log_param("p", "b")
        # a call may still ask for the queue explicitly
        cairn.log_metric("q", 1.0, synchronous=False)
        assert stored_steps(tracking_uri, run.info.run_id, "q") == []
    assert stored_steps(tracking_uri, run.info.run_id, "q") == [0]


def test_mlflow_s_variable_turns_it_off_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    assert not batching.should_log_async(None)


def test_a_script_that_never_ends_its_run_still_has_all_its_data(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'exit.db'}"
    script = textwrap.dedent(
        f"""
        import cairn
        cairn.set_tracking_uri({uri!r})
        run = cairn.start_run()
        for step in range(2500):
            cairn.log_metric("m", step, step=step)
        print(run.info.run_id)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    run_id = done.stdout.strip()
    client = MlflowClient(uri)
    assert client.get_run(run_id).info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run_id, "m")] == list(range(2500))
    assert "cairn:" not in done.stderr


TRAINING_LOOP = """
import sys, time
import cairn
cairn.set_tracking_uri(sys.argv[1])
run = cairn.start_run()
print(run.info.run_id, flush=True)
step = 0
while True:
    cairn.log_metric("m", step, step=step)
    print(step, flush=True)  # log_metric returned: the point is the library's to keep
    step += 1
    time.sleep(0.002)
"""


@pytest.mark.parametrize(
    ("backend", "ending"),
    [("sqlite", signal.SIGTERM), ("file", signal.SIGTERM), ("sqlite", signal.SIGHUP)],
    ids=["sqlite-sigterm", "file-sigterm", "sqlite-sighup"],
)
def test_a_process_ended_by_a_signal_keeps_every_point_logged(
    tmp_path: Path, backend: str, ending: signal.Signals
) -> None:
    """Job schedulers, ``docker stop`` and ``timeout`` end training with SIGTERM, a lost
    SSH session with SIGHUP; both skip interpreter exit: what was queued is written
    before the process dies by the signal."""
    uri = f"sqlite:///{tmp_path / 'term.db'}" if backend == "sqlite" else str(tmp_path / "mlruns")
    with subprocess.Popen(
        [sys.executable, "-c", TRAINING_LOOP, uri], stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        run_id = child.stdout.readline().strip()
        last = -1
        while last < 300:
            last = int(child.stdout.readline())
        child.send_signal(ending)
        for line in child.stdout:
            last = int(line)
        assert child.wait(timeout=60) == -ending  # it still dies by the signal
    steps = stored_steps(uri, run_id, "m")
    assert steps[: last + 1] == list(range(last + 1))
    assert len(steps) <= last + 2  # at most the point being logged when the signal came


def test_a_program_s_own_sigterm_handler_is_left_alone(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'own.db'}"
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        import cairn
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))  # a graceful stop of its own
        cairn.set_tracking_uri({uri!r})
        run = cairn.start_run()
        for step in range(100):
            cairn.log_metric("m", step, step=step)
        print(run.info.run_id, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 3, done.stderr  # its handler ran, and exit wrote the queue
    assert stored_steps(uri, done.stdout.strip(), "m") == list(range(100))


def test_called_by_a_later_handler_it_flushes_and_leaves_the_decision_to_it(
    tracking_uri: str, slow_logger: BatchingLogger
) -> None:
    """As PyTorch Lightning chains the handler it found when it installs its own."""
    with cairn.start_run() as run:
        cairn.log_metric("m", 1.0, step=0)
        later = signal.signal(signal.SIGTERM, lambda *_: None)
        try:
            batching._flush_then_die(signal.SIGTERM, None)  # returns: the process lives on
        finally:
            signal.signal(signal.SIGTERM, later)
        # the queue is written in the background (the interval is 60 s: not by the worker)
        deadline = time.monotonic() + 30
        while not stored_steps(tracking_uri, run.info.run_id, "m") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stored_steps(tracking_uri, run.info.run_id, "m") == [0]


def ended_by_sigterm(script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with the queue written only at flush points; it must die by SIGTERM."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CAIRN_ASYNC_LOGGING_FLUSH_INTERVAL": "60"},
    )
    assert done.returncode == -signal.SIGTERM, done.stderr
    return done


def run_script(uri: str, body: str) -> str:
    """A script that starts a run on ``uri``, prints its id, and goes on with ``body``
    (which may use ``os``, ``signal``, ``threading``, ``time``, ``cairn``, ``batching``)."""
    start = f"""
import os, signal, threading, time
import cairn
from cairn.tracking import batching

cairn.set_tracking_uri({uri!r})
run = cairn.start_run()
print(run.info.run_id, flush=True)
"""
    return start + textwrap.dedent(body)


def test_sigterm_in_the_middle_of_a_write_lets_it_finish_then_writes_the_rest(
    tmp_path: Path,
) -> None:
    """The main thread writing a batch itself (``cairn.flush()``, ``end_run``) cannot be
    waited for from its own signal handler: the write goes on, the rest is written too,
    and the next logging call waits for the end instead of queueing what would be lost."""
    uri = f"sqlite:///{tmp_path / 'mid.db'}"
    script = textwrap.dedent(
        f"""
        import os, signal, sys, threading, time
        import cairn
        from cairn.store.sql.store import SqlStore

        write = SqlStore.log_batch
        def slow_write(self, *args, **kwargs):
            time.sleep(0.5)  # the signal comes while the main thread is in here
            write(self, *args, **kwargs)
        SqlStore.log_batch = slow_write

        cairn.set_tracking_uri({uri!r})
        run = cairn.start_run()
        print(run.info.run_id, flush=True)
        for step in range(100):
            cairn.log_metric("first", step, step=step)

        def later():
            time.sleep(0.2)
            client = cairn.MlflowClient()
            for step in range(50):
                client.log_metric(run.info.run_id, "second", step, step=step)
            os.kill(os.getpid(), signal.SIGTERM)
        threading.Thread(target=later).start()
        cairn.flush()  # nobody else is writing: the main thread writes the queue itself
        print("flushed", flush=True)
        cairn.log_metric("third", 0)  # waits until the process ends
        print("logged after the signal", flush=True)
        """
    )
    done = ended_by_sigterm(script)
    run_id, *rest = done.stdout.split("\n")
    assert "logged after the signal" not in rest
    assert stored_steps(uri, run_id, "first") == list(range(100))
    assert stored_steps(uri, run_id, "second") == list(range(50))
    assert stored_steps(uri, run_id, "third") == []  # the call never returned


# The thread that writes the queues after a signal is held up before it starts, so the
# program below reaches its end first, as a short one does.
WRITER_HELD_UP = """
import logging, logging.handlers  # first: logging's own exit handler runs after Cairn's
import threading, time
from cairn.tracking import batching

flush_at_exit = batching._flush_at_exit
def held_up_off_the_main_thread():
    if threading.current_thread() is not threading.main_thread():
        time.sleep(30)
    flush_at_exit()
batching._flush_at_exit = held_up_off_the_main_thread
"""


def test_a_program_that_ends_after_sigterm_still_ends_by_it(tmp_path: Path) -> None:
    """The signal came and the program ran on to its end before the queues were written:
    the exit writes them, and the exit status is still the signal's, which a scheduler
    reads as "stopped". Logging's buffered records reach their file first."""
    uri = f"sqlite:///{tmp_path / 'ended.db'}"
    log_file = tmp_path / "app.log"
    script = WRITER_HELD_UP + run_script(
        uri,
        f"""
        buffered = logging.handlers.MemoryHandler(
            100, target=logging.FileHandler({str(log_file)!r})
        )
        logging.getLogger("app").addHandler(buffered)
        logging.getLogger("app").setLevel(logging.INFO)
        for step in range(100):
            cairn.log_metric("m", step, step=step)
        os.kill(os.getpid(), signal.SIGTERM)
        logging.getLogger("app").info("stopping")  # buffered until logging shuts down
        print("ran on to the end", flush=True)
        """,
    )
    done = ended_by_sigterm(script)  # by the exit: the held-up writer would take 30 s
    run_id, rest = done.stdout.split("\n", 1)
    assert rest.strip() == "ran on to the end"
    assert stored_steps(uri, run_id, "m") == list(range(100))
    assert log_file.read_text() == "stopping\n"


def test_a_program_that_takes_sigterm_back_after_it_came_ends_as_it_chooses(
    tmp_path: Path,
) -> None:
    """As a program that finishes a last checkpoint before it lets itself be stopped:
    logging goes on, and the exit is the program's."""
    uri = f"sqlite:///{tmp_path / 'back.db'}"
    script = run_script(
        uri,
        """
        for step in range(10):
            cairn.log_metric("m", step, step=step)
        os.kill(os.getpid(), signal.SIGTERM)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # taken back at once
        for step in range(10, 20):
            cairn.log_metric("m", step, step=step)  # does not wait for an end
        cairn.end_run()
        """,
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert stored_steps(uri, done.stdout.strip(), "m") == list(range(20))


def test_sigterm_while_the_main_thread_holds_the_queue_s_lock_loses_nothing(
    tmp_path: Path,
) -> None:
    """A tight logging loop spends most of its time inside the queue's lock, so that is
    where a signal usually lands: its handler must not wait for that lock."""
    uri = f"sqlite:///{tmp_path / 'locked.db'}"
    script = run_script(
        uri,
        """
        for step in range(100):
            cairn.log_metric("m", step, step=step)
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()
        with batching.get_logger()._lock:
            time.sleep(0.6)  # the signal comes while the lock is held here
        for step in range(100, 200):
            cairn.log_metric("m", step, step=step)  # the first of these waits for the end
            print(step, flush=True)
        """,
    )
    done = ended_by_sigterm(script)
    run_id, *acknowledged = done.stdout.split()
    assert acknowledged == []  # no logging call returned after the signal
    assert stored_steps(uri, run_id, "m") == list(range(100))
