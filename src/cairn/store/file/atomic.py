"""Crash- and race-safe file writes for the ``mlruns`` store.

- ``replace_file``: the new content appears whole or not at all (temp file + ``os.replace``).
- ``create_file_once``: the first writer wins, later ones see the existing file (``os.link``
  of a complete temp file), so a param can never be half-written or silently changed.
- ``write_unseen_file``: a plain write, for files inside a run no reader can see yet.
- ``append_text``: one ``write`` on an ``O_APPEND`` descriptor, so concurrent appenders from
  any number of processes never interleave inside a line.

Temporary files go in a caller-chosen directory on the same filesystem (``os.replace``
and ``os.link`` need that). The store puts them in the run or experiment directory, where
neither MLflow nor Cairn mistakes a stray file for data after a crash.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import uuid
from collections.abc import Callable
from typing import TypeVar

from cairn.store.file.layout import TMP_PREFIX

_T = TypeVar("_T")
StrPath = str | os.PathLike[str]

# Temp names: a random token drawn once a process, then a counter (a uuid4 each time
# was a getrandom call per file, 18 a run). O_EXCL settles any clash with a stray
# file; the pid keeps a forked child, which shares the token, apart.
_TOKEN = uuid.uuid4().hex[:12]
_serial = itertools.count()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _write_temp(data: bytes, tmp_dir: StrPath) -> str:
    while True:
        tmp = os.path.join(tmp_dir, f"{TMP_PREFIX}{_TOKEN}-{os.getpid()}-{next(_serial)}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        break
    try:
        _write_all(fd, data)
        # fsync would make each write cost milliseconds; rename-after-write already
        # guarantees readers never see a partial file, which is what MLflow relies on.
    finally:
        os.close(fd)
    return tmp


def _making_parent(path: StrPath, operation: Callable[[], _T]) -> _T:
    """``operation()``, tried again after creating ``path``'s directory if it was missing.

    The directory is made only after a first attempt fails: most writes go to a
    directory that exists, and a ``mkdir`` there costs two system calls for nothing.
    New directories come with new runs and with nested keys (the tag ``a/b``).
    """
    try:
        return operation()
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return operation()


def _temp_beside(path: StrPath, data: bytes, tmp_dir: StrPath | None) -> str:
    """A complete temp file for ``path``, creating ``path``'s directory if it is missing."""
    return _making_parent(path, lambda: _write_temp(data, tmp_dir or os.path.dirname(path)))


def replace_file(path: StrPath, content: str, tmp_dir: StrPath | None = None) -> None:
    """Write ``content`` to ``path`` atomically, replacing any previous file."""
    tmp = _temp_beside(path, content.encode("utf-8"), tmp_dir)
    try:
        _making_parent(path, lambda: os.replace(tmp, path))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def create_file_once(path: StrPath, content: str, tmp_dir: StrPath | None = None) -> bool:
    """Create ``path`` with ``content`` unless it exists; True if this call created it."""
    tmp = _temp_beside(path, content.encode("utf-8"), tmp_dir)
    try:
        _making_parent(path, lambda: os.link(tmp, path))
    except FileExistsError:
        return False
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return True


def write_unseen_file(path: StrPath, content: str) -> None:
    """Create ``path`` with ``content`` in place, for a file no reader looks at yet: a new
    run's tags, written before its meta.yaml makes the run exist. Saves the temp file and
    rename of ``replace_file``."""
    fd = _making_parent(path, lambda: os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        _write_all(fd, content.encode("utf-8"))
    finally:
        os.close(fd)


def append_text(path: StrPath, text: str) -> tuple[int, int]:
    """Append ``text`` (whole lines) with a single write call; returns the bytes' span.

    ``(start, end)`` are the file offsets the text landed between: with ``O_APPEND`` the
    write goes to the end of the file as it is at that instant, whatever other writers do.
    """
    data = text.encode("utf-8")
    fd = _making_parent(path, lambda: os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666))
    try:
        written = os.write(fd, data)
        if written != len(data):  # only on a full disk; never leave half a line behind
            raise OSError(f"short write to {path}: {written} of {len(data)} bytes")
        end = os.lseek(fd, 0, os.SEEK_CUR)
    finally:
        os.close(fd)
    return end - written, end
