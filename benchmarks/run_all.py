"""Run every workload against Cairn and, when it is installed, the reference MLflow.

    python -m benchmarks [--quick] [--only W1,W5] [--no-mlflow] [--json out.json]
    python benchmarks/run_all.py ...

Each workload is a script (``benchmarks/wN_*.py``) run in its own process, once with
Cairn's interpreter and once with MLflow's (``.venv-mlflow/bin/python``, or
``CAIRN_BENCH_MLFLOW_PYTHON``), so neither library's import state affects the other.
Prints one table: both figures, the ratio (how many times better Cairn is) and whether
the issue's target is met. Never asserts: a missed target is reported, not raised.
"""

from __future__ import annotations

import argparse
import compileall
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import MLFLOW_PYTHON, REPO, RESULT_PREFIX

WORKLOADS = {
    "W1": "benchmarks.w1_fluent_log_metric",
    "W2": "benchmarks.w2_log_batch",
    "W3": "benchmarks.w3_runs_search",
    "W4": "benchmarks.w4_metric_history",
    "W5": "benchmarks.w5_server",
    "W6": "benchmarks.w6_import",
    "W7": "benchmarks.w7_artifacts",
}


def run_workload(
    python: str, module: str, impl: str, quick: bool, timeout: float
) -> dict[str, Any]:
    """Run one workload script; its figures, or ``{"error": ...}``."""
    command = [python, "-m", module, "--impl", impl, *(["--quick"] if quick else [])]
    print(f"== {module} --impl {impl}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, cwd=REPO, stdout=subprocess.PIPE, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    print(f"   ({time.perf_counter() - started:.1f} s)", file=sys.stderr, flush=True)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])  # type: ignore[no-any-return]
    return {"error": f"exit code {done.returncode}, no result (see the output above)"}


def ratio(figure: dict[str, Any], baseline: dict[str, Any] | None) -> float | None:
    """How many times better Cairn's figure is than MLflow's (>1 means better)."""
    if baseline is None or not figure["value"] or not baseline["value"]:
        return None
    if figure["higher_is_better"]:
        return float(figure["value"] / baseline["value"])
    return float(baseline["value"] / figure["value"])


def verdict(figure: dict[str, Any], times_better: float | None) -> str:
    checks: list[bool | None] = []  # None: not checkable (no MLflow figure)
    notes: list[str] = []
    if figure.get("target_ratio") is not None:
        notes.append(f">={figure['target_ratio']:g}x")
        checks.append(None if times_better is None else times_better >= figure["target_ratio"])
    if figure.get("target_abs") is not None:
        sign = ">=" if figure["higher_is_better"] else "<="
        notes.append(f"{sign}{figure['target_abs']:g} {figure['unit']}")
        value = figure["value"]
        checks.append(
            value >= figure["target_abs"]
            if figure["higher_is_better"]
            else value <= figure["target_abs"]
        )
    if not notes:
        return ""
    if False in checks:
        status = "MISSED"
    elif None in checks:
        status = "n/a"
    else:
        status = "met"
    return f"{status} ({', '.join(notes)})"


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def table(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    rows = [
        (
            "workload",
            "figure",
            "unit",
            "Cairn",
            "MLflow",
            "x better",
            "target",
            "sizes (Cairn / MLflow)",
        )
    ]
    for name, by_impl in results.items():
        cairn, mlflow = by_impl.get("cairn", {}), by_impl.get("mlflow", {})
        if "error" in cairn:
            rows.append((name, f"Cairn failed: {cairn['error']}", "", "", "", "", "", ""))
        if "error" in mlflow:
            rows.append((name, f"MLflow failed: {mlflow['error']}", "", "", "", "", "", ""))
        baseline = {f["name"]: f for f in mlflow.get("figures", [])}
        for figure in cairn.get("figures", []):
            other = baseline.get(figure["name"])
            better = ratio(figure, other)
            sizes = figure["size"] + (
                f" / {other['size']}" if other and other["size"] != figure["size"] else ""
            )
            rows.append(
                (
                    name,
                    figure["name"],
                    figure["unit"],
                    fmt(figure["value"]),
                    fmt(other["value"] if other else None),
                    fmt(better),
                    verdict(figure, better),
                    sizes,
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: about two minutes in all"
    )
    parser.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,W3")
    parser.add_argument("--no-mlflow", action="store_true", help="measure Cairn only")
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds per workload and library"
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args(argv)
    chosen = [w.strip().upper() for w in args.only.split(",") if w.strip()] or list(WORKLOADS)
    unknown = [w for w in chosen if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workloads: {', '.join(unknown)}")
    with_mlflow = not args.no_mlflow and MLFLOW_PYTHON.exists()
    if not with_mlflow and not args.no_mlflow:
        print(
            f"MLflow interpreter not found at {MLFLOW_PYTHON}: measuring Cairn only",
            file=sys.stderr,
        )
    # As pip does when it installs a package (MLflow's was compiled so): an editable
    # checkout under PYTHONDONTWRITEBYTECODE=1, as on the benchmark machine, would
    # otherwise compile Cairn's source in every new process (~0.1 s of W5 and W6).
    compileall.compile_dir(REPO / "src" / "cairn", quiet=1)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for name in chosen:
        results[name] = {
            "cairn": run_workload(
                sys.executable, WORKLOADS[name], "cairn", args.quick, args.timeout
            )
        }
        if with_mlflow:
            results[name]["mlflow"] = run_workload(
                str(MLFLOW_PYTHON), WORKLOADS[name], "mlflow", args.quick, args.timeout
            )
    print()
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
