"""Non-blocking logging: a bounded background queue that batches writes per run.

Logging calls validate their input where they are made, then hand it to the process's
``BatchingLogger`` (``get_logger()``). One daemon thread gathers what was handed over
for about ``CAIRN_ASYNC_LOGGING_FLUSH_INTERVAL`` seconds (or until a full batch is
waiting), groups it per run into batches within MLflow's limits, and writes each batch
with one ``store.log_batch`` call.

Guarantees:
- Read-your-writes: ``flush(run_id)`` returns once everything enqueued for that run
  before the call is in the store; ``flush()`` does the same for every run. The process
  flushes at interpreter exit.
- Bounded memory: at most ``CAIRN_ASYNC_LOGGING_QUEUE_SIZE`` entities (metrics, params
  and tags) are held, counting those being written; a caller that would exceed it waits.
  Nothing is dropped.
- Failures are never swallowed: a ``log_batch`` that raises is recorded with what it
  carried, and ``AsyncLoggingError`` is raised at the next flush of that run (or any
  ``flush()``), after the rest of the queue has been written.
- Order: one thread at a time writes the queue, in the order it was filled (the
  worker, or a thread that flushes while nothing is being written: it writes the queue
  itself instead of waking the worker and waiting), so the points of one
  metric reach the store in the order they were logged; within one batch a later tag
  value replaces an earlier one, and a param logged again with a different value starts
  a new batch, so the store judges it exactly as it would a synchronous call.
- Each batch is handed to the store once; the logger never retries. Retrying a
  request belongs to the REST store, which resends a batch whose answer was lost only
  once the run's history shows it did not arrive (``cairn.store.journal`` does the same
  for the offline case).
- Fork: a child process starts with an empty logger and no worker; what the parent had
  queued is the parent's to write.
- A ``multiprocessing`` worker forked from the parent ends with ``os._exit``, which
  skips interpreter exit: the queues are written by its exit finalizers instead.
- SIGTERM (job schedulers, ``docker stop``, ``timeout``) and SIGHUP (the terminal or
  SSH session went away) skip interpreter exit. While nobody else handles one, a
  logging call from the main thread installs a handler that writes the queues
  (for at most ``SIGNAL_FLUSH_SECONDS``) and then lets the process die by the signal as
  it would have. Meanwhile the main thread goes on (a batch it was writing is finished),
  and logging calls wait for the end: what they would add could not be written. A
  program that reaches its end meanwhile writes the queues at exit and then dies by the
  signal all the same.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from cairn import env
from cairn.exceptions import MlflowException
from cairn.validation import (
    MAX_ENTITIES_PER_BATCH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_TAGS_PER_BATCH,
)

if TYPE_CHECKING:
    from cairn.entities import Metric, Param, RunTag

__all__ = [
    "AsyncLoggingError",
    "BatchFailure",
    "BatchSink",
    "BatchingLogger",
    "flush",
    "get_logger",
    "should_log_async",
]


class BatchSink(Protocol):
    """Where batches go: a tracking store, or the offline failover in front of one."""

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None: ...


# (sequence number, store, run id, metrics, params, tags); the metrics list is the
# logger's own, so that later points for the same run can be appended to it
_Item = tuple[int, BatchSink, str, list["Metric"], Sequence["Param"], Sequence["RunTag"]]
_Batch = tuple[list["Metric"], list["Param"], list["RunTag"]]
_MAX_KEYS_NAMED = 10


@dataclass(frozen=True)
class BatchFailure:
    """One ``log_batch`` the background logger could not make, and what it carried."""

    run_id: str
    metric_keys: tuple[str, ...]
    param_keys: tuple[str, ...]
    tag_keys: tuple[str, ...]
    metric_count: int
    error: BaseException

    def describe(self) -> str:
        """One line naming the run, the counts and keys, and the store's message."""
        parts = []
        for what, keys, count in (
            ("metrics", self.metric_keys, self.metric_count),
            ("params", self.param_keys, len(self.param_keys)),
            ("tags", self.tag_keys, len(self.tag_keys)),
        ):
            if count:
                named = ", ".join(keys[:_MAX_KEYS_NAMED])
                more = ", ..." if len(keys) > _MAX_KEYS_NAMED else ""
                parts.append(f"{count} {what} ({named}{more})")
        message = getattr(self.error, "message", None) or str(self.error)
        return (
            f"run {self.run_id}: {'; '.join(parts) or 'empty batch'} not logged: "
            f"{type(self.error).__name__}: {message}"
        )


