"""Running the real server with the built UI, and Debian's chromium, for the browser tests
and the UI benchmark."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
UI_INDEX = REPO_ROOT / "src" / "cairn" / "server" / "static" / "index.html"
BUILD_COMMAND = "cd ui && npm ci && npm run build"
CHROMIUM = os.environ.get("CAIRN_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # chromium runs a sandboxed iframe (the HTML artifact preview) in its own renderer
    # process; on a loaded machine Playwright then missed that frame's document about one
    # time in ten (Puppeteer turned the feature off for the same flakiness). This switch
    # replaces Playwright's own --disable-features list (network chatter, paint holding);
    # the browser tests do not depend on those.
    "--disable-features=IsolateSandboxedIframes",
]


def missing_build_message() -> str | None:
    """Why the browser tests cannot run, or None when the UI build is present."""
    if not UI_INDEX.is_file():
        return f"The web UI is not built ({UI_INDEX} is missing). Build it first: {BUILD_COMMAND}"
    if not Path(CHROMIUM).exists():
        return f"Chromium is not installed at {CHROMIUM}: apt-get install -y chromium"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(
    backend_uri: str, artifacts_destination: Path, log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """Start the server in its own process and wait until it answers /health."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cairn",
                "server",
                "--backend-store-uri",
                backend_uri,
                "--artifacts-destination",
                str(artifacts_destination),
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=log.parent,
            # the developer's tracking settings must not leak into the test server
            env={k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "CAIRN_"))},
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"The server exited early:\n{log.read_text()}")
        try:
            if requests.get(f"{base_url}/health", timeout=2).ok:
                return process, base_url
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    stop_server(process)
    raise RuntimeError(f"The server did not start within 60 s:\n{log.read_text()}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def launch_chromium(playwright: Any) -> Any:
    """Debian's chromium, headless (Playwright's own browser downloads are not used)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
