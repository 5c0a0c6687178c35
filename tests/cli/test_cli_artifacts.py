"""``cairn artifacts``: upload, list and download real files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from cairn.tracking.client import MlflowClient

Invoke = Callable[..., Result]


@pytest.fixture
def run_id(client: MlflowClient, artifact_root: Path) -> str:
    experiment_id = client.create_experiment("vision", artifact_location=str(artifact_root))
    return client.create_run(experiment_id).info.run_id


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "report.txt"
    path.write_text("accuracy 0.93\n")
    return path


def test_log_artifact_then_list(cairn: Invoke, run_id: str, report: Path) -> None:
    logged = cairn("artifacts", "log-artifact", "--local-file", str(report), "--run-id", run_id)
    nested = cairn("artifacts", "log-artifact", "-l", str(report), "-r", run_id, "-a", "eval/v1")

    assert logged.exit_code == 0, logged.output
    assert nested.exit_code == 0, nested.output
    root = json.loads(cairn("artifacts", "list", "--run-id", run_id).stdout)
    assert root == [
        {"path": "eval", "is_dir": True, "file_size": None},
        {"path": "report.txt", "is_dir": False, "file_size": len("accuracy 0.93\n")},
    ]
    inner = json.loads(cairn("artifacts", "list", "-r", run_id, "-a", "eval/v1").stdout)
    assert [f["path"] for f in inner] == ["eval/v1/report.txt"]


def test_list_of_run_without_artifacts_is_empty(cairn: Invoke, run_id: str) -> None:
    result = cairn("artifacts", "list", "--run-id", run_id)

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


def test_download_by_run_id_into_new_directory(
    cairn: Invoke, client: MlflowClient, run_id: str, report: Path, tmp_path: Path
) -> None:
    client.log_artifact(run_id, str(report), "eval")
    destination = tmp_path / "downloads" / "here"  # does not exist yet: it is created

    result = cairn("artifacts", "download", "-r", run_id, "-a", "eval", "-d", str(destination))

    assert result.exit_code == 0, result.output
    local = Path(result.stdout.strip())
    assert local.is_dir()
    assert (local / "report.txt").read_text() == "accuracy 0.93\n"
    assert local.resolve().is_relative_to(destination.resolve())


def test_download_whole_run_to_temporary_directory(
    cairn: Invoke, client: MlflowClient, run_id: str, report: Path
) -> None:
    client.log_artifact(run_id, str(report), "eval")

    result = cairn("artifacts", "download", "--run-id", run_id)

    assert result.exit_code == 0, result.output
    assert (Path(result.stdout.strip()) / "eval" / "report.txt").exists()


def test_download_by_artifact_uri(
    cairn: Invoke, client: MlflowClient, run_id: str, report: Path, tmp_path: Path
) -> None:
    client.log_artifact(run_id, str(report), "eval")
    artifact_uri = client.get_run(run_id).info.artifact_uri
    assert artifact_uri is not None

    result = cairn(
        "artifacts", "download", "-u", f"{artifact_uri}/eval/report.txt", "-d", str(tmp_path / "d")
    )

    assert result.exit_code == 0, result.output
    assert Path(result.stdout.strip()).read_text() == "accuracy 0.93\n"


def test_missing_local_file_is_reported(cairn: Invoke, run_id: str, tmp_path: Path) -> None:
    result = cairn("artifacts", "log-artifact", "-l", str(tmp_path / "nope.txt"), "-r", run_id)

    assert result.exit_code == 2
    assert "nope.txt" in result.stderr
    assert "Traceback" not in result.stderr


def test_download_needs_exactly_one_source(cairn: Invoke, run_id: str) -> None:
    neither = cairn("artifacts", "download")
    both = cairn("artifacts", "download", "-r", run_id, "-u", "/tmp/x")

    assert neither.exit_code == both.exit_code == 2
    assert "--run-id" in neither.stderr


def test_download_of_missing_artifact_is_one_line_error(
    cairn: Invoke, run_id: str, assert_one_line_error: Callable[..., None]
) -> None:
    result = cairn("artifacts", "download", "-r", run_id, "-a", "missing.bin")

    assert_one_line_error(result, "missing.bin")