class AsyncLoggingError(MlflowException):
    """Data logged in the background did not reach the store.

    Carries the store's error code when it raised an ``MlflowException`` (a changed
    param stays ``INVALID_PARAMETER_VALUE``), and every failure in ``failures``.
    """

    def __init__(self, failures: Sequence[BatchFailure]) -> None:
        self.failures = tuple(failures)
        first = self.failures[0].error
        code = first.error_code if isinstance(first, MlflowException) else None
        lines = "\n".join(f"  {failure.describe()}" for failure in self.failures)
        count = len(self.failures)
        super().__init__(
            f"{count} background logging batch{'es' if count > 1 else ''} failed:\n{lines}",
            error_code=code,
        )


_async_setting: tuple[object, object, bool] | None = None
_ASYNC_VARIABLES = (env.ASYNC_LOGGING.name, env.ASYNC_LOGGING.mlflow_name or "")
# os.environ.get of an unset name raises and catches a KeyError inside, which costs more
# than the rest of a log_metric call; on POSIX the encoded mapping answers directly.
_environ_bytes = getattr(os.environ, "_data", None) if os.name == "posix" else None
_async_variable_keys = tuple(map(os.fsencode, _ASYNC_VARIABLES))


def _async_variables() -> tuple[object, object]:
    if isinstance(_environ_bytes, dict):
        first, second = _async_variable_keys
        return _environ_bytes.get(first), _environ_bytes.get(second)
    return os.environ.get(_ASYNC_VARIABLES[0]), os.environ.get(_ASYNC_VARIABLES[1])


def should_log_async(synchronous: bool | None) -> bool:
    """Whether a logging call goes through the queue: ``synchronous`` wins, else the env."""
    global _async_setting
    if synchronous is not None:
        return not synchronous
    # Asked on every logging call: parse the variables only when their text changes.
    raw = _async_variables()
    cached = _async_setting
    if cached is not None and cached[:2] == raw:
        return cached[2]
    enabled = bool(env.ASYNC_LOGGING.get())
    _async_setting = (*raw, enabled)
    return enabled


