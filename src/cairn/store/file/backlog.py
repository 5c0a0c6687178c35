"""Writes waiting to be mirrored into the search index, merged as they arrive.

Mirroring each write on its own cost one SQLite transaction a call: three or four a run
created through the fluent API, and most of a synchronous ``log_metric``. Waiting is safe
because the index is only a cache of the files, which already hold the data.
``RunIndex`` flushes this backlog before anything reads the index, so the process never
sees its own writes missing; a timer, a count limit and interpreter exit flush it too,
because other processes search the same index. They need not wait for it to find a
new run: a new run directory changes its experiment's fingerprint, and the search syncs
the run from its files. If the process dies before a flush, the runs it changed have
stamps (and metric files sizes) that differ from what the index recorded, which is what
a search's re-check of runs looks for (``RunIndex.recheck_runs``), exactly as for runs
written by MLflow itself.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from cairn.entities import Metric
from cairn.store.file import layout


@dataclasses.dataclass
class RunBacklog:
    """One run's waiting writes: the parts of its files to re-read, the latest point per
    metric key, and the byte spans metric points were appended at."""

    parts: set[str]
    latest: dict[str, Metric]
    # {"r": run id, "k": key, "s": start, "e": end}, in the order they were appended
    spans: list[dict[str, object]]


class WriteBacklog:
    """The runs written through the store and not yet mirrored into the index."""

    def __init__(self, flush: Callable[[], None], max_writes: int, max_seconds: float) -> None:
        self._flush = flush
        self._max_writes = max_writes
        self._max_seconds = max_seconds
        self._lock = threading.Lock()
        self._runs: dict[Path, RunBacklog] = {}
        self._writes = 0
        self._timer: threading.Timer | None = None

    def add(
        self,
        run_dir: Path,
        parts: frozenset[str],
        metrics: Mapping[str, Sequence[Metric]],
        appended: Mapping[str, tuple[int, int]],
    ) -> bool:
        """Take in one write; True when the backlog is due to be flushed now.

        ``parts`` names the files the write touched (see ``RunIndex.mirror_run``).
        """
        latest = {key: layout.latest_metric(points) for key, points in metrics.items() if points}
        spans = [{"r": run_dir.name, "k": k, "s": s, "e": e} for k, (s, e) in appended.items()]
        with self._lock:
            run = self._runs.get(run_dir)
            if run is None:
                run = self._runs[run_dir] = RunBacklog(set(), {}, [])
            run.parts.update(parts)
            for key, metric in latest.items():
                current = run.latest.get(key)
                if current is None or layout.metric_sort_key(metric) > layout.metric_sort_key(
                    current
                ):
                    run.latest[key] = metric
            run.spans.extend(spans)
            self._writes += 1
            # nothing waits longer than this, even if writing stops (a forked child
            # inherits the timer object but not its thread: hence is_alive)
            if self._timer is None or not self._timer.is_alive():
                self._timer = threading.Timer(self._max_seconds, self._flush)
                self._timer.daemon = True
                self._timer.start()
            return self._writes >= self._max_writes

    def take(self) -> dict[Path, RunBacklog]:
        """Everything waiting, leaving the backlog empty."""
        with self._lock:
            timer, self._timer = self._timer, None
            if timer is not None and timer is not threading.current_thread():
                timer.cancel()
            runs, self._runs = self._runs, {}
            self._writes = 0
        return runs
