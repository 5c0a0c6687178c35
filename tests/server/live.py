"""Starting and stopping real Cairn server processes for tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
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
    log = open(root / "server.log", "wb")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(
        [sys.executable, "-c", code, repr(tuple(serve_args))],
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=_server_env(),
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{(root / 'server.log').read_text()}")
        try:
            if requests.get(f"{url}/health", timeout=1).text == "OK":
                destination = serve_args[2] or root / "mlartifacts"
                return LiveServer(url, root, Path(str(destination)), process)
        except requests.ConnectionError:
            time.sleep(0.2)
    stop_server(process)
    raise RuntimeError(f"server did not start:\n{(root / 'server.log').read_text()}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
