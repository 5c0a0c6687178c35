"""Time to interactive of the web UI's runs table with 10,000 runs (prints figures; no asserts).

Seeds a SQLite store with 10,000 runs (3 params, 3 metrics, 2 tags each), starts the real
server with the built UI, and drives Debian's chromium:

* time to interactive: from navigation to the first page of rows drawn (1,000 runs
  fetched, rows clickable);
* time until all 10,000 runs are loaded by scrolling to the end, page after page;
* scrolling: the frame times while the table scrolls through everything in 60 steps.

Run:  .venv/bin/python benchmarks/bench_ui.py [--runs N]   (needs `cd ui && npm ci && npm run build`)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
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
                browser.close()
        finally:
            stop_server(process)


if __name__ == "__main__":
    main()
