"""Writes sent again with the same ``Idempotency-Key`` are done once.

A client that lost the answer to a write cannot tell whether the server did it. Cairn's
client sends every state-changing request with an ``Idempotency-Key`` header, the same on
each attempt; the server keeps the answer under that key and gives it again to a repeat,
which then does nothing. A repeat that arrives while the first is still being worked on
(a proxy answered 504 and the client tried again) waits for it. The header is echoed in
the answer, which tells the client that this server keeps answers.

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
from dataclasses import dataclass, field
from time import monotonic

from starlette.responses import Response

from cairn.exceptions import InvalidParameterValue
from cairn.wire.endpoints import IDEMPOTENCY_HEADER

MAX_KEY_LENGTH = 255
KEEP_SECONDS = 3600.0
KEEP_ANSWERS = 10_000


def fingerprint(endpoint_name: str, body: bytes) -> bytes:
    """What a repeat must match: the same endpoint and the same body."""
    return hashlib.blake2b(body, digest_size=16, person=endpoint_name.encode()[:16]).digest()


@dataclass
class _Answer:
    fingerprint: bytes
    done: asyncio.Event = field(default_factory=asyncio.Event)
    response: tuple[int, bytes, str | None] | None = None
    kept_at: float = 0.0


class AnswerKeeper:
    """The answers of the last keyed writes, by key; one per server process.

    Used only from the event loop's thread, so its dictionary needs no lock."""

    def __init__(self, capacity: int = KEEP_ANSWERS, keep_seconds: float = KEEP_SECONDS) -> None:
        self.capacity = capacity
        self.keep_seconds = keep_seconds
        self._answers: OrderedDict[str, _Answer] = OrderedDict()

    def __len__(self) -> int:
        return len(self._answers)

    async def answer(
        self, key: str, request_print: bytes, work: Callable[[], Awaitable[Response]]
    ) -> Response:
        """The kept answer of an earlier request with ``key``, else ``work()``'s, kept."""
        if len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise InvalidParameterValue(
                f"The {IDEMPOTENCY_HEADER} header must be at most {MAX_KEY_LENGTH} "
                "printable characters."
            )
        while True:
            self._forget_expired()
            earlier = self._answers.get(key)
            if earlier is None:
                break
            if earlier.fingerprint != request_print:
                raise InvalidParameterValue(
                    f"The {IDEMPOTENCY_HEADER} {key!r} was already used for a different request."
                )
            if earlier.response is not None:
                return _with_key(_rebuilt(earlier.response), key)
            await earlier.done.wait()  # the first attempt is still at work
            # kept: answered above; dropped (it failed): this request does the work
        mine = self._answers[key] = _Answer(request_print)
        try:
            response = await work()
        except BaseException:
            del self._answers[key]
            mine.done.set()
            raise
        if response.status_code < 500:
            mine.response = (response.status_code, bytes(response.body), response.media_type)
            mine.kept_at = monotonic()
            self._answers.move_to_end(key)
        else:
            del self._answers[key]
        mine.done.set()
        self._forget_overflow()
        return _with_key(response, key)

    def _forget_expired(self) -> None:
        deadline = monotonic() - self.keep_seconds
        while self._answers:
            oldest = next(iter(self._answers.values()))
            if oldest.response is None or oldest.kept_at > deadline:
                return
            self._answers.popitem(last=False)

    def _forget_overflow(self) -> None:
        # answers still in the works are never forgotten: their repeats wait on them
        while len(self._answers) > self.capacity:
            key, oldest = next(iter(self._answers.items()))
            if oldest.response is None:
                return
            del self._answers[key]


def _rebuilt(kept: tuple[int, bytes, str | None]) -> Response:
    status, body, media_type = kept
    return Response(body, status_code=status, media_type=media_type)


def _with_key(response: Response, key: str) -> Response:
    response.headers[IDEMPOTENCY_HEADER] = key
    return response
