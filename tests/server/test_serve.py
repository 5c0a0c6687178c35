"""``cairn.server.serve`` as the CLI calls it: several workers, and a bad store URI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from server.live import free_port, running_server

pytestmark = [pytest.mark.server, pytest.mark.slow]


def test_several_workers_share_one_store(tmp_path: Path) -> None:
    with running_server(tmp_path, workers=2) as server:
        api = server.url + "/api/2.0/mlflow"
        ids = [
            requests.post(f"{api}/experiments/create", json={"name": f"w{i}"}, timeout=30).json()[
                "experiment_id"
            ]
            for i in range(6)
        ]
        names = {
            requests.get(f"{api}/experiments/get", params={"experiment_id": i}, timeout=30).json()[
                "experiment"
            ]["name"]
            for i in ids
        }
        assert names == {f"w{i}" for i in range(6)}
        assert "listening at http://127.0.0.1" in (tmp_path / "server.log").read_text()


def test_a_bad_store_uri_fails_before_serving(tmp_path: Path) -> None:
    code = (
        "from cairn.server import serve; "
        f"serve('nosuch://x', None, None, True, False, '127.0.0.1', {free_port()}, 1)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert done.returncode != 0
    assert "Unsupported tracking URI" in done.stderr
    assert "listening" not in done.stdout
