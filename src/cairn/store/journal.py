"""The offline journal: batches a tracking server could not take, kept durably until it can.

One journal per tracking URI lives in ``$XDG_CACHE_HOME/cairn/journal/<hash of URI>/``
(``~/.cache`` when unset, ``CAIRN_JOURNAL_DIR`` overrides the base). It holds:

- ``batches.jsonl``: one JSON line per batch, appended and fsync'd:
  ``{"seq", "id", "run_id", "metrics": [[key, value, timestamp, step]], "params": [[k, v]],
  "tags": [[k, v]], "uncertain"}``.
- ``acks.jsonl``: what happened to them, appended and fsync'd: ``{"sending": seq}``
  before a batch is handed to the store, ``{"done": seq}`` once the store confirmed it.
- ``uri``: the tracking URI (without credentials), so ``cairn sync`` knows the server.

A crash mid-append leaves at most a torn last line; readers ignore it and the next
append cuts it off first. Writers hold an ``flock`` on the directory's lock file, and one
replayer at a time holds a second one.

Exactly-once replay relies on three things:
1. Every batch carries a client-generated id (``JournalBatch.batch_id``), and is sent with
   the run tag ``cairn.journal.batchId`` set to that id, in the same ``log_batch``.
2. ``log_batch`` is atomic (all of a batch or none of it, the store Protocol's rule), and a
   run's batches are replayed in order by one replayer, so that tag names the last
   journal batch the store applied to the run.
3. A batch whose outcome is unknown (a ``sending`` ack without ``done``: the process died
   between the store's answer and the ``done`` record; or one appended with
   ``uncertain=True`` because a request failed after it may have reached the server) is
   replayed only if the run's tag does not already name it.
Batches confirmed ``done`` are never sent again, and an id already acknowledged is
skipped if the same batch was appended twice. While a journal is not empty, the client
must send that URI's later batches through the journal too (else 2 does not hold).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from cairn import env
from cairn.entities import Metric, Param, RunTag
from cairn.validation import MAX_ENTITIES_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one writer per journal is the user's job
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from cairn.store.tracking import TrackingStore

__all__ = ["JOURNAL_BATCH_TAG", "Journal", "JournalBatch", "journal_dir_for"]

JOURNAL_BATCH_TAG = "cairn.journal.batchId"
_BATCHES = "batches.jsonl"
_ACKS = "acks.jsonl"


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class JournalBatch:
    """One ``log_batch`` call waiting for its store, with the id that makes replay safe."""

    run_id: str
    metrics: tuple[Metric, ...] = ()
    params: tuple[Param, ...] = ()
    tags: tuple[RunTag, ...] = ()
    batch_id: str = field(default_factory=_new_id)

    def store_args(self) -> tuple[list[Metric], list[Param], list[RunTag]]:
        """The metrics, params and tags to send: the batch plus its id tag."""
        return list(self.metrics), list(self.params), [*self.tags, self.id_tag()]

    def id_tag(self) -> RunTag:
        return RunTag(JOURNAL_BATCH_TAG, self.batch_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.batch_id,
            "run_id": self.run_id,
            "metrics": [[m.key, m.value, m.timestamp, m.step] for m in self.metrics],
            "params": [[p.key, p.value] for p in self.params],
            "tags": [[t.key, t.value] for t in self.tags],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JournalBatch:
        return cls(
            run_id=data["run_id"],
            metrics=tuple(Metric(k, v, ts, step) for k, v, ts, step in data["metrics"]),
            params=tuple(Param(k, v) for k, v in data["params"]),
            tags=tuple(RunTag(k, v) for k, v in data["tags"]),
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
    def append(self, batch: JournalBatch, *, uncertain: bool = False) -> list[int]:
        """Record ``batch`` durably and return its sequence number(s).

        A batch with no room left for the id tag is split in two, so that each part is
        still one valid ``log_batch``. ``uncertain=True`` says the store may already have
        applied it (a request failed after it was sent): replay then checks first.
        """
        parts = _with_room_for_id_tag(batch)
        with self._locked():
            seq = self._last_seq()
            numbers = []
            lines = []
            for part in parts:
                seq += 1
                numbers.append(seq)
                lines.append({"seq": seq, **part.to_json(), "uncertain": uncertain})
            path = self.directory / _BATCHES
            _append_lines(path, lines)
            stat = path.stat()
            self._seq_cache = ((stat.st_ino, stat.st_size), seq)
        return numbers

    def mark_done(self, seq: int) -> None:
        """Record durably that the store applied batch ``seq``; it will not be sent again."""
        with self._locked():
            _append_lines(self.directory / _ACKS, [{"done": seq}])

    def _mark_sending(self, seq: int) -> None:
        with self._locked():
            _append_lines(self.directory / _ACKS, [{"sending": seq}])

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
    def replay(self, store: TrackingStore) -> int:
        """Send every pending batch to ``store`` in order, each exactly once.

        Returns how many batches were sent (those found already applied are not
        counted). Stops at the first batch the store refuses and raises its error; that
        batch and the ones after it stay pending. An empty journal is compacted.
        """
        sent = 0
        with self._locked(_REPLAY_LOCK):
            for seq, batch, uncertain in self._pending_entries():
                if uncertain and _already_applied(store, batch):
                    self.mark_done(seq)
                    continue
                self._mark_sending(seq)
                store.log_batch(batch.run_id, *batch.store_args())
                self.mark_done(seq)
                sent += 1
            self._compact_if_empty()
        return sent

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
            return 0
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


def _already_applied(store: TrackingStore, batch: JournalBatch) -> bool:
    tags = store.get_run(batch.run_id).data.tags
    return bool(tags.get(JOURNAL_BATCH_TAG) == batch.batch_id)


def _with_room_for_id_tag(batch: JournalBatch) -> list[JournalBatch]:
    size = len(batch.metrics) + len(batch.params) + len(batch.tags)
    if len(batch.tags) < MAX_PARAMS_TAGS_PER_BATCH and size < MAX_ENTITIES_PER_BATCH:
        return [batch]
    # Move the last tag (or metric) into a batch of its own; order within a key is kept.
    if batch.tags:
        head = JournalBatch(batch.run_id, batch.metrics, batch.params, batch.tags[:-1])
        tail = JournalBatch(batch.run_id, tags=batch.tags[-1:])
    else:
        head = JournalBatch(batch.run_id, batch.metrics[:-1], batch.params)
        tail = JournalBatch(batch.run_id, metrics=batch.metrics[-1:])
    return [head, tail]


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
