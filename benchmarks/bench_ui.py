"""Time to interactive of the web UI: the runs table with 10,000 runs and the chart of a
1,000,000-point metric (prints figures; no asserts).

Seeds a SQLite store with 10,000 runs (3 params, 3 metrics, 2 tags each) and one run
whose metric "wave" has 1,000,000 points with a single spike (logged through the
store's log_batch), starts the real server with the built UI, and drives Debian's
chromium:

* time to interactive: from navigation to the first page of rows drawn (1,000 runs
  fetched, rows clickable);
* time until all 10,000 runs are loaded by scrolling to the end, page after page;
* scrolling: the frame times while the table scrolls through everything in 60 steps;
* time to chart: from opening the long run's page to its chart drawn (downsampled by
  the server to min/max buckets), whether the spike is among the points drawn, and
  how long the page's main thread was blocked meanwhile (long tasks);
* a zoom: dragging across the chart until the detail of that step range is drawn.

Run:  .venv/bin/python benchmarks/bench_ui.py [--runs N] [--points N]
(needs `cd ui && npm ci && npm run build`)
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from cairn.entities import Metric, Param, RunStatus, RunTag
from cairn.store.registry import create_tracking_store
from ui.harness import launch_chromium, missing_build_message, start_server, stop_server

T0 = 1_700_000_000_000


def seed(uri: str, runs: int) -> str:
    store = create_tracking_store(uri, "mlflow-artifacts:/")
    experiment_id = store.create_experiment("bench-10k")
    for i in range(runs):
        run = store.create_run(experiment_id, "bench", T0 + i * 1000, [], f"run-{i}")
        run_id = run.info.run_id
        store.log_batch(
            run_id,
            metrics=[
                Metric("loss", 1 / (i + 1), T0, 0),
                Metric("acc", (i % 97) / 97, T0, 0),
                Metric("f1", (i % 89) / 89, T0, 0),
            ],
            params=[
                Param("lr", str(0.001 * (i % 10))),
                Param("depth", str(i % 7)),
                Param("seed", str(i)),
            ],
            tags=[RunTag("team", "bench"), RunTag("shard", str(i % 4))],
        )
        store.update_run_info(run_id, RunStatus.FINISHED, T0 + i * 1000 + 5000, None)
    return experiment_id


SPIKE = 1000.0


def seed_long_metric(uri: str, points: int) -> tuple[str, int]:
    """A run whose metric "wave" has ``points`` points and one spike; (run id, spike step)."""
    store = create_tracking_store(uri, "mlflow-artifacts:/")
    experiment_id = store.create_experiment("bench-long-metric")
    run_id = store.create_run(experiment_id, "bench", T0, [], "long-metric").info.run_id
    spike = points * 7 // 10 + 3
    for start in range(0, points, 1000):
        store.log_batch(
            run_id,
            metrics=[
                Metric("wave", SPIKE if s == spike else math.sin(s / 5000), T0 + s, s)
                for s in range(start, min(start + 1000, points))
            ],
        )
    store.update_run_info(run_id, RunStatus.FINISHED, T0 + points, None)
    return run_id, spike


def bench_chart(page: Any, url: str, run_id: str, points: int) -> None:
    page.evaluate(
        """() => {
            window.__longTasks = [];
            new PerformanceObserver(list => list.getEntries().forEach(
                e => window.__longTasks.push(e.duration))).observe({type: 'longtask', buffered: true});
        }"""
    )
    started = time.perf_counter()
    page.goto(f"{url}/#/runs/{run_id}")
    chart = page.locator(".metric-chart[data-metric=wave]")
    chart.locator("canvas").wait_for()
    elapsed = time.perf_counter() - started
    drawn = chart.get_attribute("data-point-count")
    spike_shown = float(chart.get_attribute("data-y-max") or "nan") == SPIKE
    long_tasks = page.evaluate("() => window.__longTasks")
    print(
        f"chart of a {points:,}-point metric: {elapsed:.2f} s to draw ({drawn} points drawn, "
        f"spike shown: {spike_shown}; longest main-thread task "
        f"{max(long_tasks, default=0):.0f} ms)"
    )
    box = chart.locator(".u-over").bounding_box()
    figure = page.get_by_role("figure", name="Chart of wave")
    started = time.perf_counter()
    page.mouse.move(box["x"] + box["width"] * 0.69, box["y"] + 30)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.71, box["y"] + 30, steps=5)
    page.mouse.up()
    page.wait_for_function(
        "el => el.dataset.zoomSteps && el.dataset.loading === 'false'",
        arg=figure.element_handle(),
    )
    print(
        f"zoom into steps {figure.get_attribute('data-zoom-steps')}: "
        f"{time.perf_counter() - started:.2f} s to draw the detail "
        f"({chart.get_attribute('data-point-count')} points)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    args = parser.parse_args()
    problem = missing_build_message()
    if problem:
        sys.exit(problem)

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        uri = f"sqlite:///{root / 'bench.db'}"
        started = time.perf_counter()
        experiment_id = seed(uri, args.runs)
        print(f"seeded {args.runs} runs in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        long_run, _ = seed_long_metric(uri, args.points)
        print(f"seeded a {args.points:,}-point metric in {time.perf_counter() - started:.1f} s")
        process, url = start_server(uri, root / "artifacts", root / "server.log")
        try:
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.set_default_timeout(300_000)
                page.goto(url + "/")  # warm the static files, as a returning user would have them
                page.wait_for_selector(".experiment-list li")

                started = time.perf_counter()
                page.goto(f"{url}/#/experiments/{experiment_id}")
                page.locator(".run-row").first.wait_for()
                page.locator(".run-count").wait_for()
                tti = time.perf_counter() - started
                rows_in_dom = page.locator(".run-row").count()
                print(
                    f"runs table time to interactive: {tti:.2f} s ({rows_in_dom} rows in the DOM)"
                )

                started = time.perf_counter()
                scroller = page.locator(".runs-scroll")
                while page.locator(".run-count").inner_text() != f"{args.runs} runs":
                    scroller.evaluate("el => { el.scrollTop = el.scrollHeight }")
                    page.wait_for_timeout(50)
                print(
                    f"all {args.runs} runs loaded by scrolling in {time.perf_counter() - started:.2f} s"
                )

                frames = scroller.evaluate(
                    """async el => {
                        el.scrollTop = 0;
                        const times = [];
                        let last = performance.now();
                        for (let i = 1; i <= 60; i++) {
                            el.scrollTop = el.scrollHeight * i / 60;
                            await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
                            const now = performance.now();
                            times.push(now - last);
                            last = now;
                        }
                        return times.sort((a, b) => a - b);
                    }"""
                )
                median = frames[len(frames) // 2]
                p95 = frames[int(len(frames) * 0.95)]
                print(
                    f"scrolling 60 jumps across {args.runs} rows: median {median:.1f} ms, p95 {p95:.1f} ms per jump (2 frames)"
                )
                bench_chart(page, url, long_run, args.points)
                browser.close()
        finally:
            stop_server(process)


if __name__ == "__main__":
    main()