class BatchingLogger:
    """A bounded queue of validated writes and the one thread that batches them out."""

    def __init__(self, flush_interval: float | None = None, max_queue: int | None = None) -> None:
        interval = (
            env.ASYNC_LOGGING_FLUSH_INTERVAL.get() if flush_interval is None else flush_interval
        )
        size = env.ASYNC_LOGGING_QUEUE_SIZE.get() if max_queue is None else max_queue
        self.flush_interval = max(0.0, float(interval or 0.0))
        self.max_queue = max(1, int(size or 1))
        self._reset_state()
        _instances.add(self)

    def _reset_state(self) -> None:
        # Called at construction and in a forked child, where the parent's locks may be
        # held by threads that do not exist there.
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._done = threading.Condition(self._lock)
        self._queue: list[_Item] = []
        self._queued = 0  # entities waiting in _queue
        self._pending = 0  # entities not yet written (queued or being written)
        self._seq = 0
        self._done_seq = 0
        self._last_seq: dict[str, int] = {}
        self._failures: list[BatchFailure] = []
        self._flush_requested = False
        self._closing = False
        self._worker: threading.Thread | None = None
        # the thread writing items taken from the queue (the worker, or a flushing
        # caller): one at a time, so the queue is written in the order it was filled
        self._writer: threading.Thread | None = None

    # -- producers ---------------------------------------------------------------------
    def enqueue(
        self,
        store: BatchSink,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Queue already-validated data for ``store.log_batch``; waits while the queue is full."""
        size = len(metrics) + len(params) + len(tags)
        if not size:
            return
        if not _watching_signals:
            _watch_ending_signals()
        with self._lock:
            if self._closing:
                raise MlflowException("The background logger is closed; log synchronously.")
            # The process is ending by a signal: what is queued is being written, and what
            # this call would add could not be. It waits for the end instead of returning.
            while _ending_by is not None and _ending():  # the first test is the cheap one
                # woken now and then: the signal that ends the process may reach another
                # thread, and the handler runs only once the main thread is back in Python
                self._not_full.wait(0.1)
            if self._worker is None:
                self._start_worker()
            # An item larger than the whole queue is let in once the queue is empty.
            while self._pending and self._pending + size > self.max_queue:
                self._not_full.wait()
            queue = self._queue
            last = queue[-1] if queue else None
            if (
                last is not None
                and not params
                and not tags
                and last[2] == run_id
                and last[1] is store
                and not last[4]
                and not last[5]
            ):
                # More points for the run the last item is for (a training loop's steady
                # state): one growing item, not one per call, so the writer handles
                # thousands of points in a few slices rather than a Python loop over items.
                last[3].extend(metrics)
            else:
                self._seq += 1
                queue.append((self._seq, store, run_id, list(metrics), params, tags))
                self._last_seq[run_id] = self._seq
            self._pending += size
            before = self._queued
            self._queued = before + size
            if before < MAX_ENTITIES_PER_BATCH <= self._queued:
                self._work.notify()

    def flush(self, run_id: str | None = None, timeout: float | None = None) -> None:
        """Wait until what was enqueued before this call (for ``run_id``, or all) is written.

        Raises:
            AsyncLoggingError: a batch of that run (of any run without ``run_id``) failed
                since the last flush; each failure is reported once.
            TimeoutError: ``timeout`` seconds passed first.
        """
        current = threading.current_thread()
        if current is self._worker or current is self._writer:
            return  # a store that flushes from inside log_batch must not wait for itself
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            target = self._seq if run_id is None else self._last_seq.get(run_id, 0)
            while self._done_seq < target:
                if self._writer is None and self._queue and deadline is None:
                    # Nobody is writing: write the queue here rather than wake the worker
                    # and wait for it, two thread hand-offs that cost more than a small
                    # batch (the end of every run waits on one). Not with a timeout,
                    # which only a waiting caller can keep.
                    self._write_taken(self._take_queue())
                    continue
                self._flush_requested = True
                self._work.notify()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(
                        f"Background logging did not finish within {timeout} seconds."
                    )
                self._done.wait(remaining)
            if run_id is not None and self._last_seq.get(run_id, 0) <= self._done_seq:
                self._last_seq.pop(run_id, None)
            failures = [f for f in self._failures if run_id is None or f.run_id == run_id]
            if failures:
                self._failures = [
                    f for f in self._failures if run_id is not None and f.run_id != run_id
                ]
        if failures:
            raise AsyncLoggingError(failures)

    def close(self, timeout: float | None = None) -> None:
        """Flush everything, then stop the worker; later enqueues raise."""
        try:
            self.flush(timeout=timeout)
        finally:
            with self._lock:
                self._closing = True
                self._work.notify()
                worker = self._worker
            if worker is not None and worker is not threading.current_thread():
                worker.join(timeout)

    # -- the worker --------------------------------------------------------------------
    def _start_worker(self) -> None:
        _flush_at_worker_exit()
        self._worker = threading.Thread(target=self._run, name="cairn-batching-logger", daemon=True)
        self._worker.start()

    def _run(self) -> None:
        with self._lock:
            try:
                while True:
                    items = self._take_items()
                    if items is None:
                        return
                    self._write_taken(items)
            finally:
                # gone, however it ended: the next enqueue starts another (cheaper to
                # learn here than to ask Thread.is_alive on every call)
                if self._worker is threading.current_thread():
                    self._worker = None

    def _take_queue(self) -> list[_Item]:
        """Take every queued item for the calling thread to write (the lock is held)."""
        items, self._queue = self._queue, []
        self._queued = 0
        self._flush_requested = False
        self._writer = threading.current_thread()
        return items

    def _write_taken(self, items: list[_Item]) -> None:
        """Write what ``_take_queue`` took; the lock is held on entry and exit, not meanwhile."""
        written = sum(len(item[3]) + len(item[4]) + len(item[5]) for item in items)
        self._lock.release()
        try:
            self._write(items)
        finally:
            self._lock.acquire()
            self._pending -= written
            self._done_seq = items[-1][0]
            self._writer = None
            self._not_full.notify_all()
            self._done.notify_all()
            self._work.notify()  # the worker may wait for the writer to finish

    def _take_items(self) -> list[_Item] | None:
        """Wait for work, gather for up to one interval, and take the whole queue.

        Called with the lock held; None once the logger is closed and drained.
        """
        while True:
            while not self._queue or self._writer is not None:
                if self._closing and not self._queue:
                    return None
                self._work.wait()
            deadline = time.monotonic() + self.flush_interval
            while (
                self._queued < MAX_ENTITIES_PER_BATCH
                and not self._flush_requested
                and not self._closing
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._work.wait(remaining)
            # a flushing caller may have taken the queue meanwhile
            if self._queue and self._writer is None:
                return self._take_queue()

    def _write(self, items: list[_Item]) -> None:
        """Write ``items`` run by run, recording each batch the store refuses."""
        groups: dict[tuple[int, str], tuple[BatchSink, list[_Item]]] = {}
        for item in items:
            groups.setdefault((id(item[1]), item[2]), (item[1], []))[1].append(item)
        for (_, run_id), (store, run_items) in groups.items():
            for metrics, params, tags in build_batches(run_items):
                try:
                    store.log_batch(run_id, metrics, params, tags)
                except Exception as error:
                    failure = BatchFailure(
                        run_id,
                        tuple(dict.fromkeys(m.key for m in metrics)),
                        tuple(p.key for p in params),
                        tuple(t.key for t in tags),
                        len(metrics),
                        error,
                    )
                    with self._lock:
                        self._failures.append(failure)


def build_batches(items: Sequence[_Item]) -> list[_Batch]:
    """Pack one run's items, in order, into as few batches within MLflow's limits as possible."""
    batches: list[_Batch] = []
    metrics: list[Metric] = []
    params: dict[str, Param] = {}
    tags: dict[str, RunTag] = {}

    def emit() -> None:
        nonlocal metrics, params, tags
        if metrics or params or tags:
            batches.append((metrics, list(params.values()), list(tags.values())))
        metrics, params, tags = [], {}, {}

    for item in items:
        new_metrics, new_params, new_tags = item[3], item[4], item[5]
        start = 0
        while start < len(new_metrics):
            room = min(
                MAX_METRICS_PER_BATCH - len(metrics),
                MAX_ENTITIES_PER_BATCH - len(metrics) - len(params) - len(tags),
            )
            if room <= 0:
                emit()
                continue
            chunk = new_metrics[start : start + room]
            metrics.extend(chunk)
            start += len(chunk)
        for param in new_params:
            old = params.get(param.key)
            if old is not None:
                if old.value == param.value:
                    continue
                emit()  # the store must see the change on its own and refuse it
            elif (
                len(params) >= MAX_PARAMS_TAGS_PER_BATCH
                or len(metrics) + len(params) + len(tags) >= MAX_ENTITIES_PER_BATCH
            ):
                emit()
            params[param.key] = param
        for tag in new_tags:
            if tag.key in tags:
                del tags[tag.key]  # the later value wins, as successive set_tag calls do
            elif (
                len(tags) >= MAX_PARAMS_TAGS_PER_BATCH
                or len(metrics) + len(params) + len(tags) >= MAX_ENTITIES_PER_BATCH
            ):
                emit()
            tags[tag.key] = tag
    emit()
    return batches


# -- the process's logger ----------------------------------------------------------------
_instances: weakref.WeakSet[BatchingLogger] = weakref.WeakSet()
_process_logger: BatchingLogger | None = None
_process_lock = threading.Lock()


def get_logger() -> BatchingLogger:
    """The process's logger, created on first use with the settings from the environment."""
    global _process_logger
    logger = _process_logger
    if logger is None:
        with _process_lock:
            if _process_logger is None:
                _process_logger = BatchingLogger()
            logger = _process_logger
    return logger


def flush(run_id: str | None = None, timeout: float | None = None) -> None:
    """Flush the process's logger (a no-op when nothing was ever queued)."""
    if _process_logger is not None:
        _process_logger.flush(run_id, timeout)


def _after_fork_in_child() -> None:
    global _process_lock, _ending_by, _exit_hooks_lock
    _process_lock = threading.Lock()
    _exit_hooks_lock = threading.Lock()
    _ending_by = None
    for logger in list(_instances):
        logger._reset_state()


_exit_hooks: list[Callable[[], None]] = []


def call_after_exit_flush(hook: Callable[[], None]) -> None:
    """Run ``hook`` at interpreter exit, after the queues were flushed (the offline
    failover uses it to try the journal once more and say what is left in it)."""
    _exit_hooks.append(hook)


def _flush_queues() -> None:
    for logger in list(_instances):
        try:
            logger.flush()
        except AsyncLoggingError as error:
            # Exceptions cannot propagate out of exit; say loudly what was not logged.
            print(f"cairn: {error.message}", file=sys.stderr)


_exit_hooks_ran_in: int | None = None  # the process whose exit hooks ran
_exit_hooks_lock = threading.Lock()


def _flush_at_exit() -> None:
    """Write the queues, then run the exit hooks once in the process. The end of a
    process may come here more than once: from a ``multiprocessing`` worker's finalizers
    and then interpreter exit, from the thread writing the queues after a signal and the
    main thread's exit; a second caller waits for the hooks the first one runs."""
    global _exit_hooks_ran_in
    _flush_queues()
    with _exit_hooks_lock:
        if _exit_hooks_ran_in == os.getpid():
            return
        _exit_hooks_ran_in = os.getpid()
        for hook in _exit_hooks:
            try:
                hook()
            except Exception as error:  # exit must go on; say what happened
                print(f"cairn: {error}", file=sys.stderr)


_worker_exit_registered_in: int | None = None  # the pid whose finalizers flush


def _flush_at_worker_exit() -> None:
    """In a ``multiprocessing`` child, write the queues when it ends. A forked or
    forkserver child leaves through ``os._exit`` after running the finalizers that
    ``multiprocessing.util.Finalize`` registers (registered in the child: those from
    before the fork are dropped there)."""
    global _worker_exit_registered_in
    multiprocessing = sys.modules.get("multiprocessing")
    if multiprocessing is None or multiprocessing.parent_process() is None:
        return
    if _worker_exit_registered_in == os.getpid():
        return
    _worker_exit_registered_in = os.getpid()
    from multiprocessing import util

    util.Finalize(None, _exit, exitpriority=10)


# Long enough for a slow store's last batches, short of the grace periods before SIGKILL
# (10 s for docker stop, 30 s for Kubernetes and Slurm).
SIGNAL_FLUSH_SECONDS = 8.0
# The signals that end a process by default without running interpreter exit, and that
# a process gets while it could still write (unlike SIGKILL).
_ENDING_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
_watching_signals = False  # settled by a call from the main thread
_ending_by: int | None = None  # the signal ending the process, once one came


def _watch_ending_signals() -> None:
    """Write the queues before SIGTERM or SIGHUP ends the process, unless someone else
    handles it (their handler decides; a clean exit flushes anyway) or ignores it
    (``nohup``). Only the main thread may install handlers: a logging call from another
    thread leaves it to the next one from the main thread."""
    global _watching_signals
    if threading.current_thread() is not threading.main_thread():
        return
    _watching_signals = True
    for signum in _ENDING_SIGNALS:
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, _flush_then_die)


