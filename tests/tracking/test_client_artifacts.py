"""Artifacts through MlflowClient: files, directories and the log_* payload helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cairn.exceptions import ErrorCode, MlflowException
from cairn.tracking import MlflowClient


@pytest.fixture
def client(any_store_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=any_store_uri)


@pytest.fixture
def run_id(client: MlflowClient) -> str:
    run_id = client.create_run("0").info.run_id
    assert run_id is not None
    return run_id


def _download(client: MlflowClient, run_id: str, path: str, tmp_path: Path) -> Path:
    dst = tmp_path / "download"
    dst.mkdir(exist_ok=True)
    return Path(client.download_artifacts(run_id, path, str(dst)))


def test_log_artifact_file_and_directory(client: MlflowClient, run_id: str, tmp_path: Path) -> None:
    model = tmp_path / "model.bin"
    model.write_bytes(b"\x00\x01weights")
    client.log_artifact(run_id, str(model))
    client.log_artifact(run_id, str(model), artifact_path="backup")

    tree = tmp_path / "outputs"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("a")
    (tree / "sub" / "b.txt").write_text("b")
    client.log_artifacts(run_id, str(tree), artifact_path="results")

    top = {(f.path, f.is_dir) for f in client.list_artifacts(run_id)}
    assert top == {("model.bin", False), ("backup", True), ("results", True)}
    assert [f.path for f in client.list_artifacts(run_id, "results/sub")] == ["results/sub/b.txt"]
    size = {f.path: f.file_size for f in client.list_artifacts(run_id)}["model.bin"]
    assert size == len(b"\x00\x01weights")

    local = _download(client, run_id, "results", tmp_path)
    assert (local / "sub" / "b.txt").read_text() == "b"
    assert (
        _download(client, run_id, "backup/model.bin", tmp_path).read_bytes() == model.read_bytes()
    )


def test_log_artifact_of_a_directory_keeps_its_name(
    client: MlflowClient, run_id: str, tmp_path: Path
) -> None:
    tree = tmp_path / "ckpt"
    tree.mkdir()
    (tree / "w.pt").write_text("w")
    client.log_artifact(run_id, str(tree))
    assert [f.path for f in client.list_artifacts(run_id, "ckpt")] == ["ckpt/w.pt"]


def test_log_text_and_dict(client: MlflowClient, run_id: str, tmp_path: Path) -> None:
    client.log_text(run_id, "héllo\n", "notes/readme.txt")
    client.log_dict(run_id, {"a": 1, "b": [1, 2]}, "config.json")
    client.log_dict(run_id, {"a": 1}, "conf/config.yaml")
    assert _download(client, run_id, "notes/readme.txt", tmp_path).read_text("utf-8") == "héllo\n"
    assert json.loads(_download(client, run_id, "config.json", tmp_path).read_text()) == {
        "a": 1,
        "b": [1, 2],
    }
    assert yaml.safe_load(_download(client, run_id, "conf/config.yaml", tmp_path).read_text()) == {
        "a": 1
    }


def test_log_figure_and_image(client: MlflowClient, run_id: str, tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    client.log_figure(run_id, fig, "plots/line.png")
    plt.close(fig)
    client.log_image(run_id, np.zeros((4, 4, 3), dtype=np.uint8), "images/black.png")
    png = b"\x89PNG\r\n\x1a\n"
    assert _download(client, run_id, "plots/line.png", tmp_path).read_bytes().startswith(png)
    assert _download(client, run_id, "images/black.png", tmp_path).read_bytes().startswith(png)


def test_log_image_series_is_refused_clearly(client: MlflowClient, run_id: str) -> None:
    np = pytest.importorskip("numpy")
    with pytest.raises(MlflowException) as info:
        client.log_image(run_id, np.zeros((2, 2)), key="img", step=1)
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE


def test_log_table_appends(client: MlflowClient, run_id: str, tmp_path: Path) -> None:
    client.log_table(run_id, {"x": [1, 2], "y": ["a", "b"]}, "tables/t.json")
    client.log_table(run_id, {"x": [3], "y": ["c"]}, "tables/t.json")
    table = json.loads(_download(client, run_id, "tables/t.json", tmp_path).read_text())
    assert table["columns"] == ["x", "y"]
    assert table["data"] == [[1, "a"], [2, "b"], [3, "c"]]


def test_artifact_file_may_not_escape(client: MlflowClient, run_id: str) -> None:
    with pytest.raises(MlflowException) as info:
        client.log_text(run_id, "x", "../outside.txt")
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE


def test_download_of_a_missing_artifact(client: MlflowClient, run_id: str, tmp_path: Path) -> None:
    with pytest.raises(MlflowException) as info:
        _download(client, run_id, "nothing-here.txt", tmp_path)
    assert info.value.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST
