"""W4: ``MlflowClient.get_metric_history`` of one metric with many points.

python -m benchmarks.w4_metric_history --impl cairn|mlflow [--quick] [--points N]
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

QUICK = {"cairn": 20_000, "mlflow": 20_000}
FULL = {"cairn": 100_000, "mlflow": 100_000}


def main() -> None:
    args = parse_args(__doc__, points=0)
    points = size(args, "points", QUICK, FULL)
    mlflow = import_impl(args.impl)
    Metric = entities(args.impl).Metric
    results = Results("W4", args.impl)
    for backend in ("file", "sqlite"):
        with scratch_dir() as directory:
            client = mlflow.MlflowClient(store_uri(backend, directory))
            run_id = client.create_run(client.create_experiment("w4")).info.run_id
            for start in range(0, points, 1000):
                client.log_batch(
                    run_id,
                    metrics=[
                        Metric("m", float(i), 1_700_000_000_000 + i, i)
                        for i in range(start, min(points, start + 1000))
                    ],
                )
            client.set_terminated(run_id)
            t0 = time.perf_counter()
            history = client.get_metric_history(run_id, "m")
            elapsed = time.perf_counter() - t0
            assert len(history) == points, (len(history), points)
        results.add(
            f"{backend}: get_metric_history",
            elapsed,
            "s",
            higher_is_better=False,
            target_ratio=10.0,
            size=f"{points:,} points",
        )
    results.emit()


if __name__ == "__main__":
    main()
