"""W6: ``import cairn`` and a tiny tracking script, each as a whole new process.

python -m benchmarks.w6_import --impl cairn|mlflow [--quick] [--repeats N]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from benchmarks.common import Results, parse_args, scratch_dir, size

QUICK = {"cairn": 3, "mlflow": 3}
FULL = {"cairn": 10, "mlflow": 10}
TINY_SCRIPT = """
import {module} as mlflow
mlflow.set_tracking_uri({uri!r})
with mlflow.start_run():
    mlflow.log_param("alpha", 0.5)
    mlflow.log_metric("rmse", 0.25)
"""


def wall_time(code: str, cwd: str) -> float:
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=cwd, env=env, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def main() -> None:
    args = parse_args(__doc__, repeats=0)
    repeats = size(args, "repeats", QUICK, FULL)
    module = "cairn" if args.impl == "cairn" else "mlflow"
    results = Results("W6", args.impl)
    with scratch_dir() as directory:
        wall_time(f"import {module}", str(directory))  # warm the OS file cache once
        imports = [wall_time(f"import {module}", str(directory)) for _ in range(repeats)]
        results.add(
            "import the library (whole process, median)",
            statistics.median(imports),
            "s",
            higher_is_better=False,
            target_ratio=10.0,
            target_abs=0.3,
            size=f"{repeats} runs",
        )
        for backend in ("file", "sqlite"):
            uri = (
                (directory / "mlruns").as_uri()
                if backend == "file"
                else f"sqlite:///{directory / 'tiny.db'}"
            )
            code = TINY_SCRIPT.format(module=module, uri=uri)
            wall_time(code, str(directory))  # the first run creates the store
            times = [wall_time(code, str(directory)) for _ in range(repeats)]
            results.add(
                f"{backend}: tiny script (whole process, median)",
                statistics.median(times),
                "s",
                higher_is_better=False,
                size=f"{repeats} runs",
            )
    results.emit()


if __name__ == "__main__":
    main()
