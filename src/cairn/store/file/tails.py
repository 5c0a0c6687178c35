"""Reading only what was appended to metric files since the index last looked.

Metric files only grow (both MLflow and Cairn append whole lines), and appending to a
file changes neither its directory's mtime nor the run's ``meta.yaml``. So the index
records, per metric file, how many bytes it has taken in; a file now larger than that
has new points, and only the new bytes are read. A smaller file was rewritten and is
read again from the start.
"""

from __future__ import annotations

import os
import threading
from itertools import repeat
from pathlib import Path

from cairn._collector import collector_paused
from cairn.entities import Metric
from cairn.store.file import layout


def metric_file_sizes(run_dir: Path) -> dict[str, int]:
    """``key -> size in bytes`` of every metric file of a run (one stat per file).

    Walks with ``os.scandir`` on plain strings: this runs for many runs per search.
    """
    sizes: dict[str, int] = {}
    stack = [(os.path.join(run_dir, layout.METRICS), "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.name.startswith(layout.TMP_PREFIX):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, f"{prefix}{entry.name}/"))
                else:
                    sizes[prefix + entry.name] = entry.stat().st_size
            except FileNotFoundError:  # removed since listed
                continue
    return sizes


def read_metric_tail(path: Path | str, key: str, start: int) -> tuple[list[Metric], int]:
    """The points written at or after byte ``start``, and the offset just past them.

    A line still being appended (no newline yet) is left for the next read: the
    returned offset stops before it.

    Raises:
        ValueError: the file holds a line that is not a metric line.
    """
    (timestamps, values, steps), offset = _read_tail_columns(path, key, start)
    return Metric.from_columns(repeat(key), values, timestamps, steps), offset


def _read_tail_columns(
    path: Path | str, key: str, start: int
) -> tuple[tuple[list[int], list[float], list[int]], int]:
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read()
    complete = data.rfind(b"\n") + 1
    return layout.parse_metric_columns(data[:complete].decode("utf-8"), key), start + complete


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
            columns, offset = _read_tail_columns(path, key, start)
        newest = layout.latest_of_columns(key, *columns)
        if newest is not None:
            latest = newest if latest is None else layout.latest_metric([latest, newest])
        with self._lock:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[path] = (status.st_ino, offset, latest)
        return latest
