"""Where the fluent API and the client send their data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import cairn
from cairn.tracking import MlflowClient


def test_default_is_mlruns_under_the_current_directory(tmp_path: Path) -> None:
    assert not cairn.is_tracking_uri_set()
    assert cairn.get_tracking_uri() == (tmp_path / "mlruns").as_uri()


def test_environment_cairn_wins_over_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
    assert cairn.is_tracking_uri_set()
    assert cairn.get_tracking_uri() == "sqlite:///mlflow.db"
    monkeypatch.setenv("CAIRN_TRACKING_URI", "sqlite:///cairn.db")
    assert cairn.get_tracking_uri() == "sqlite:///cairn.db"


def test_set_tracking_uri_wins_and_pins_relative_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///ignored.db")
    cairn.set_tracking_uri("runs-here")
    assert cairn.get_tracking_uri() == str(tmp_path / "runs-here")
    cairn.set_tracking_uri(tmp_path / "as-path")
    assert cairn.get_tracking_uri() == (tmp_path / "as-path").as_uri()
    cairn.set_tracking_uri("sqlite:///x.db")
    assert cairn.get_tracking_uri() == "sqlite:///x.db"
    assert MlflowClient().tracking_uri == "sqlite:///x.db"
    assert MlflowClient("sqlite:///y.db").tracking_uri == "sqlite:///y.db"


def test_child_processes_inherit_the_uri(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'child.db'}"
    cairn.set_tracking_uri(uri)
    done = subprocess.run(
        [sys.executable, "-c", "import cairn; print(cairn.get_tracking_uri())"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=True,
    )
    assert done.stdout.strip() == uri


def test_runs_go_to_the_uri_set_when_they_start(tmp_path: Path) -> None:
    first = f"sqlite:///{tmp_path / 'first.db'}"
    cairn.set_tracking_uri(first)
    with cairn.start_run() as run:
        cairn.log_param("p", 1)
    assert MlflowClient(first).get_run(run.info.run_id).data.params == {"p": "1"}


def test_registry_uri_defaults_to_tracking_uri() -> None:
    cairn.set_tracking_uri("sqlite:///t.db")
    assert cairn.get_registry_uri() == "sqlite:///t.db"
    cairn.set_registry_uri("sqlite:///r.db")
    try:
        assert cairn.get_registry_uri() == "sqlite:///r.db"
    finally:
        cairn.set_registry_uri(None)