def _ending() -> bool:
    """Whether a signal is ending the process: it came, and the program left it to us (it
    may take the signal back after it came, to finish something first)."""
    signum = _ending_by
    return signum is not None and signal.getsignal(signum) is _flush_then_die


def _flush_then_die(signum: int, frame: object) -> None:
    # Runs on the main thread, between any two bytecodes: possibly while it holds a
    # logger's lock or writes a batch itself. So nothing here waits: a thread of its own
    # writes the queues, and the main thread goes on (its logging calls now wait).
    global _ending_by
    if signal.getsignal(signum) is not _flush_then_die:
        # A handler installed later calls this one as the previous handler (PyTorch
        # Lightning does, to stop training gracefully): write the queues, and leave what
        # happens next to it.
        with contextlib.suppress(RuntimeError):  # no new thread at exit (3.12+)
            _in_thread(_flush_queues)
        return
    if _ending_by is not None:
        # the queues are written (the writing thread sends the signal again), or a
        # second signal came from outside: end now, as the default action would
        _die_by(signum)
        return
    _ending_by = signum
    try:
        _in_thread(_flush_then_signal, signum)
    except RuntimeError:
        # Python 3.12+ starts no thread at interpreter exit, which is writing the queues
        # already: the process then ends by exit rather than by the signal.
        _ending_by = None


