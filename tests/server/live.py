"""Starting and stopping real Cairn server processes for tests."""

from __future__ import annotations

import contextlib
import os
import signal as signal_module
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

STARTUP_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    url: str
    root: Path
    artifacts: Path
    process: subprocess.Popen[bytes]

    def api(self, path: str) -> str:
        return f"{self.url}/api/2.0/mlflow{path}"


def _server_env() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MLFLOW_", "CAIRN_", "_CAIRN_"))
    }


def start_server(root: Path, *serve_args: object) -> LiveServer:
    """Start ``cairn.server.serve(*serve_args)`` in a new process and wait for /health."""
    port = int(serve_args[6])  # type: ignore[call-overload]
    code = "import sys; from cairn.server import serve; serve(*eval(sys.argv[1]))"
    process = start_process(root, [sys.executable, "-c", code, repr(tuple(serve_args))], port)
    destination = serve_args[2] or root / "mlartifacts"
    return LiveServer(f"http://127.0.0.1:{port}", root, Path(str(destination)), process)


@contextlib.contextmanager
def running_server(
    root: Path, backend_uri: str | None = None, workers: int = 1
) -> Iterator[LiveServer]:
    """A server over ``backend_uri`` (default: SQLite in ``root``) proxying artifacts into
    ``<root>/mlartifacts``, on a free loopback port; stopped on leaving."""
    uri = backend_uri or f"sqlite:///{root / 'cairn.db'}"
    server = start_server(root, uri, None, None, True, False, "127.0.0.1", free_port(), workers)
    try:
        yield server
    finally:
        stop_server(server.process)


def start_cli_server(root: Path, port: int, *options: str) -> LiveServer:
    """Start ``cairn server --port <port> <options>`` as a user would, and wait for /health."""
    argv = [sys.executable, "-m", "cairn", "server", "--port", str(port), *options]
    process = start_process(root, argv, port)
    return LiveServer(f"http://127.0.0.1:{port}", root, root / "mlartifacts", process)


def start_process(
    root: Path,
    argv: list[str],
    port: int,
    timeout: float = STARTUP_TIMEOUT_S,
    own_group: bool = False,
) -> subprocess.Popen[bytes]:
    """Run ``argv`` in ``root`` (output to ``root/server.log``) until the server it starts
    answers ``/health`` on ``port``; a server that exits or never answers fails the test.

    ``own_group`` starts it in a process group of its own, which ``stop_server`` then
    signals whole: for servers (like ``mlflow server``) that run theirs in a child process.
    """
    log = open(root / "server.log", "wb")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(
        argv,
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=_server_env(),
        start_new_session=own_group,
    )
    log.close()
    url = f"http://127.0.0.1:{port}/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{(root / 'server.log').read_text()}")
        try:
            if requests.get(url, timeout=1).text == "OK":
                return process
        except requests.RequestException:
            pass
        time.sleep(0.2)
    stop_server(process)
    raise RuntimeError(f"server did not start:\n{(root / 'server.log').read_text()}")


def peak_rss_bytes(pid: int) -> int:
    """The high-water mark of a process's resident memory (``VmHWM``), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Stop a server started here (with its process group, when it has one of its own)."""
    own_group = process.poll() is None and os.getpgid(process.pid) == process.pid

    def signal(sig: int) -> None:
        if own_group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)

    signal(signal_module.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        signal(signal_module.SIGKILL)
        process.wait()
