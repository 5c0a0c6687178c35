"""Writes sent again with the same ``Idempotency-Key`` are done once.

A client that lost the answer to a write cannot tell whether the server did it. Cairn's
client sends every state-changing request with an ``Idempotency-Key`` header, the same on
each attempt; the server keeps the answer under that key and gives it again to a repeat,
which then does nothing. A repeat that arrives while the first is still being worked on
(a proxy answered 504 and the client tried again) waits for it, and the work goes on to
its end even when the request that started it is cancelled. The header is echoed in the
answer, which shows that this server keeps answers.

Answers are kept in the memory of the server's process: for an hour, at most the last
10,000 of them. A repeat after a restart, or one that reaches another worker process
(``--workers``), is done again; the client's own checks (the run's history before a
log-batch is resent) still cover those. Failures of the server (5xx) are not kept, so a
repeat tries the work again. Clients that send no key (MLflow's, the web UI) are served
as before.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from time import monotonic

from starlette.responses import Response

from cairn.exceptions import InvalidParameterValue
from cairn.wire.endpoints import IDEMPOTENCY_HEADER

MAX_KEY_LENGTH = 255
KEEP_SECONDS = 3600.0
KEEP_ANSWERS = 10_000

Kept = tuple[int, bytes, str | None]  # status, body, media type


def fingerprint(endpoint_name: str, body: bytes) -> bytes:
    """What a repeat must match: the same endpoint and the same body."""
    return hashlib.blake2b(endpoint_name.encode() + b"\0" + body, digest_size=16).digest()


class AnswerKeeper:
    """The answers of the last keyed writes, by key; one per server process.

    Used only from the event loop's thread, so its tables need no lock. Requests at work
    are apart from kept answers: a request that takes long holds up no forgetting."""

    def __init__(self, capacity: int = KEEP_ANSWERS, keep_seconds: float = KEEP_SECONDS) -> None:
        self.capacity = capacity
        self.keep_seconds = keep_seconds
        self._working: dict[str, tuple[bytes, asyncio.Task[Response]]] = {}
        self._kept: OrderedDict[str, tuple[bytes, float, Kept]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._kept)

    async def answer(
        self, key: str, request_print: bytes, work: Callable[[], Awaitable[Response]]
    ) -> Response:
        """The kept answer of an earlier request with ``key``, else ``work()``'s, kept."""
        if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isprintable():
            raise InvalidParameterValue(
                f"The {IDEMPOTENCY_HEADER} header must be 1 to {MAX_KEY_LENGTH} printable "
                "characters."
            )
        while True:
            self._forget_expired()
            kept = self._kept.get(key)
            if kept is not None:
                _check_same_request(key, kept[0], request_print)
                return _with_key(_rebuilt(kept[2]), key)
            working = self._working.get(key)
            if working is None:
                break
            _check_same_request(key, working[0], request_print)
            # the first attempt is still at work: its answer, or (it failed) a new try
            await asyncio.wait([working[1]])
        task = asyncio.ensure_future(self._work_and_keep(key, request_print, work))
        self._working[key] = (request_print, task)
        # shielded: a cancelled request leaves the work to finish and its answer kept
        return _with_key(await asyncio.shield(task), key)

    async def _work_and_keep(
        self, key: str, request_print: bytes, work: Callable[[], Awaitable[Response]]
    ) -> Response:
        try:
            response = await work()
            if response.status_code < 500:
                kept = (response.status_code, bytes(response.body), response.media_type)
                self._kept[key] = (request_print, monotonic(), kept)
                self._forget_overflow()
            return response
        finally:
            del self._working[key]

    def _forget_expired(self) -> None:
        deadline = monotonic() - self.keep_seconds
        while self._kept and next(iter(self._kept.values()))[1] <= deadline:
            self._kept.popitem(last=False)

    def _forget_overflow(self) -> None:
        while len(self._kept) > self.capacity:
            self._kept.popitem(last=False)


def _check_same_request(key: str, earlier_print: bytes, request_print: bytes) -> None:
    if earlier_print != request_print:
        raise InvalidParameterValue(
            f"The {IDEMPOTENCY_HEADER} {key!r} was already used for a different request."
        )


def _rebuilt(kept: Kept) -> Response:
    status, body, media_type = kept
    return Response(body, status_code=status, media_type=media_type)


def _with_key(response: Response, key: str) -> Response:
    response.headers[IDEMPOTENCY_HEADER] = key
    return response
