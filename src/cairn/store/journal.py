"""The offline journal: batches a tracking server could not take, kept durably until it can.

One journal per tracking URI lives in ``$XDG_CACHE_HOME/cairn/journal/<hash of URI>/``
(``~/.cache`` when unset, ``CAIRN_JOURNAL_DIR`` overrides the base). It holds:

- ``batches.jsonl``: one JSON line per batch, appended and fsync'd:
  ``{"seq", "id", "run_id", "metrics": [[key, value, timestamp, step]], "params": [[k, v]],
  "tags": [[k, v]], "end": [status, end_time] or null, "uncertain"}``.
- ``acks.jsonl``: what happened to them, appended and fsync'd: ``{"sending": seq}``
  before a batch is handed to the store, ``{"done": seq}`` once the store confirmed it
  (written with the next batch's ``sending``: one fsync a batch),
  ``{"refused": seq}`` when the replayer gave up on it (the store refused it for good).
- ``uri``: the tracking URI (without credentials), so ``cairn sync`` knows the server.

A crash mid-append leaves at most a torn last line; readers ignore it and the next
append cuts it off first. Writers hold an ``flock`` on the directory's lock file, and one
replayer at a time holds a second one.

What replay guarantees, and how, without adding anything to the run's data:
1. Batches are replayed in the order they were appended, by one replayer at a time, and
   a batch confirmed ``done`` is never sent again (nor a batch id appended twice).
2. A batch whose outcome is unknown (a ``sending`` ack without ``done``: the process died
   between the store's answer and the write of the ``done`` record; or one appended with
   ``uncertain=True`` because a request failed after it may have reached the server) is
   checked against the store first: only its metric points (key, value, timestamp,
   step) not yet in the metric histories are sent. A SQL store applies a batch whole or
   not at all; an ``mlruns`` store writes it a file at a time, so a server that died in
   the middle of one kept some keys' points and not others'. The batch's params and tags
   are sent again with them (a batch of points alone that all arrived is skipped): a param
   may be logged again with the same value, and a tag, or a run's end status, set again
   to the same value, and the batches after it are replayed after it, so the final
   values are the last logged.
3. So every metric point arrives exactly once. The one blind spot: a point logged twice
   with the same key, value, timestamp and step, whose second copy's fate is unknown, is
   taken as already there (SQL stores keep identical points once anyway).
While a journal is not empty, the client sends that URI's later batches through it too,
so the points of one metric keep their order.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from cairn import env
from cairn.entities import Metric, Param, RunStatus, RunTag

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one writer per journal is the user's job
    fcntl = None  # type: ignore[assignment]

from cairn.store.tracking import missing_points

if TYPE_CHECKING:
    from cairn.store.tracking import TrackingStore

__all__ = ["Journal", "JournalBatch", "journal_dir_for"]

_BATCHES = "batches.jsonl"
_ACKS = "acks.jsonl"


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class JournalBatch:
    """One ``log_batch`` call (and/or the end of a run) waiting for its store.

    ``end`` is ``(status name, end time in ms)``: the run was ended while the server was
    out of reach, and replay ends it after writing the batch's data. ``batch_id`` lets the
    journal recognise the same batch appended twice; it is never sent.
    """

    run_id: str
    metrics: tuple[Metric, ...] = ()
    params: tuple[Param, ...] = ()
    tags: tuple[RunTag, ...] = ()
    end: tuple[str, int] | None = None
    batch_id: str = field(default_factory=_new_id)

    def store_args(self) -> tuple[list[Metric], list[Param], list[RunTag]]:
        """The metrics, params and tags to hand to ``log_batch``."""
        return list(self.metrics), list(self.params), list(self.tags)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.batch_id,
            "run_id": self.run_id,
            "metrics": [[m.key, m.value, m.timestamp, m.step] for m in self.metrics],
            "params": [[p.key, p.value] for p in self.params],
            "tags": [[t.key, t.value] for t in self.tags],
            "end": None if self.end is None else list(self.end),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JournalBatch:
        end = data.get("end")
        return cls(
            run_id=data["run_id"],
            metrics=tuple(Metric(k, v, ts, step) for k, v, ts, step in data["metrics"]),
            params=tuple(Param(k, v) for k, v in data["params"]),
            tags=tuple(RunTag(k, v) for k, v in data["tags"]),
            end=None if end is None else (str(end[0]), int(end[1])),
            batch_id=data["id"],
        )


def journal_base_dir() -> Path:
    """Where journals live: ``CAIRN_JOURNAL_DIR``, else the XDG cache directory."""
    configured = env.JOURNAL_DIR.get()
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "cairn" / "journal"


def _without_credentials(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def journal_dir_for(tracking_uri: str) -> Path:
    """The journal directory of one tracking URI (credentials do not change it)."""
    public = _without_credentials(tracking_uri.rstrip("/"))
    digest = hashlib.sha256(public.encode()).hexdigest()[:16]
    return journal_base_dir() / digest


class Journal:
    """An append-only, fsync'd log of pending batches, and their replay into a store."""

    def __init__(self, directory: str | os.PathLike[str], tracking_uri: str | None = None) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._seq_cache: tuple[tuple[int, int], int] | None = None
        if tracking_uri is not None:
            uri_file = self.directory / "uri"
            if not uri_file.exists():
                uri_file.write_text(_without_credentials(tracking_uri) + "\n")

    @classmethod
    def for_tracking_uri(cls, tracking_uri: str) -> Journal:
        """The journal of ``tracking_uri`` under the user's cache directory."""
        return cls(journal_dir_for(tracking_uri), tracking_uri)

    @property
    def tracking_uri(self) -> str | None:
        """The URI this journal's batches belong to, when it was recorded."""
        try:
            return (self.directory / "uri").read_text().strip() or None
        except FileNotFoundError:
            return None

    # -- writing -----------------------------------------------------------------------
    def append(self, batch: JournalBatch, *, uncertain: bool = False) -> int:
        """Record ``batch`` durably (fsync'd before returning) and return its sequence number.

        ``uncertain=True`` says the store may already have applied it (a request failed
        after it was sent): replay then checks the store first.
        """
        with self._locked():
            seq = self._last_seq() + 1
            path = self.directory / _BATCHES
            _append_lines(path, [{"seq": seq, **batch.to_json(), "uncertain": uncertain}])
            stat = path.stat()
            self._seq_cache = ((stat.st_ino, stat.st_size), seq)
        return seq

    # -- reading -----------------------------------------------------------------------
    def pending(self) -> Iterator[tuple[int, JournalBatch]]:
        """The batches not yet acknowledged, oldest first, as ``(seq, batch)``."""
        for seq, batch, _ in self._pending_entries():
            yield seq, batch

    def __len__(self) -> int:
        return sum(1 for _ in self._pending_entries())

    def _pending_entries(self) -> list[tuple[int, JournalBatch, bool]]:
        done: set[int] = set()
        sending: set[int] = set()
        for ack in _read_lines(self.directory / _ACKS):
            if "done" in ack:
                done.add(ack["done"])
            elif "refused" in ack:
                done.add(ack["refused"])
            elif "sending" in ack:
                sending.add(ack["sending"])
        acknowledged_ids: set[str] = set()
        entries: list[tuple[int, dict[str, Any]]] = []
        for line in _read_lines(self.directory / _BATCHES):
            if line["seq"] in done:
                acknowledged_ids.add(line["id"])
            else:
                entries.append((line["seq"], line))
        pending = []
        seen_ids: set[str] = set()
        for seq, line in entries:
            if line["id"] in acknowledged_ids or line["id"] in seen_ids:
                continue  # the same batch appended twice: it goes once
            seen_ids.add(line["id"])
            uncertain = bool(line.get("uncertain")) or seq in sending
            pending.append((seq, JournalBatch.from_json(line), uncertain))
        return pending

    # -- replay ------------------------------------------------------------------------
    def replay(
        self,
        store: TrackingStore,
        give_up: Callable[[JournalBatch, Exception], bool] | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> int:
        """Send every pending batch to ``store`` in order, each exactly once.

        Returns how many batches were sent (those found already applied are not
        counted). Stops at the first batch the store refuses and raises its error; that
        batch and the ones after it stay pending. ``give_up(batch, error)`` returning
        True drops that batch instead (recorded as refused) and goes on: for errors that
        would refuse it forever, such as a deleted run. ``on_batch(1)`` is called after
        each batch is dealt with (for progress). An empty journal is compacted.
        """
        sent = 0
        with self._locked(_REPLAY_LOCK):
            # A batch's "done" goes out with the next batch's "sending" (or at the end): one
            # fsync'd write a batch, not two. A crash before it leaves the batch marked as
            # being sent, so the next replay reads the store's history before it resends.
            acks: list[dict[str, int]] = []
            try:
                for seq, batch, uncertain in self._pending_entries():
                    try:
                        sent += self._send(store, seq, batch, uncertain, acks)
                    except Exception as error:
                        if give_up is None or not give_up(batch, error):
                            raise
                        acks.append({"refused": seq})
                    if on_batch is not None:
                        on_batch(1)
            finally:
                self._write_acks(acks)
            self._compact_if_empty()
        return sent

    def _send(
        self,
        store: TrackingStore,
        seq: int,
        batch: JournalBatch,
        uncertain: bool,
        acks: list[dict[str, int]],
    ) -> int:
        metrics, params, tags = batch.store_args()
        if uncertain:
            # Only the points still missing: a file-store server that died in the middle
            # of the batch kept some keys' points and not others'. Its params and tags go
            # again (the same values change nothing, and they may be the part not kept).
            metrics = missing_points(store, batch.run_id, metrics)
            if not (metrics or params or tags or batch.end):
                acks.append({"done": seq})
                return 0
        acks.append({"sending": seq})
        self._write_acks(acks)  # durable before the batch goes out
        if metrics or params or tags:
            store.log_batch(batch.run_id, metrics, params, tags)
        if batch.end is not None:
            status, end_time = batch.end
            store.update_run_info(batch.run_id, RunStatus.from_string(status), end_time, None)
        acks.append({"done": seq})
        return 1

    def _write_acks(self, acks: list[dict[str, int]]) -> None:
        if acks:
            with self._locked():
                _append_lines(self.directory / _ACKS, acks)
            acks.clear()

    def _compact_if_empty(self) -> None:
        with self._locked():
            if self._pending_entries():
                return
            for name in (_BATCHES, _ACKS):
                with contextlib.suppress(FileNotFoundError):
                    (self.directory / name).unlink()

    # -- files and locks ---------------------------------------------------------------
    def _last_seq(self) -> int:
        # Reading the whole file per append would make a long outage quadratic; while
        # only this object appends, the file's identity and size say nothing changed.
        path = self.directory / _BATCHES
        try:
            stat = path.stat()
        except FileNotFoundError:
            # Compacted, or a compaction that died between its two deletions left acks
            # behind: numbering goes on after them, so none of them answers a new batch.
            acks = _read_lines(self.directory / _ACKS)
            return max((seq for ack in acks for seq in ack.values()), default=0)
        key = (stat.st_ino, stat.st_size)
        if self._seq_cache is not None and self._seq_cache[0] == key:
            return self._seq_cache[1]
        last = max((line["seq"] for line in _read_lines(path)), default=0)
        self._seq_cache = (key, last)
        return last

    @contextlib.contextmanager
    def _locked(self, name: str = ".lock") -> Iterator[None]:
        with open(self.directory / name, "a") as lock_file:
            if fcntl is not None:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)


