"""W2: ``MlflowClient.log_batch`` of 1,000 metrics per call, counting the run's end.

python -m benchmarks.w2_log_batch --impl cairn|mlflow [--quick] [--points N]
"""

from __future__ import annotations

import time

from benchmarks.common import (
    Results,
    entities,
    import_impl,
    parse_args,
    scratch_dir,
    size,
    store_uri,
)

QUICK = {"cairn": 20_000, "mlflow": 10_000}
FULL = {"cairn": 100_000, "mlflow": 100_000}
PER_CALL = 1000


def measure(impl: str, uri: str, points: int) -> float:
    mlflow = import_impl(impl)
    Metric = entities(impl).Metric
    client = mlflow.MlflowClient(uri)
    experiment_id = client.create_experiment("w2")
    run_id = client.create_run(experiment_id).info.run_id
    batches = [
        [Metric("m", float(i), 1_700_000_000_000 + i, i) for i in range(start, start + PER_CALL)]
        for start in range(0, points, PER_CALL)
    ]
    started = time.perf_counter()
    for batch in batches:
        client.log_batch(run_id, metrics=batch)
    client.set_terminated(run_id)
    return points / (time.perf_counter() - started)


def main() -> None:
    args = parse_args(__doc__, points=0)
    points = size(args, "points", QUICK, FULL)
    results = Results("W2", args.impl)
    for backend in ("file", "sqlite"):
        with scratch_dir() as directory:
            rate = measure(args.impl, store_uri(backend, directory), points)
        results.add(
            f"{backend}: log_batch of 1,000 metrics",
            rate,
            "points/s",
            target_ratio=20.0,
            size=f"{points:,} points",
        )
    results.emit()


if __name__ == "__main__":
    main()
