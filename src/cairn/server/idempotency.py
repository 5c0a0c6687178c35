"""Writes sent again with the same ``Idempotency-Key`` are done once.

A client that lost the answer to a write cannot tell whether the server did it. Cairn's
client sends every state-changing request with an ``Idempotency-Key`` header, the same on
each attempt; the server keeps the answer under that key and gives it again to a repeat,
which then does nothing. A repeat that arrives while the first is still being worked on
(a proxy answered 504 and the client tried again) waits for it, and the work goes on to
its end even when the request that started it is cancelled. The header is echoed in the
answer, which shows that this server keeps answers.

Answers are kept for an hour, at most the last 10,000 of them: in the process's memory
(``MemoryAnswers``) when the server runs one process, in a SQLite file its worker
processes share (``SharedAnswers``, cleaned up every 100 answers) when it runs several
(``--workers``), since a retry on a new connection may reach any of them. A repeat
after a restart is done again; the client's own checks (the run's history before a
log-batch is resent) still cover that, and a log-batch sent again is marked so that only
its missing points are written (``handlers.log_batch_resent``).
Failures of the server (5xx) are not kept, so a repeat tries the work again. Clients that
send no key (MLflow's, the web UI) are served as before.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from time import monotonic, time
from typing import Literal, Protocol

from starlette.responses import Response

from cairn.exceptions import InvalidParameterValue, TemporarilyUnavailable
from cairn.wire.endpoints import IDEMPOTENCY_HEADER

MAX_KEY_LENGTH = 255
KEEP_SECONDS = 3600.0
KEEP_ANSWERS = 10_000
# How often a repeat looks whether the first attempt is done, and how long it waits for
# it before answering 503 (the client tries again later).
POLL_SECONDS = 0.02
WAIT_SECONDS = 30.0
# A key at work this long in another worker is taken over: that worker hangs, or the
# process holding its pid is no longer that worker.
STALE_WORK_SECONDS = 600.0

Kept = tuple[int, bytes, str | None]  # status, body, media type
Claim = Kept | Literal["mine", "at work", "another request"]


def fingerprint(endpoint_name: str, body: bytes) -> bytes:
    """What a repeat must match: the same endpoint and the same body."""
    return hashlib.blake2b(endpoint_name.encode() + b"\0" + body, digest_size=16).digest()


class AnswerTable(Protocol):
    """Where answers are kept, by key, with the fingerprint of the request they answer."""

    def claim(self, key: str, request_print: bytes) -> Claim:
        """The kept answer for ``key``; else "mine" (recorded as at work for this
        request), "at work" (another attempt is), or "another request" (``key`` came
        with a different request)."""

    def keep(self, key: str, answer: Kept) -> None:
        """Keep the answer of the claimed ``key``."""

    def drop(self, key: str) -> None:
        """Let go of the claimed ``key`` without an answer (the work failed)."""


class AnswerKeeper:
    """Answers a keyed write from its table, or does it once and keeps its answer."""

    def __init__(self, table: AnswerTable | None = None) -> None:
        self.table = table if table is not None else MemoryAnswers()

    async def answer(
        self, key: str, request_print: bytes, work: Callable[[], Awaitable[Response]]
    ) -> Response:
        """The kept answer of an earlier request with ``key``, else ``work()``'s, kept."""
        if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isprintable():
            raise InvalidParameterValue(
                f"The {IDEMPOTENCY_HEADER} header must be 1 to {MAX_KEY_LENGTH} printable "
                "characters."
            )
        deadline = monotonic() + WAIT_SECONDS
        while (claim := self.table.claim(key, request_print)) != "mine":
            if claim == "another request":
                raise InvalidParameterValue(
                    f"The {IDEMPOTENCY_HEADER} {key!r} was already used for a different request."
                )
            if claim != "at work":
                status, body, media_type = claim
                return _with_key(Response(body, status_code=status, media_type=media_type), key)
            # the first attempt is at work: its answer, or (it failed) a new try
            if monotonic() > deadline:
                raise TemporarilyUnavailable(
                    f"The request with {IDEMPOTENCY_HEADER} {key!r} is still being worked on; "
                    "try again later."
                )
            await asyncio.sleep(POLL_SECONDS)
        task = asyncio.ensure_future(self._work_and_keep(key, work))
        # shielded: a cancelled request leaves the work to finish and its answer kept
        return _with_key(await asyncio.shield(task), key)

    async def _work_and_keep(self, key: str, work: Callable[[], Awaitable[Response]]) -> Response:
        kept = False
        try:
            response = await work()
            if response.status_code < 500:
                self.table.keep(
                    key, (response.status_code, bytes(response.body), response.media_type)
                )
                kept = True
            return response
        finally:
            if not kept:
                self.table.drop(key)