def _flush_then_signal(signum: int) -> None:
    """Write everything (at most ``SIGNAL_FLUSH_SECONDS``), then signal the main thread,
    whose handler ends the process (only it may restore the default action)."""
    writer = _in_thread(_flush_at_exit)
    writer.join(SIGNAL_FLUSH_SECONDS)
    # to the main thread itself: sent to the process, it may reach another thread and
    # leave the main one blocked where it waits
    signal.pthread_kill(threading.main_thread().ident or 0, signum)


def _in_thread(target: Callable[..., None], *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, name="cairn-signal-flush", daemon=True)
    thread.start()
    return thread


def _exit() -> None:
    """Interpreter exit (and a ``multiprocessing`` worker's end): write the queues. A
    program that ran on to its end after an ending signal came, and still leaves it to
    us, then ends by that signal, as it would have: its writing thread, a daemon, may not
    get to send it before the interpreter is gone. Exit handlers registered before
    Cairn's are cut short then (logging's is run first), as the signal's default action
    would have skipped them all."""
    _flush_at_exit()
    signum = _ending_by
    if signum is not None and _ending():
        logging = sys.modules.get("logging")
        if logging is not None:
            logging.shutdown()  # buffered records reach their files
        _die_by(signum)


def _die_by(signum: int) -> None:
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_exit)
