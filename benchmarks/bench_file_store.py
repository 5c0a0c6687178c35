"""Figures for the mlruns FileStore beside Cairn's SQLite store and MLflow's file store.

    python benchmarks/bench_file_store.py [N] [MLFLOW_N]

N runs (default 2,000, which keeps a run near three minutes on a shared 2-core box;
pass 10000 or 100000 for the large figures) with 5 params, 5 metrics and 3 tags each are created in each
store; then filtered+ordered searches returning 100 runs (p50 latency), a full
paginated listing, and the history of one metric with 100,000 points. MLflow's own file
store (the reference interpreter, when present) runs the same workload at MLFLOW_N runs
(default N/10), since it reads every run directory per search. Prints, never asserts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MLFLOW_PYTHON = REPO / ".venv-mlflow" / "bin" / "python"
QUERIES = [
    ("metrics.m0 > 0.5 and params.p1 = 'v1'", ["metrics.m1 DESC"]),
    ("tags.t0 LIKE 'tag-1%'", ["params.p2 ASC"]),
    ("metrics.m2 < 0.3", ["attributes.start_time DESC"]),
    ("params.p0 = 'v3' and metrics.m4 >= 0.1", ["metrics.m0 ASC"]),
    ("", ["metrics.m3 DESC"]),
]
HISTORY_POINTS = 100_000

# The workload, as source shared by Cairn (in-process) and MLflow (a subprocess): it
# needs only objects with MLflow's store method names.
WORKLOAD = '''
import json, random, statistics, sys, time

def workload(store, make, n, queries, history_points, experiment_id="0"):
    """make = (Metric, Param, RunTag) constructors."""
    Metric, Param, RunTag = make
    rng = random.Random(7)
    started = time.perf_counter()
    for i in range(n):
        run = store.create_run(experiment_id, "bench", 1_000_000 + i, [], None)
        store.log_batch(
            run.info.run_id,
            metrics=[Metric(f"m{k}", rng.random(), 1, 0) for k in range(5)],
            params=[Param(f"p{k}", f"v{rng.randrange(10)}") for k in range(5)],
            tags=[RunTag(f"t{k}", f"tag-{rng.randrange(100)}") for k in range(3)],
        )
    out = {"create_s": time.perf_counter() - started}
    latencies = []
    for _ in range(3):
        for filter_string, order_by in queries:
            t0 = time.perf_counter()
            store.search_runs([experiment_id], filter_string, 1, 100, order_by, None)
            latencies.append(time.perf_counter() - t0)
    # the first search builds the file store's index when there is none yet
    out["first_search_s"] = latencies[0]
    out["search_p50_s"] = statistics.median(latencies)
    t0 = time.perf_counter()
    token, total = None, 0
    while True:
        page = store.search_runs([experiment_id], "", 1, 1000, None, token)
        total += len(page)
        token = page.token
        if not token:
            break
    out["listing_s"] = time.perf_counter() - t0
    out["listed"] = total
    run_id = store.create_run(experiment_id, "bench", 0, [], None).info.run_id
    t0 = time.perf_counter()
    for start in range(0, history_points, 1000):
        store.log_batch(run_id, metrics=[Metric("h", float(s), s, s) for s in range(start, start + 1000)], params=[], tags=[])
    out["history_write_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    points = store.get_metric_history(run_id, "h")
    out["history_read_s"] = time.perf_counter() - t0
    out["history_points"] = len(points)
    return out
'''

MLFLOW_SCRIPT = (
    WORKLOAD
    + """
import os
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
from mlflow.entities import Metric, Param, RunTag
from mlflow.store.tracking.file_store import FileStore
store = FileStore(sys.argv[1])
print(json.dumps(workload(store, (Metric, Param, RunTag), int(sys.argv[2]),
                          json.loads(sys.argv[3]), int(sys.argv[4]))))
"""
)


def _cairn_workload() -> Callable[..., dict[str, Any]]:
    namespace: dict[str, Any] = {}
    exec(WORKLOAD, namespace)  # the same source MLflow runs
    workload: Callable[..., dict[str, Any]] = namespace["workload"]
    return workload


def run_cairn(kind: str, directory: Path, n: int) -> dict[str, Any]:
    from cairn.entities import Metric, Param, RunTag
    from cairn.store.file.store import FileStore
    from cairn.store.sql.store import SqlStore

    store: Any
    if kind == "file":
        store = FileStore(str(directory / "mlruns"))
    else:
        store = SqlStore(f"sqlite:///{directory / 'cairn.db'}")
    return _cairn_workload()(store, (Metric, Param, RunTag), n, QUERIES, HISTORY_POINTS)


def run_mlflow(directory: Path, n: int) -> dict[str, Any] | None:
    if not MLFLOW_PYTHON.exists():
        return None
    result = subprocess.run(
        [
            str(MLFLOW_PYTHON),
            "-c",
            textwrap.dedent(MLFLOW_SCRIPT),
            str(directory / "mlflow-mlruns"),
            str(n),
            json.dumps(QUERIES),
            str(HISTORY_POINTS // 10),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true", "PYTHONWARNINGS": "ignore"},
        check=False,
    )
    if result.returncode != 0:
        print("MLflow run failed:", result.stderr[-2000:], file=sys.stderr)
        return None
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def _row(name: str, figures: dict[str, Any], n: int) -> str:
    return (
        f"{name:<22} {n:>8} {figures['create_s'] / n * 1000:>10.2f} "
        f"{figures['first_search_s']:>11.2f} "
        f"{figures['search_p50_s'] * 1000:>12.1f} {figures['listing_s']:>10.2f} "
        f"{figures['history_write_s']:>10.2f} {figures['history_read_s']:>10.3f} "
        f"{figures['history_points']:>8}"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000
    mlflow_n = int(sys.argv[2]) if len(sys.argv) > 2 else max(n // 10, 100)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        file_figures = run_cairn("file", directory, n)
        sql_figures = run_cairn("sqlite", directory, n)
        mlflow_figures = run_mlflow(directory, mlflow_n)
        header = (
            f"{'store':<22} {'runs':>8} {'ms/run':>10} {'1st srch s':>11} {'search p50':>12} "
            f"{'listing s':>10} {'hist wr s':>10} {'hist rd s':>10} {'points':>8}"
        )
        print(header)
        print("-" * len(header))
        print(_row("cairn file (mlruns)", file_figures, n))
        print(_row("cairn sqlite", sql_figures, n))
        if mlflow_figures:
            print(_row("mlflow file (ref)", mlflow_figures, mlflow_n))
        print()
        print(
            "file/sqlite ratios: create "
            f"{file_figures['create_s'] / sql_figures['create_s']:.2f}x, search "
            f"{file_figures['search_p50_s'] / sql_figures['search_p50_s']:.2f}x, listing "
            f"{file_figures['listing_s'] / sql_figures['listing_s']:.2f}x"
        )
        if mlflow_figures:
            # MLflow's search reads every run, so compare per-run costs
            per_run_search = mlflow_figures["search_p50_s"] / mlflow_n
            print(
                f"mlflow file at {mlflow_n} runs: search p50 "
                f"{mlflow_figures['search_p50_s'] * 1000:.0f} ms "
                f"(~{per_run_search * n * 1000:.0f} ms extrapolated to {n} runs, "
                f"{per_run_search * n / file_figures['search_p50_s']:.0f}x Cairn's file store); "
                f"create {mlflow_figures['create_s'] / mlflow_n * 1000:.2f} ms/run "
                f"({(mlflow_figures['create_s'] / mlflow_n) / (file_figures['create_s'] / n):.2f}x)"
            )
        print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
