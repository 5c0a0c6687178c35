"""Offline failover for ``http(s)://`` tracking URIs: keep training when the server is away.

The background logger writes through an ``OfflineFailover`` (one per URI). While the
server answers, each batch goes straight to it. When a batch fails because the server
cannot be reached or keeps failing after the REST store's retries, that batch, and every
later one for the URI, is appended to the URI's durable journal
(``cairn.store.journal``) instead, and training goes on. A daemon thread tries to
replay the journal every ``CAIRN_JOURNAL_RETRY_INTERVAL`` seconds (one request per
attempt, no retries); each flush point tries once too. Once the journal is empty,
batches go straight to the server again. The user sees one warning going offline and
one coming back. What is still journaled at exit is named on stderr, for ``cairn sync``.

A batch the server refuses for good during replay (a deleted run, a changed param) is
dropped from the journal and reported at the next flush point, as any background
failure is.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cairn import _forking, env
from cairn.exceptions import ErrorCode, MlflowException
from cairn.store.journal import Journal, JournalBatch, journal_dir_for
from cairn.store.registry import create_tracking_store
from cairn.tracking import batching
from cairn.tracking.batching import AsyncLoggingError, BatchFailure

if TYPE_CHECKING:
    from cairn.entities import Metric, Param, RunTag
    from cairn.store.tracking import TrackingStore

__all__ = ["OfflineFailover", "failover_for", "flush_all", "is_unreachable"]

_logger = logging.getLogger(__name__)

# What a REST store raises once its retries are spent on a server that is down, hung or
# overloaded. Any other code is the server's deliberate answer about the data.
_UNREACHABLE_CODES = frozenset(
    {
        ErrorCode.TEMPORARILY_UNAVAILABLE.value,
        ErrorCode.DEADLINE_EXCEEDED.value,
        ErrorCode.INTERNAL_ERROR.value,
        ErrorCode.REQUEST_LIMIT_EXCEEDED.value,
    }
)


def is_unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the server could not take a request, not that it refused it."""
    if isinstance(error, MlflowException):
        return str(error.error_code) in _UNREACHABLE_CODES
    return isinstance(error, (OSError, ConnectionError))