_REPLAY_LOCK = ".replay.lock"


def _read_lines(path: Path) -> Iterator[dict[str, Any]]:
    """Every complete JSON line of ``path``; a torn last line (a crash mid-write) is skipped."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    for raw in data.split(b"\n")[:-1]:  # the part after the last newline is torn
        if raw.strip():
            yield json.loads(raw)


def _append_lines(path: Path, lines: Sequence[dict[str, Any]]) -> None:
    payload = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
    created = not path.exists()
    with open(path, "ab") as handle:
        _cut_torn_tail(handle)
        handle.write(payload.encode())
        handle.flush()
        os.fsync(handle.fileno())
    if created:
        _fsync_directory(path.parent)


def _cut_torn_tail(handle: IO[bytes]) -> None:
    """Drop a partial last line left by a crash, so the next line starts cleanly."""
    size = handle.seek(0, os.SEEK_END)
    if size == 0:
        return
    with open(handle.name, "rb") as reader:
        reader.seek(size - 1)
        if reader.read(1) == b"\n":
            return
        # scan back to the previous newline (torn lines are at most one batch long)
        position = size
        chunk = 65536
        while position > 0:
            start = max(0, position - chunk)
            reader.seek(start)
            block = reader.read(position - start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                handle.truncate(start + newline + 1)
                return
            position = start
        handle.truncate(0)


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
