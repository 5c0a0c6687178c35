"""What the file store remembers about files, each entry valid while its file is unchanged.

- ``ParsedFiles``: what was parsed from whole files (``meta.yaml``), kept while the file's
  signature (inode, size, change times) holds.
- ``LatestPoints``: the latest point of each metric file, brought up to date from the bytes
  appended since. It trusts, as the search index does (see ``tails``), that metric files
  only grow: a file replaced or shortened is noticed, one rewritten in place to a larger
  size is not.

Both are bounded and cleared when full, and both stat the file on every use, so another
process's appends and replacements are seen at once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from cairn._collector import collector_paused
from cairn.entities import Metric
from cairn.store.file import layout, tails

_Parsed = TypeVar("_Parsed")


def file_signature(path: str | Path) -> tuple[int, int, int, int] | None:
    """Inode, size and change times: they change whenever the file is rewritten in place
    or replaced, so they tell when a cached parse of it is stale. None if it is missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class ParsedFiles(Generic[_Parsed]):
    """What was parsed from files, each entry kept while its file's signature holds.

    The file is stat'ed *before* it is parsed: a rewrite racing the parse can only leave
    a stale signature, which forces a parse next time. Cleared when full.
    """

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self._entries: dict[str, tuple[tuple[int, int, int, int], _Parsed]] = {}
        self._lock = threading.Lock()

    def get(self, path: str, parse: Callable[[], _Parsed]) -> _Parsed:
        """The cached parse of ``path``, or ``parse()`` when the file changed since."""
        signature = file_signature(path)
        if signature is not None:
            with self._lock:
                cached = self._entries.get(path)
            if cached is not None and cached[0] == signature:
                return cached[1]
        parsed = parse()
        if signature is not None:
            self._put(path, signature, parsed)
        return parsed

    def remember(self, path: str, parsed: _Parsed) -> None:
        """Cache ``parsed`` for the file as it is now (one just written by this process)."""
        signature = file_signature(path)
        if signature is not None:
            self._put(path, signature, parsed)

    def _put(self, path: str, signature: tuple[int, int, int, int], parsed: _Parsed) -> None:
        with self._lock:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[path] = (signature, parsed)


class LatestPoints:
    """The latest point of each metric file, brought up to date by reading only what the
    file gained since it was last read, so reading a run does not parse whole histories.

    A file whose inode changed, or which is shorter than what was read, is read whole.
    Cleared when full.
    """

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        # path -> (inode, bytes taken in, the latest point among them)
        self._entries: dict[str, tuple[int, int, Metric | None]] = {}
        self._lock = threading.Lock()

    def get(self, path: str, key: str) -> Metric | None:
        """The latest point of the metric file at ``path`` (None if it holds none).

        Raises:
            FileNotFoundError: the file is gone.
            ValueError: it is not a metric file.
        """
        status = os.stat(path)
        with self._lock:
            cached = self._entries.get(path)
        start, latest = 0, None
        if cached is not None and cached[0] == status.st_ino and cached[1] <= status.st_size:
            start, latest = cached[1], cached[2]
            if start == status.st_size:
                return latest  # nothing appended since
        with collector_paused():
            columns, offset = tails.read_metric_tail(path, key, start)
        newest = layout.latest_of_columns(key, *columns)
        if newest is not None:
            latest = newest if latest is None else layout.latest_metric([latest, newest])
        with self._lock:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[path] = (status.st_ino, offset, latest)
        return latest
