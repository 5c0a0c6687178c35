"""The background batching logger: batching limits, flush, backpressure, failures, fork."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from cairn import env
from cairn.entities import Metric, Param, RunTag
from cairn.exceptions import ErrorCode, InvalidParameterValue, MlflowException
from cairn.store.registry import create_tracking_store
from cairn.tracking import batching
from cairn.tracking.batching import AsyncLoggingError, BatchingLogger, should_log_async
from cairn.validation import (
    MAX_ENTITIES_PER_BATCH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_TAGS_PER_BATCH,
)


class RecordingStore:
    """A store that records each log_batch; may block on a gate or fail chosen calls."""

    def __init__(self, fail: Callable[[str, Sequence[Param]], Exception | None] | None = None):
        self.calls: list[tuple[str, list[Metric], list[Param], list[RunTag]]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self._fail = fail
        self._lock = threading.Lock()

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        self.entered.set()
        self.gate.wait()
        assert len(metrics) <= MAX_METRICS_PER_BATCH
        assert len(params) <= MAX_PARAMS_TAGS_PER_BATCH
        assert len(tags) <= MAX_PARAMS_TAGS_PER_BATCH
        assert len(metrics) + len(params) + len(tags) <= MAX_ENTITIES_PER_BATCH
        error = self._fail(run_id, params) if self._fail else None
        if error is not None:
            raise error
        with self._lock:
            self.calls.append((run_id, list(metrics), list(params), list(tags)))

    def metrics(self, run_id: str, key: str | None = None) -> list[Metric]:
        return [
            m
            for rid, ms, _, _ in self.calls
            if rid == run_id
            for m in ms
            if key is None or m.key == key
        ]

    def final_tags(self, run_id: str) -> dict[str, str]:
        tags: dict[str, str] = {}
        for rid, _, _, ts in self.calls:
            if rid == run_id:
                tags.update({t.key: t.value for t in ts})
        return tags


def points(key: str, n: int, start: int = 0) -> list[Metric]:
    return [Metric(key, float(i), 1000 + i, i) for i in range(start, start + n)]


@pytest.fixture
def logger() -> Iterator[BatchingLogger]:
    # A long interval: only a full batch or a flush makes the worker write.
    instance = BatchingLogger(flush_interval=30.0, max_queue=100_000)
    yield instance
    instance.close(timeout=10)


def test_flush_writes_everything_enqueued_in_order(logger: BatchingLogger) -> None:
    store = RecordingStore()
    for i in range(2500):
        logger.enqueue(store, "r1", [Metric("loss", float(i), i, i)])
    logger.flush("r1")
    assert [m.step for m in store.metrics("r1", "loss")] == list(range(2500))


def test_consecutive_points_of_a_run_join_one_item_without_touching_the_callers_list(
    logger: BatchingLogger,
) -> None:
    store = RecordingStore()
    first = points("m", 3)
    logger.enqueue(store, "r1", first)
    logger.enqueue(store, "r1", points("m", 2, start=3))
    logger.enqueue(store, "r2", points("m", 1))
    logger.enqueue(store, "r1", points("m", 1, start=5))  # after r2's: a new item
    logger.enqueue(store, "r1", params=[Param("p", "v")])
    logger.enqueue(store, "r1", points("m", 1, start=6))  # after params: a new item
    assert [(item[2], len(item[3])) for item in logger._queue] == [
        ("r1", 5),
        ("r2", 1),
        ("r1", 1),
        ("r1", 0),
        ("r1", 1),
    ]
    assert first == points("m", 3)
    logger.flush("r1")  # covers the points that joined an earlier item
    assert [m.step for m in store.metrics("r1", "m")] == list(range(7))
    assert [p.key for _, _, ps, _ in store.calls for p in ps] == ["p"]
    logger.flush()
    assert [m.step for m in store.metrics("r2", "m")] == [0]


def test_batches_are_packed_up_to_mlflow_limits(logger: BatchingLogger) -> None:
    store = RecordingStore()
    for i in range(30):
        logger.enqueue(store, "r1", points("m", 100, start=i * 100))
    logger.enqueue(store, "r1", params=[Param(f"p{i}", "v") for i in range(250)])
    logger.enqueue(store, "r1", tags=[RunTag(f"t{i}", "v") for i in range(150)])
    logger.flush()
    assert [m.step for m in store.metrics("r1", "m")] == list(range(3000))
    params = [p.key for _, _, ps, _ in store.calls for p in ps]
    assert params == [f"p{i}" for i in range(250)]
    assert len({t.key for _, _, _, ts in store.calls for t in ts}) == 150


def test_packing_fills_batches_before_starting_new_ones() -> None:
    items = [(i, None, "r", points("m", 100, i * 100), [], []) for i in range(30)]
    items.append((31, None, "r", [], [Param(f"p{i}", "v") for i in range(250)], []))
    items.append((32, None, "r", [], [], [RunTag(f"t{i}", "v") for i in range(150)]))
    batches = batching.build_batches(items)  # type: ignore[arg-type]
    sizes = [(len(m), len(p), len(t)) for m, p, t in batches]
    assert sizes == [
        (1000, 0, 0),
        (1000, 0, 0),
        (1000, 0, 0),
        (0, 100, 0),
        (0, 100, 0),
        (0, 50, 100),
        (0, 0, 50),
    ]


def test_one_batch_bigger_than_the_limits_is_split() -> None:
    batches = batching.build_batches(
        [(1, RecordingStore(), "r", points("m", 2500), [Param("p", "1")], [RunTag("t", "1")])]
    )  # type: ignore[arg-type]
    assert [len(m) for m, _, _ in batches] == [1000, 1000, 500]
    assert sum(len(p) for _, p, _ in batches) == 1
    assert all(len(m) + len(p) + len(t) <= MAX_ENTITIES_PER_BATCH for m, p, t in batches)


def test_later_tag_value_wins_within_a_batch() -> None:
    items = [
        (i, RecordingStore(), "r", [], [], [RunTag("epoch", str(i)), RunTag("other", "x")])
        for i in range(1, 6)
    ]
    [(_metrics, _params, tags)] = batching.build_batches(items)  # type: ignore[arg-type]
    assert {t.key: t.value for t in tags} == {"epoch": "5", "other": "x"}
    assert len(tags) == 2


def test_a_changed_param_goes_to_the_store_in_its_own_batch() -> None:
    items = [
        (1, None, "r", [], [Param("lr", "0.1")], []),
        (2, None, "r", [], [Param("lr", "0.1")], []),  # same value: harmless repeat
        (3, None, "r", [], [Param("lr", "0.2"), Param("b", "1")], []),
    ]
    batches = batching.build_batches(items)  # type: ignore[arg-type]
    assert [[(p.key, p.value) for p in ps] for _, ps, _ in batches] == [
        [("lr", "0.1")],
        [("lr", "0.2"), ("b", "1")],
    ]


def test_flush_of_one_run_reports_only_that_runs_failure(logger: BatchingLogger) -> None:
    def fail(run_id: str, params: Sequence[Param]) -> Exception | None:
        if run_id == "bad":
            return InvalidParameterValue("Changing param values is not allowed.")
        return None

    store = RecordingStore(fail)
    logger.enqueue(store, "bad", points("acc", 3), [Param("lr", "0.2")])
    logger.enqueue(store, "good", points("acc", 3))
    logger.flush("good")  # nothing wrong with this run
    assert len(store.metrics("good")) == 3
    with pytest.raises(AsyncLoggingError) as caught:
        logger.flush("bad")
    error = caught.value
    assert isinstance(error, MlflowException)
    assert error.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert "run bad" in error.message
    assert "3 metrics (acc)" in error.message
    assert "1 params (lr)" in error.message
    assert "Changing param values is not allowed." in error.message
    [failure] = error.failures
    assert failure.metric_count == 3
    assert failure.param_keys == ("lr",)
    logger.flush()  # reported once, not again


def test_flush_of_all_runs_reports_a_store_crash(logger: BatchingLogger) -> None:
    store = RecordingStore(lambda run_id, params: ConnectionError("server went away"))
    logger.enqueue(store, "r1", points("m", 5))
    with pytest.raises(AsyncLoggingError, match="server went away") as caught:
        logger.flush()
    assert caught.value.error_code == ErrorCode.INTERNAL_ERROR


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_worker_that_died_is_replaced_by_the_next_write() -> None:
    died: list[threading.Thread] = []

    def end_the_worker(run_id: str, params: Sequence[Param]) -> Exception | None:
        if died:
            return None
        died.append(threading.current_thread())
        raise SystemExit  # ends the thread it is raised in, silently

    store = RecordingStore(end_the_worker)
    logger = BatchingLogger(flush_interval=0.01, max_queue=1000)
    try:
        logger.enqueue(store, "r1", points("m", 1))
        assert store.entered.wait(10)
        died[0].join(10)
        assert not died[0].is_alive()
        logger.enqueue(store, "r1", points("m", 1, start=1))
        deadline = time.monotonic() + 10
        while not store.metrics("r1") and time.monotonic() < deadline:
            time.sleep(0.01)
        # written by a new worker on its interval: nothing here flushed
        assert [m.step for m in store.metrics("r1")] == [1]
    finally:
        logger.close(timeout=10)


def test_a_full_queue_makes_the_caller_wait_and_drops_nothing() -> None:
    logger = BatchingLogger(flush_interval=0.0, max_queue=50)
    store = RecordingStore()
    store.gate.clear()
    try:
        logger.enqueue(store, "r", points("m", 50))
        assert store.entered.wait(10)  # the worker holds those 50, blocked in the store
        producer = threading.Thread(target=logger.enqueue, args=(store, "r", points("m", 10, 50)))
        producer.start()
        producer.join(0.3)
        assert producer.is_alive()  # the queue is full: the caller waits
        store.gate.set()
        producer.join(10)
        assert not producer.is_alive()
        logger.flush()
        assert [m.step for m in store.metrics("r")] == list(range(60))
    finally:
        store.gate.set()
        logger.close(timeout=10)


def test_many_producer_threads_keep_each_keys_order(logger: BatchingLogger) -> None:
    store = RecordingStore()
    barrier = threading.Barrier(8)

    def produce(thread: int) -> None:
        barrier.wait()
        for i in range(500):
            logger.enqueue(store, f"run{thread % 2}", [Metric(f"k{thread}", i, i, i)])

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    logger.flush()
    for t in range(8):
        steps = [m.step for m in store.metrics(f"run{t % 2}", f"k{t}")]
        assert steps == list(range(500))


def test_flush_waits_for_data_enqueued_before_it(logger: BatchingLogger) -> None:
    store = RecordingStore()
    logger.enqueue(store, "r", points("m", 1))
    logger.flush("r", timeout=10)
    assert len(store.metrics("r")) == 1
    logger.flush("never-logged", timeout=10)  # nothing to wait for


def test_flush_times_out_while_the_store_hangs(logger: BatchingLogger) -> None:
    store = RecordingStore()
    store.gate.clear()
    logger.enqueue(store, "r", points("m", 1))
    with pytest.raises(TimeoutError):
        logger.flush(timeout=0.2)
    store.gate.set()
    logger.flush(timeout=10)
    assert len(store.metrics("r")) == 1


def test_a_closed_logger_refuses_new_data() -> None:
    logger = BatchingLogger(flush_interval=0.0)
    store = RecordingStore()
    logger.enqueue(store, "r", points("m", 1))
    logger.close(timeout=10)
    assert len(store.metrics("r")) == 1
    with pytest.raises(MlflowException, match="closed"):
        logger.enqueue(store, "r", points("m", 1))


def test_read_your_writes_against_a_real_sqlite_store(
    logger: BatchingLogger, store_uri_factory: Callable[[str], str]
) -> None:
    store = create_tracking_store(store_uri_factory("sqlite"))
    run = store.create_run("0", "me", 0, [], None)
    run_id = run.info.run_id
    for i in range(1200):
        logger.enqueue(store, run_id, [Metric("loss", 1.0 / (i + 1), i, i)])
    logger.enqueue(store, run_id, params=[Param("lr", "0.1")], tags=[RunTag("phase", "a")])
    logger.enqueue(store, run_id, tags=[RunTag("phase", "b")])
    logger.flush(run_id)
    data = store.get_run(run_id).data
    assert data.params == {"lr": "0.1"}
    assert data.tags["phase"] == "b"
    assert data.metrics["loss"] == pytest.approx(1.0 / 1200)
    history = store.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == list(range(1200))


def test_should_log_async_follows_the_call_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert should_log_async(None) is True
    monkeypatch.setenv(env.ASYNC_LOGGING.name, "false")
    assert should_log_async(None) is False
    assert should_log_async(False) is True
    monkeypatch.setenv(env.ASYNC_LOGGING.name, "true")
    assert should_log_async(True) is False
    monkeypatch.delenv(env.ASYNC_LOGGING.name)
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    assert should_log_async(None) is False


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env.ASYNC_LOGGING_FLUSH_INTERVAL.name, "0.5")
    monkeypatch.setenv(env.ASYNC_LOGGING_QUEUE_SIZE.name, "123")
    logger = BatchingLogger()
    assert (logger.flush_interval, logger.max_queue) == (0.5, 123)


def _run_python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith(("CAIRN_", "MLFLOW_"))},
        check=False,
    )


def test_interpreter_exit_flushes_the_queue(
    tmp_path: Path, store_uri_factory: Callable[[str], str]
) -> None:
    uri = store_uri_factory("sqlite")
    result = _run_python(
        f"""
        from cairn.entities import Metric
        from cairn.store.registry import create_tracking_store
        from cairn.tracking.batching import get_logger
        store = create_tracking_store({uri!r})
        run_id = store.create_run("0", "me", 0, [], None).info.run_id
        print(run_id)
        for i in range(300):
            get_logger().enqueue(store, run_id, [Metric("m", i, i, i)])
        # no flush: exit must write it
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip()
    history = create_tracking_store(uri).get_metric_history(run_id, "m")
    assert [m.step for m in history] == list(range(300))


