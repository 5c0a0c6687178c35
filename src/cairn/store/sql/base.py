"""What every part of ``SqlStore`` shares: the engine and the transaction runners.

Every public method of the store is one short transaction on a pooled connection, so
one store instance may be shared by many threads, and (through SQLite's WAL mode or a
database server) several processes may write to the same database.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa

from cairn.exceptions import InvalidParameterValue
from cairn.store.sql.engine import read_transaction, write_transaction

T = TypeVar("T")

_DEADLOCK_RETRIES = 3
# MySQL "Deadlock found" / "Lock wait timeout"; PostgreSQL deadlock / serialization failure
_RETRYABLE_MYSQL_CODES = {1213, 1205}
_RETRYABLE_PG_CODES = {"40P01", "40001"}


def now_ms() -> int:
    """The current time in milliseconds since the epoch, as MLflow stores times."""
    return int(time.time() * 1000)


def _is_retryable(error: sa.exc.DBAPIError) -> bool:
    orig = error.orig
    code = getattr(orig, "pgcode", None)
    if code in _RETRYABLE_PG_CODES:
        return True
    args: tuple[Any, ...] = getattr(orig, "args", ())
    return bool(args) and args[0] in _RETRYABLE_MYSQL_CODES


def _nul_error(error: ValueError) -> Exception:
    """psycopg2 refuses to send text containing NUL: a bad value, not a server fault."""
    if "NUL (0x00)" not in str(error):
        return error
    return InvalidParameterValue(
        "PostgreSQL cannot store or compare text containing the NUL character (\\x00)."
    )


class SqlStoreBase:
    """The engine a SQL store works on, and how it runs reads and writes."""

    uri: str
    default_artifact_root: str
    _engine: sa.Engine
    _dialect: str

    def dispose(self) -> None:
        """Close every pooled connection (the store may still be used afterwards)."""
        self._engine.dispose()

    def _write(self, work: Callable[[sa.Connection], T]) -> T:
        """Run ``work`` in a write transaction, retrying it after a deadlock."""
        for attempt in range(_DEADLOCK_RETRIES + 1):
            try:
                with write_transaction(self._engine) as conn:
                    return work(conn)
            except sa.exc.DBAPIError as error:
                if attempt == _DEADLOCK_RETRIES or not _is_retryable(error):
                    raise
                time.sleep(0.01 * (attempt + 1))
            except ValueError as error:
                raise _nul_error(error) from None
        raise AssertionError("unreachable")

    def _read(self, work: Callable[[sa.Connection], T]) -> T:
        try:
            with read_transaction(self._engine) as conn:
                return work(conn)
        except ValueError as error:
            raise _nul_error(error) from None
