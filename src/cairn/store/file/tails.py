"""Reading only what was appended to metric files since the index last looked.

Metric files only grow (both MLflow and Cairn append whole lines), and appending to a
file changes neither its directory's mtime nor the run's ``meta.yaml``. So the index
records, per metric file, how many bytes it has taken in; a file now larger than that
has new points, and only the new bytes are read. A smaller file was rewritten and is
read again from the start.
"""

from __future__ import annotations

import os
from pathlib import Path

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


def read_metric_tail(path: Path, key: str, start: int) -> tuple[list[Metric], int]:
    """The points written at or after byte ``start``, and the offset just past them.

    A line still being appended (no newline yet) is left for the next read: the
    returned offset stops before it.
    """
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read()
    complete = data.rfind(b"\n") + 1
    text = data[:complete].decode("utf-8")
    points = [layout.parse_metric_line(key, line) for line in text.split("\n") if line.strip()]
    return points, start + complete
