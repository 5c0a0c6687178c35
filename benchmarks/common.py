"""What every workload script shares: arguments, the library under test, results, servers.

Workloads run under either interpreter (Cairn's venv or the reference MLflow's), so this
module imports neither library at module level and uses only the standard library and
``requests`` (a dependency of both).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MLFLOW_PYTHON = Path(
    os.environ.get("CAIRN_BENCH_MLFLOW_PYTHON", REPO / ".venv-mlflow" / "bin" / "python")
)
RESULT_PREFIX = "BENCH-RESULT "


@dataclass
class Figure:
    """One measured figure, and what the issue asks of Cairn's figure."""

    name: str
    value: float
    unit: str
    higher_is_better: bool = True
    target_ratio: float | None = None  # Cairn / MLflow (or MLflow / Cairn when lower is better)
    target_abs: float | None = None  # Cairn alone: at least this (or at most, when lower is better)
    size: str = ""  # what was measured (points, runs, ...), so unequal sizes show


@dataclass
class Results:
    workload: str
    impl: str
    figures: list[Figure] = field(default_factory=list)

    def add(self, *args: Any, **kwargs: Any) -> Figure:
        figure = Figure(*args, **kwargs)
        self.figures.append(figure)
        print(
            f"  [{self.impl}] {figure.name}: {figure.value:.4g} {figure.unit} {figure.size}",
            file=sys.stderr,
            flush=True,
        )
        return figure

    def emit(self) -> None:
        print(
            RESULT_PREFIX
            + json.dumps(
                {
                    "workload": self.workload,
                    "impl": self.impl,
                    "figures": [asdict(f) for f in self.figures],
                }
            ),
            flush=True,
        )


def parse_args(doc: str | None, **extra: Any) -> argparse.Namespace:
    """``--impl cairn|mlflow`` and ``--quick``, plus a workload's own ``--name default`` sizes."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--impl", choices=["cairn", "mlflow"], default="cairn")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (the whole suite in ~2 minutes)"
    )
    for name, default in extra.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=None)
    args = parser.parse_args()
    # MLflow 3 refuses its file store unless told otherwise; telemetry would add noise.
    # Set here, so the workload's own children (servers, W6's processes) inherit them.
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    return args


def size(args: argparse.Namespace, name: str, quick: dict[str, int], full: dict[str, int]) -> int:
    """A size: the command line's, else the quick or full default of this implementation."""
    given = getattr(args, name, None)
    if given is not None:
        return int(given)
    return (quick if args.quick else full)[args.impl]


def import_impl(impl: str) -> ModuleType:
    """``import cairn as mlflow`` or ``import mlflow``: the same workload code for both."""
    if impl == "cairn":
        import cairn

        return cairn
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    return mlflow


def entities(impl: str) -> ModuleType:
    if impl == "cairn":
        import cairn.entities

        return cairn.entities
    import mlflow.entities

    return mlflow.entities


@contextmanager
def scratch_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="cairn-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def store_uri(backend: str, directory: Path) -> str:
    if backend == "file":
        return (directory / "mlruns").as_uri()
    return f"sqlite:///{directory / 'store.db'}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        child = int(entry)
        children.setdefault(int(fields[1]), []).append(child)
        rss[child] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        stack.extend(children.get(current, []))
    return total


class Server:
    """A tracking server (``cairn server`` or ``mlflow server``) on a free loopback port."""

    def __init__(self, impl: str, backend_uri: str, artifacts: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        module = "cairn" if impl == "cairn" else "mlflow"
        command = [
            sys.executable,
            "-m",
            module,
            "server",
            "--backend-store-uri",
            backend_uri,
            "--artifacts-destination",
            str(artifacts),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
        started = time.perf_counter()
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        self._wait_ready()
        self.startup_s = time.perf_counter() - started
        self.peak_rss = 0
        self._sampling = True
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _wait_ready(self) -> None:
        import requests

        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited: {self.process.stderr.read().decode()[-2000:] if self.process.stderr else ''}"
                )
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not start within 180 s")

    def _sample(self) -> None:
        while self._sampling:
            self.peak_rss = max(self.peak_rss, tree_rss_bytes(self.process.pid))
            time.sleep(0.2)

    def stop(self) -> None:
        self._sampling = False
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)
        if self.process.stderr:
            self.process.stderr.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
