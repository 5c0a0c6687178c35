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


def read_metric_tail(
    path: Path | str, key: str, start: int
) -> tuple[tuple[list[int], list[float], list[int]], int]:
    """The points written at or after byte ``start``, as ``(timestamps, values, steps)``
    columns, and the offset just past them.

    A line still being appended (no newline yet) is left for the next read: the
    returned offset stops before it.

    Raises:
        ValueError: the file holds a line that is not a metric line.
    """
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read()
    complete = data.rfind(b"\n") + 1
    return layout.parse_metric_columns(data[:complete].decode("utf-8"), key), start + complete