class MemoryAnswers:
    """The table of a server of one process. Used only from the event loop's thread, so
    it needs no lock; requests at work are apart from kept answers, so one that takes
    long holds up no forgetting."""

    def __init__(self, capacity: int = KEEP_ANSWERS, keep_seconds: float = KEEP_SECONDS) -> None:
        self.capacity = capacity
        self.keep_seconds = keep_seconds
        self._working: dict[str, bytes] = {}
        self._kept: OrderedDict[str, tuple[bytes, float, Kept]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._kept)

    def claim(self, key: str, request_print: bytes) -> Claim:
        deadline = monotonic() - self.keep_seconds
        while self._kept and next(iter(self._kept.values()))[1] <= deadline:
            self._kept.popitem(last=False)
        earlier = self._kept.get(key)
        earlier_print = earlier[0] if earlier is not None else self._working.get(key)
        if earlier_print is None:
            self._working[key] = request_print
            return "mine"
        if earlier_print != request_print:
            return "another request"
        return earlier[2] if earlier is not None else "at work"

    def keep(self, key: str, answer: Kept) -> None:
        self._kept[key] = (self._working.pop(key), monotonic(), answer)
        while len(self._kept) > self.capacity:
            self._kept.popitem(last=False)

    def drop(self, key: str) -> None:
        del self._working[key]


class SharedAnswers:
    """The table of a server of several processes: a SQLite file they all open.

    A claim is one immediate transaction, so two workers cannot both take a key. A key at
    work in a process that has since died and been reaped (a worker restarted), or at
    work for ``STALE_WORK_SECONDS``, is taken over. Nothing is synced to disk: the answers
    need not outlive the server. The directory is made again if it went away (a cleaner
    of ``/tmp``), so a restarted worker can start."""

    def __init__(
        self, path: Path, capacity: int = KEEP_ANSWERS, keep_seconds: float = KEEP_SECONDS
    ) -> None:
        self.capacity = capacity
        self.keep_seconds = keep_seconds
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, print BLOB NOT NULL,"
            " owner INTEGER NOT NULL, status INTEGER, body BLOB, media TEXT, at REAL NOT NULL)"
        )
        # forgetting goes by age: without the index it scanned the table, ~13-58 ms at
        # 10,000 answers, with the event loop and the other workers' claims waiting
        self._db.execute("CREATE INDEX IF NOT EXISTS answers_by_age ON answers (at)")
        self._keeps = 0
        self.forget_every = 100  # answers this worker keeps between clean-ups

    def __len__(self) -> int:
        (count,) = self._db.execute(
            "SELECT count(*) FROM answers WHERE status IS NOT NULL"
        ).fetchone()
        return int(count)

    def claim(self, key: str, request_print: bytes) -> Claim:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute(
                "SELECT print, owner, status, body, media, at FROM answers WHERE key = ?", (key,)
            ).fetchone()
            if row is not None:
                earlier_print, owner, status, body, media_type, at = row
                if status is not None:
                    stale = at <= time() - self.keep_seconds
                else:
                    stale = not _alive(owner) or at <= time() - STALE_WORK_SECONDS
                if not stale:
                    if earlier_print != request_print:
                        return "another request"
                    return "at work" if status is None else (status, body, media_type)
            db.execute(
                "INSERT OR REPLACE INTO answers (key, print, owner, at) VALUES (?, ?, ?, ?)",
                (key, request_print, os.getpid(), time()),
            )
            return "mine"
        finally:
            db.execute("COMMIT")

    def keep(self, key: str, answer: Kept) -> None:
        status, body, media_type = answer
        self._db.execute(
            "UPDATE answers SET status = ?, body = ?, media = ?, at = ? WHERE key = ? AND owner = ?",
            (status, body, media_type, time(), key, os.getpid()),
        )
        self._keeps += 1
        if self._keeps % self.forget_every == 0:
            self._forget()

    def drop(self, key: str) -> None:
        self._db.execute(
            "DELETE FROM answers WHERE key = ? AND owner = ? AND status IS NULL",
            (key, os.getpid()),
        )

    def _forget(self) -> None:
        self._db.execute(
            "DELETE FROM answers WHERE status IS NOT NULL AND (at <= ? OR key IN ("
            " SELECT key FROM answers WHERE status IS NOT NULL ORDER BY at DESC"
            " LIMIT -1 OFFSET ?))",
            (time() - self.keep_seconds, self.capacity),
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    return True


def _with_key(response: Response, key: str) -> Response:
    response.headers[IDEMPOTENCY_HEADER] = key
    return response
