"""The official MLflow client (reference venv) drives a live Cairn server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from server.live import LiveServer

pytestmark = [pytest.mark.server, pytest.mark.mlflow, pytest.mark.slow]

SCRIPT = Path(__file__).with_name("mlflow_client_script.py")


def test_official_client_round_trip(
    live_server: LiveServer, mlflow_python: Path, tmp_path: Path
) -> None:
    done = subprocess.run(
        [str(mlflow_python), str(SCRIPT), live_server.url],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["experiment"] == ["official-client", {"team": "x"}]
    assert seen["finished"] == "FINISHED"
    assert seen["history"] == [[k, float(k)] for k in range(30)]
    assert seen["batch"] == [True, {"p": "v"}, "u", "FAILED"]
    assert seen["filtered"] == ["4", "2"]
    assert seen["pages"] == [4, 2, None]
    assert seen["dataframe_rows"] == 6
    assert seen["artifacts"] == [["sub/hello.txt", False, 14]]
    assert seen["downloaded"] == "hello artifact"
    assert seen["artifact_uri"].startswith("mlflow-artifacts:/")
    assert seen["missing_run"] == "RESOURCE_DOES_NOT_EXIST"
    assert seen["duplicate_experiment"] == "RESOURCE_ALREADY_EXISTS"
    assert seen["search_experiments"] is True
    assert seen["active_after_delete"] == 5
