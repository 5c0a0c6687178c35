"""``cairn`` and the reference ``mlflow`` command line read an mlruns store the same way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LOG_A_RUN = """
import mlflow
mlflow.set_experiment("shared")
with mlflow.start_run(run_name="written-by-mlflow") as run:
    mlflow.log_params({"alpha": 0.5, "layers": 3})
    mlflow.log_metric("loss", 0.9, step=0)
    mlflow.log_metric("loss", 0.4, step=1)
    mlflow.set_tag("owner", "ana")
print(run.info.experiment_id, run.info.run_id)
"""


def _run(python: Path | str, args: list[str], store: Path) -> str:
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": store.as_uri(),
        "MLFLOW_ALLOW_FILE_STORE": "true",  # MLflow 3 otherwise refuses file stores
    }
    done = subprocess.run(
        [str(python), *args],
        env=env,
        cwd=store.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.mlflow
def test_runs_describe_matches_mlflow(mlflow_python: Path, tmp_path: Path) -> None:
    store = tmp_path / "mlruns"
    experiment_id, run_id = _run(mlflow_python, ["-c", LOG_A_RUN], store).split()

    theirs = json.loads(
        _run(mlflow_python, ["-m", "mlflow", "runs", "describe", "--run-id", run_id], store)
    )
    ours = json.loads(
        _run(sys.executable, ["-m", "cairn", "runs", "describe", "--run-id", run_id], store)
    )

    assert ours["info"] == theirs["info"]
    assert ours["data"] == theirs["data"]
    assert ours["info"]["experiment_id"] == experiment_id

    listed = _run(
        sys.executable, ["-m", "cairn", "runs", "list", "--experiment-id", experiment_id], store
    )
    assert run_id in listed
    assert "written-by-mlflow" in listed
