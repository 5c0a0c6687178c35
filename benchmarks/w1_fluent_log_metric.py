"""W1: a fluent ``log_metric`` loop on the file and SQLite stores, counting ``end_run``.

python -m benchmarks.w1_fluent_log_metric --impl cairn|mlflow [--quick] [--points N]
"""

from __future__ import annotations

import time

from benchmarks.common import Results, import_impl, parse_args, scratch_dir, size, store_uri

QUICK = {"cairn": 20_000, "mlflow": 300}
FULL = {"cairn": 200_000, "mlflow": 2_000}
# synchronous logging runs at the store's own pace: fewer points keep it short
QUICK_SYNC = {"cairn": 2_000, "mlflow": 300}
FULL_SYNC = {"cairn": 20_000, "mlflow": 2_000}


def measure(mlflow: object, uri: str, points: int, synchronous: bool | None) -> float:
    """Points per second of one run, from the first log_metric to the end of end_run."""
    mlflow.set_tracking_uri(uri)  # type: ignore[attr-defined]
    mlflow.set_experiment("w1")  # type: ignore[attr-defined]  # (creates the schema first)
    kwargs = {} if synchronous is None else {"synchronous": synchronous}
    mlflow.start_run()  # type: ignore[attr-defined]
    started = time.perf_counter()
    for step in range(points):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step, **kwargs)  # type: ignore[attr-defined]
    mlflow.end_run()  # type: ignore[attr-defined]
    return points / (time.perf_counter() - started)


def main() -> None:
    args = parse_args(__doc__, points=0, sync_points=0)
    points = size(args, "points", QUICK, FULL)
    sync_points = size(args, "sync_points", QUICK_SYNC, FULL_SYNC)
    mlflow = import_impl(args.impl)
    results = Results("W1", args.impl)
    for backend in ("file", "sqlite"):
        # MLflow's default mode is synchronous, so its "default" figure is the baseline
        # for both of Cairn's modes.
        modes = [("default", None, 100.0, points), ("synchronous=True", True, 5.0, sync_points)]
        for label, synchronous, target, n in modes:
            with scratch_dir() as directory:
                rate = measure(mlflow, store_uri(backend, directory), n, synchronous)
            results.add(
                f"{backend}: fluent log_metric, {label}",
                rate,
                "points/s",
                target_ratio=target,
                target_abs=65_000.0 if (backend, synchronous) == ("file", None) else None,
                size=f"{n:,} points",
            )
    results.emit()


if __name__ == "__main__":
    main()