def test_a_failure_still_queued_at_exit_is_reported_on_stderr(tmp_path: Path) -> None:
    result = _run_python(
        """
        from cairn.entities import Metric
        from cairn.tracking.batching import get_logger
        class Down:
            def log_batch(self, run_id, metrics=(), params=(), tags=()):
                raise ConnectionError("tracking server unreachable")
        get_logger().enqueue(Down(), "run-x", [Metric("m", 1.0, 1, 0)])
        """,
        tmp_path,
    )
    assert "run run-x" in result.stderr
    assert "tracking server unreachable" in result.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_a_fresh_logger(tmp_path: Path) -> None:
    result = _run_python(
        """
        import os, threading
        from cairn.entities import Metric
        from cairn.tracking.batching import get_logger
        calls = []
        class Store:
            def __init__(self):
                self.gate = threading.Event()
            def log_batch(self, run_id, metrics=(), params=(), tags=()):
                self.gate.wait()
                calls.append((os.getpid(), run_id, len(metrics)))
        store = Store()
        logger = get_logger()
        logger.enqueue(store, "parent", [Metric("m", 1.0, 1, 0)])
        pid = os.fork()  # the worker is blocked inside the store, holding parent data
        if pid == 0:
            store.gate.set()
            logger.enqueue(store, "child", [Metric("m", 2.0, 2, 0)])
            logger.flush()
            ok = calls == [(os.getpid(), "child", 1)]
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        store.gate.set()
        logger.flush()
        print(os.waitstatus_to_exitcode(status), [c[1] for c in calls])
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "['parent']"]


def test_flush_writes_an_idle_queue_itself_and_a_reentrant_flush_returns(
    logger: BatchingLogger,
) -> None:
    writers: list[threading.Thread] = []

    class FlushingStore(RecordingStore):
        """Flushes from inside log_batch, as a store reading the run first might."""

        def log_batch(
            self,
            run_id: str,
            metrics: Sequence[Metric] = (),
            params: Sequence[Param] = (),
            tags: Sequence[RunTag] = (),
        ) -> None:
            writers.append(threading.current_thread())
            logger.flush(run_id)
            super().log_batch(run_id, metrics, params, tags)

    store = FlushingStore()
    logger.enqueue(store, "r", points("m", 3))
    logger.enqueue(store, "r", points("m", 2, start=3))
    flusher = threading.Thread(target=logger.flush, args=("r",))
    flusher.start()
    flusher.join(30)  # only a guard against a deadlock
    assert not flusher.is_alive()
    assert writers == [flusher]  # no hand-off to the worker, one batch
    assert [m.step for m in store.metrics("r")] == [0, 1, 2, 3, 4]
