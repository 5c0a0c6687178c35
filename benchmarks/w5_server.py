"""W5: a tracking server on SQLite: start-up, sequential and concurrent logging, search, memory.

    python -m benchmarks.w5_server --impl cairn|mlflow [--quick] [--requests N] [--runs N]

Requests are plain REST calls (``requests``), the same for both servers, so the figures
measure the server, not a client library.
"""

from __future__ import annotations

import statistics
import threading
import time

import requests

from benchmarks.common import Results, Server, parse_args, percentile, scratch_dir, size

QUICK_REQUESTS = {"cairn": 500, "mlflow": 200}
FULL_REQUESTS = {"cairn": 5_000, "mlflow": 1_000}
# Searches are compared over the same number of runs: fewer runs would favour MLflow.
QUICK_RUNS = {"cairn": 200, "mlflow": 200}
FULL_RUNS = {"cairn": 1_000, "mlflow": 1_000}
CLIENTS = 8
METRICS_PER_BATCH = 100
API = "/api/2.0/mlflow"


def post(session: requests.Session, url: str, body: dict[str, object]) -> dict[str, object]:
    response = session.post(url, json=body, timeout=120)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def main() -> None:
    args = parse_args(__doc__, requests=0, runs=0)
    n_requests = size(args, "requests", QUICK_REQUESTS, FULL_REQUESTS)
    n_runs = size(args, "runs", QUICK_RUNS, FULL_RUNS)
    results = Results("W5", args.impl)
    with (
        scratch_dir() as directory,
        Server(
            args.impl, f"sqlite:///{directory / 'server.db'}", directory / "artifacts"
        ) as server,
    ):
        results.add(
            "server start-up (to /health)",
            server.startup_s,
            "s",
            higher_is_better=False,
            target_abs=2.0,
        )
        base = server.url + API
        session = requests.Session()
        experiment_id = post(session, base + "/experiments/create", {"name": "w5"})["experiment_id"]

        def new_run() -> str:
            run = post(
                session,
                base + "/runs/create",
                {"experiment_id": experiment_id, "start_time": int(time.time() * 1000)},
            )
            return str(run["run"]["info"]["run_id"])  # type: ignore[index]

        run_id = new_run()
        latencies = []
        started = time.perf_counter()
        for step in range(n_requests):
            t0 = time.perf_counter()
            post(
                session,
                base + "/runs/log-metric",
                {
                    "run_id": run_id,
                    "key": "loss",
                    "value": 1.0 / (step + 1),
                    "timestamp": 1_700_000_000_000 + step,
                    "step": step,
                },
            )
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
        label = f"{n_requests:,} requests"
        results.add(
            "sequential log-metric",
            n_requests / elapsed,
            "requests/s",
            target_ratio=20.0,
            size=label,
        )
        results.add(
            "sequential log-metric p50",
            statistics.median(latencies) * 1000,
            "ms",
            higher_is_better=False,
            size=label,
        )
        results.add(
            "sequential log-metric p99",
            percentile(latencies, 0.99) * 1000,
            "ms",
            higher_is_better=False,
            size=label,
        )

        per_client = max(1, n_requests // (CLIENTS * 4))
        run_ids = [new_run() for _ in range(CLIENTS)]
        errors: list[BaseException] = []

        def client(index: int) -> None:
            own = requests.Session()
            try:
                for call in range(per_client):
                    metrics = [
                        {
                            "key": f"m{k}",
                            "value": float(call),
                            "timestamp": 1_700_000_000_000 + call,
                            "step": call,
                        }
                        for k in range(METRICS_PER_BATCH)
                    ]
                    post(
                        own,
                        base + "/runs/log-batch",
                        {"run_id": run_ids[index], "metrics": metrics},
                    )
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        if errors:
            raise errors[0]
        total = CLIENTS * per_client
        results.add(
            f"{CLIENTS} concurrent clients, log-batch of {METRICS_PER_BATCH}",
            total / elapsed,
            "requests/s",
            target_ratio=20.0,
            size=f"{total:,} requests",
        )

        for i in range(n_runs):
            rid = new_run()
            post(
                session,
                base + "/runs/log-batch",
                {
                    "run_id": rid,
                    "metrics": [
                        {
                            "key": f"m{k}",
                            "value": (i * 7 + k) % 100 / 100,
                            "timestamp": 1,
                            "step": 0,
                        }
                        for k in range(5)
                    ],
                    "params": [{"key": f"p{k}", "value": f"v{(i + k) % 10}"} for k in range(5)],
                    "tags": [
                        {"key": f"t{k}", "value": f"tag-{(i * 3 + k) % 100}"} for k in range(3)
                    ],
                },
            )
        searches = []
        for _ in range(5):
            t0 = time.perf_counter()
            post(
                session,
                base + "/runs/search",
                {
                    "experiment_ids": [experiment_id],
                    "filter": "metrics.m0 > 0.5 and params.p1 = 'v1'",
                    "order_by": ["metrics.m1 DESC"],
                    "max_results": 100,
                },
            )
            searches.append(time.perf_counter() - t0)
        results.add(
            "search over REST, top 100 of equal run counts (median)",
            statistics.median(searches),
            "s",
            higher_is_better=False,
            target_ratio=20.0,
            size=f"{n_runs + CLIENTS + 1:,} runs",
        )
        session.close()
        peak = server.peak_rss
    results.add(
        "server peak memory (process tree)",
        peak / 2**20,
        "MiB",
        higher_is_better=False,
        target_ratio=5.0,
    )
    results.emit()


if __name__ == "__main__":
    main()