class OfflineFailover:
    """The write path of one remote tracking URI: the server, or its journal when it is away."""

    def __init__(self, tracking_uri: str, store: TrackingStore) -> None:
        self.tracking_uri = tracking_uri
        self.store = store
        self.retry_interval = max(0.01, float(env.JOURNAL_RETRY_INTERVAL.get() or 5.0))
        self._journal_obj: Journal | None = None
        self._replay_store: TrackingStore | None = None
        self._reset_threads()
        _forking.renew_in_child(self, OfflineFailover._after_fork)
        # A journal left by an earlier process comes first: later batches queue behind it.
        self._journaling = _has_pending(tracking_uri)
        if self._journaling:
            self._start_replayer()

    def _reset_threads(self) -> None:
        self._lock = threading.Lock()  # journaling state and appends
        self._drain_lock = threading.Lock()  # one in-process replayer
        self._failures: list[BatchFailure] = []
        self._stop = threading.Event()
        self._replayer: threading.Thread | None = None

    def _after_fork(self) -> None:
        # The parent's replayer thread is not in the child and may have held the locks
        # mid-replay. The journal on disk is shared (its flocks keep one replayer at a
        # time); failures already recorded are the parent's to report, not the child's.
        self._reset_threads()

    @property
    def journaling(self) -> bool:
        """True while batches go to the journal rather than to the server."""
        return self._journaling

    @property
    def journal(self) -> Journal:
        if self._journal_obj is None:
            self._journal_obj = Journal.for_tracking_uri(self.tracking_uri)
        return self._journal_obj

    # -- writing (called by the background logger's worker) --------------------------
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Send the batch, or journal it while (or because) the server is unreachable."""
        batch = JournalBatch(run_id, tuple(metrics), tuple(params), tuple(tags))
        with self._lock:
            if self._journaling:
                self.journal.append(batch)
                self._start_replayer()  # a forked child journals without its parent's
                return
        try:
            self.store.log_batch(run_id, metrics, params, tags)
        except Exception as error:
            if not is_unreachable(error):
                raise
            # It may have reached the server before the connection failed: replay checks.
            self._go_offline(batch, error, uncertain=True)

    def end_run(self, run_id: str, status: str, end_time: int) -> bool:
        """Journal the end of a run if the server is away; False means: send it directly."""
        with self._lock:
            if not self._journaling:
                return False
            self.journal.append(JournalBatch(run_id, end=(status, end_time)))
            return True

    def journal_end_run(self, run_id: str, status: str, end_time: int, error: Exception) -> None:
        """Journal the end of a run whose update just failed on an unreachable server."""
        self._go_offline(JournalBatch(run_id, end=(status, end_time)), error, uncertain=False)

    def _go_offline(self, batch: JournalBatch, error: BaseException, *, uncertain: bool) -> None:
        with self._lock:
            self.journal.append(batch, uncertain=uncertain)
            if self._journaling:
                return
            self._journaling = True
        message = getattr(error, "message", None) or str(error)
        _logger.warning(
            "cairn: the tracking server %s cannot be reached (%s). Logging continues into the "
            "local journal %s and will be replayed when the server answers again.",
            self.tracking_uri,
            message,
            self.journal.directory,
        )
        self._start_replayer()

    # -- replay ------------------------------------------------------------------------
    def drain(self) -> bool:
        """Try once to replay the journal; True when it is empty and batches go direct again."""
        if not self._journaling:
            return True
        with self._drain_lock:
            if not self._journaling:
                return True
            if self._replay_store is None:
                self._replay_store = create_tracking_store(self.tracking_uri)
                http = getattr(self._replay_store, "http", None)
                if http is not None:
                    http.max_retries = 0  # the next attempt is the retry
            try:
                sent = self.journal.replay(self._replay_store, self._give_up)
            except Exception as error:
                if is_unreachable(error):
                    return False
                raise
            with self._lock:
                if len(self.journal):
                    return False  # more arrived meanwhile: the next attempt takes them
                self._journaling = False
        _logger.warning(
            "cairn: the tracking server %s is back; the data journaled meanwhile was sent "
            "(%d batch%s).",
            self.tracking_uri,
            sent,
            "" if sent == 1 else "es",
        )
        return True

    def _give_up(self, batch: JournalBatch, error: Exception) -> bool:
        if is_unreachable(error):
            return False
        with self._lock:
            self._failures.append(
                BatchFailure(
                    batch.run_id,
                    tuple(dict.fromkeys(m.key for m in batch.metrics)),
                    tuple(p.key for p in batch.params),
                    tuple(t.key for t in batch.tags),
                    len(batch.metrics),
                    error,
                )
            )
        return True

    def flush(self, run_id: str | None = None) -> None:
        """At a flush point: try the journal once, then raise what replay had to drop."""
        self.drain()
        with self._lock:
            failures = [f for f in self._failures if run_id is None or f.run_id == run_id]
            self._failures = [f for f in self._failures if f not in failures]
        if failures:
            raise AsyncLoggingError(failures)

    def _start_replayer(self) -> None:
        if self._replayer is not None and self._replayer.is_alive():
            return
        self._replayer = threading.Thread(
            target=self._replay_periodically, name="cairn-journal-replay", daemon=True
        )
        self._replayer.start()

    def _replay_periodically(self) -> None:
        while not self._stop.wait(self.retry_interval):
            try:
                if self.drain():
                    return
            except Exception as error:  # the replayer must live on; flush points re-raise
                _logger.debug("journal replay failed: %s", error)

    def at_exit(self) -> None:
        """Try the journal a last time, and say what is left for ``cairn sync``."""
        self._stop.set()
        if not self._journaling:
            return
        try:
            self.drain()
        except Exception as error:
            _logger.debug("journal replay failed at exit: %s", error)
        if self._journaling:
            _logger.warning(
                "cairn: %d batch(es) for %s wait in the local journal %s; run `cairn sync` "
                "once the server is back to send them.",
                len(self.journal),
                self.tracking_uri,
                self.journal.directory,
            )


def _has_pending(tracking_uri: str) -> bool:
    directory = journal_dir_for(tracking_uri)
    return (directory / "batches.jsonl").exists() and bool(len(Journal(directory)))


_failovers: dict[str, OfflineFailover] = {}
_failovers_lock = threading.Lock()


def failover_for(tracking_uri: str, store: TrackingStore) -> OfflineFailover:
    """The process's failover for ``tracking_uri`` (one per URI, so one journal writer)."""
    failover = _failovers.get(tracking_uri)
    if failover is None:
        with _failovers_lock:
            failover = _failovers.get(tracking_uri)
            if failover is None:
                failover = _failovers[tracking_uri] = OfflineFailover(tracking_uri, store)
    return failover


def flush_all() -> None:
    """``flush()`` every remote URI's failover: try each journal, raise what was dropped."""
    failures: list[BatchFailure] = []
    for failover in list(_failovers.values()):
        try:
            failover.flush()
        except AsyncLoggingError as error:
            failures.extend(error.failures)
    if failures:
        raise AsyncLoggingError(failures)


def _new_failovers_lock() -> None:
    global _failovers_lock
    _failovers_lock = threading.Lock()


def _at_exit() -> None:
    for failover in list(_failovers.values()):
        failover.at_exit()


batching.call_after_exit_flush(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_failovers_lock)
