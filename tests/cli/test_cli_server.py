"""``cairn server`` and ``cairn ui`` hand their options to ``cairn.server.serve``."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest
from click.testing import CliRunner

import cairn.server
from cairn.cli import main
from cairn.tracking.client import MlflowClient


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replaces the real server with a recorder of the arguments it was started with."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(cairn.server, "serve", lambda **kwargs: calls.append(kwargs), raising=False)
    return calls


@pytest.mark.parametrize("command", ["server", "ui"])
def test_defaults_match_mlflow(command: str, served: list[dict[str, Any]]) -> None:
    result = CliRunner().invoke(main, [command])

    assert result.exit_code == 0, result.output
    assert served == [
        {
            "backend_store_uri": "./mlruns",
            "default_artifact_root": None,
            "artifacts_destination": "./mlartifacts",
            "serve_artifacts": True,
            "artifacts_only": False,
            "host": "127.0.0.1",
            "port": 5000,
            "workers": 1,
            "access_log": False,
        }
    ]


def test_every_option_is_passed_on(served: list[dict[str, Any]]) -> None:
    args = [
        "server",
        "--backend-store-uri",
        "sqlite:///cairn.db",
        "--default-artifact-root",
        "/data/artifacts",
        "--artifacts-destination",
        "/data/proxied",
        "--no-serve-artifacts",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
        "--workers",
        "3",
        "--access-log",
    ]

    result = CliRunner().invoke(main, args)

    assert result.exit_code == 0, result.output
    assert served == [
        {
            "backend_store_uri": "sqlite:///cairn.db",
            "default_artifact_root": "/data/artifacts",
            "artifacts_destination": "/data/proxied",
            "serve_artifacts": False,
            "artifacts_only": False,
            "host": "0.0.0.0",
            "port": 8080,
            "workers": 3,
            "access_log": True,
        }
    ]


def test_artifacts_only(served: list[dict[str, Any]]) -> None:
    result = CliRunner().invoke(main, ["server", "--artifacts-only", "-p", "5555"])

    assert result.exit_code == 0, result.output
    assert served[0]["artifacts_only"] is True
    assert served[0]["port"] == 5555


@pytest.mark.parametrize(
    "args",
    [
        ["server", "--artifacts-only", "--no-serve-artifacts"],
        ["server", "--port", "70000"],
        ["ui", "--workers", "0"],
    ],
)
def test_invalid_options_are_usage_errors(args: list[str], served: list[dict[str, Any]]) -> None:
    result = CliRunner().invoke(main, args)

    assert result.exit_code == 2
    assert "Error:" in result.stderr
    assert served == []


def test_server_failure_is_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(**kwargs: Any) -> None:
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(cairn.server, "serve", refuse, raising=False)

    result = CliRunner().invoke(main, ["ui"])

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == "Error: [Errno 98] Address already in use"
    assert "Traceback" not in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.server
@pytest.mark.parametrize("access_log", [False, True])
def test_real_server_serves_the_store(tmp_path: Path, access_log: bool) -> None:
    uri = f"sqlite:///{tmp_path / 'served.db'}"
    experiment_id = MlflowClient(uri).create_experiment("served")
    port = _free_port()
    path = f"/api/2.0/mlflow/experiments/get?experiment_id={experiment_id}"
    url = f"http://127.0.0.1:{port}{path}"
    log = tmp_path / "server.log"
    argv = [sys.executable, "-m", "cairn", "server", "--backend-store-uri", uri, "-p", str(port)]
    if access_log:
        argv.append("--access-log")
    with log.open("w") as out:
        server = subprocess.Popen(
            argv,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(600):  # wait for the port to open (slow on a busy machine)
            assert server.poll() is None, f"server exited early: {log.read_text()}"
            try:
                with urlopen(url, timeout=10) as response:
                    body = json.load(response)
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"server did not start: {log.read_text()}")
        assert body["experiment"]["name"] == "served"
    finally:
        server.terminate()
        server.wait(timeout=30)
    # one line per request only when asked for
    assert (f'"GET {path} HTTP/1.1" 200' in log.read_text()) is access_log
