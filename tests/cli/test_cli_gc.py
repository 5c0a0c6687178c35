"""``cairn gc`` and ``collect_garbage``: deleted runs and experiments go for good."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from cairn.cli.gc import collect_garbage
from cairn.cli.options import parse_duration_ms
from cairn.exceptions import InvalidParameterValue, ResourceDoesNotExist
from cairn.store.registry import create_tracking_store
from cairn.tracking.client import MlflowClient
from cairn.tracking.uri import set_tracking_uri

Invoke = Callable[..., Result]


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mysql", marks=pytest.mark.mysql),
        "file",
    ]
)
def tracking_uri(request: pytest.FixtureRequest, store_uri_factory: Callable[[str], str]) -> str:
    """gc leans on each store's hard deletes (foreign keys, .trash): try every backend."""
    set_tracking_uri(None)
    return store_uri_factory(request.param)


@pytest.mark.parametrize(
    ("text", "millis"),
    [
        ("1d2h3m4s", ((24 + 2) * 60 * 60 + 3 * 60 + 4) * 1000),
        ("30d", 30 * 86_400_000),
        ("2h", 7_200_000),
        ("45m", 2_700_000),
        ("10s", 10_000),
        ("1.5h", 5_400_000),
        ("1.2d3h4m5s", round(1.2 * 86_400_000) + 3 * 3_600_000 + 4 * 60_000 + 5_000),
        (".5s", 500),
        ("0s", 0),
    ],
)
def test_parse_duration(text: str, millis: int) -> None:
    assert parse_duration_ms(text) == millis


@pytest.mark.parametrize("text", ["", "d", "3", "1x", "2h1d", "1d 2h", "-1d", "1..5h", "5ms"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration_ms(text)


class Scene:
    """An experiment whose runs each hold one artifact file on disk."""

    def __init__(self, client: MlflowClient, artifact_root: Path, name: str = "gc") -> None:
        self.client = client
        self.experiment_id = client.create_experiment(name, str(artifact_root / name))
        self.tmp = artifact_root.parent

    def run_with_artifact(self) -> tuple[str, Path]:
        run_id = self.client.create_run(self.experiment_id).info.run_id
        self.client.log_param(run_id, "alpha", 0.5)
        self.client.log_metric(run_id, "loss", 0.1)
        model = self.tmp / "model.bin"
        model.write_bytes(b"\x00weights")
        self.client.log_artifact(run_id, str(model), "model")
        uri = self.client.get_run(run_id).info.artifact_uri
        assert uri is not None
        directory = Path(uri.removeprefix("file://"))
        assert (directory / "model" / "model.bin").exists()
        return run_id, directory


def _gone(client: MlflowClient, run_id: str) -> bool:
    try:
        client.get_run(run_id)
    except ResourceDoesNotExist:
        return True
    return False


def test_gc_removes_deleted_runs_and_their_artifacts_only(
    cairn: Invoke, client: MlflowClient, tracking_uri: str, artifact_root: Path
) -> None:
    scene = Scene(client, artifact_root)
    deleted, deleted_dir = scene.run_with_artifact()
    active, active_dir = scene.run_with_artifact()
    client.delete_run(deleted)

    result = cairn("gc", "--backend-store-uri", tracking_uri)

    assert result.exit_code == 0, result.output
    assert f"Run with id {deleted} has been permanently deleted." in result.stdout
    assert _gone(client, deleted)
    assert not deleted_dir.exists()
    assert client.get_run(active).data.params == {"alpha": "0.5"}
    assert (active_dir / "model" / "model.bin").read_bytes() == b"\x00weights"


def test_gc_uses_the_tracking_uri_from_the_environment(
    cairn: Invoke, client: MlflowClient, artifact_root: Path
) -> None:
    run_id, directory = Scene(client, artifact_root).run_with_artifact()
    client.delete_run(run_id)

    result = cairn("gc")  # the fixture sets CAIRN_TRACKING_URI

    assert result.exit_code == 0, result.output
    assert _gone(client, run_id)
    assert not directory.exists()


def test_gc_removes_deleted_experiment_with_all_its_runs(
    cairn: Invoke, client: MlflowClient, artifact_root: Path
) -> None:
    doomed = Scene(client, artifact_root, "doomed")
    kept = Scene(client, artifact_root, "kept")
    doomed_run, doomed_dir = doomed.run_with_artifact()
    kept_run, kept_dir = kept.run_with_artifact()
    client.delete_experiment(doomed.experiment_id)

    result = cairn("gc", "--experiment-ids", doomed.experiment_id)

    assert result.exit_code == 0, result.output
    assert f"Experiment with id {doomed.experiment_id} has been permanently deleted." in (
        result.stdout
    )
    assert client.get_experiment_by_name("doomed") is None
    assert _gone(client, doomed_run)
    assert not doomed_dir.exists()
    assert client.get_run(kept_run).info.lifecycle_stage == "active"
    assert kept_dir.exists()
    # The name is free again once the experiment is gone for good.
    assert client.create_experiment("doomed")


def test_gc_older_than_keeps_recent_deletions(
    cairn: Invoke, client: MlflowClient, artifact_root: Path
) -> None:
    run_id, directory = Scene(client, artifact_root).run_with_artifact()
    client.delete_run(run_id)

    result = cairn("gc", "--older-than", "1d")

    assert result.exit_code == 0, result.output
    assert "Nothing to delete." in result.stdout
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    assert directory.exists()


def test_gc_named_runs_only(cairn: Invoke, client: MlflowClient, artifact_root: Path) -> None:
    scene = Scene(client, artifact_root)
    (first, first_dir), (second, second_dir) = scene.run_with_artifact(), scene.run_with_artifact()
    client.delete_run(first)
    client.delete_run(second)

    result = cairn("gc", "--run-ids", first)

    assert result.exit_code == 0, result.output
    assert _gone(client, first)
    assert not first_dir.exists()
    assert client.get_run(second).info.lifecycle_stage == "deleted"
    assert second_dir.exists()


def test_gc_refuses_active_run_and_removes_nothing(
    cairn: Invoke,
    client: MlflowClient,
    artifact_root: Path,
    assert_one_line_error: Callable[..., None],
) -> None:
    scene = Scene(client, artifact_root)
    (deleted, deleted_dir), (active, _) = scene.run_with_artifact(), scene.run_with_artifact()
    client.delete_run(deleted)

    result = cairn("gc", "--run-ids", f"{deleted},{active}")

    assert_one_line_error(result, active, "not deleted")
    assert client.get_run(deleted).info.lifecycle_stage == "deleted"
    assert deleted_dir.exists()


def test_gc_refuses_active_experiment(
    cairn: Invoke, client: MlflowClient, assert_one_line_error: Callable[..., None]
) -> None:
    experiment_id = client.create_experiment("alive")

    assert_one_line_error(cairn("gc", "--experiment-ids", experiment_id), experiment_id)
    assert client.get_experiment(experiment_id).name == "alive"


def test_gc_bad_older_than_is_usage_error(cairn: Invoke) -> None:
    result = cairn("gc", "--older-than", "soon")

    assert result.exit_code == 2
    assert "--older-than" in result.stderr


def test_collect_garbage_reports_what_it_removed(
    client: MlflowClient, tracking_uri: str, artifact_root: Path
) -> None:
    scene = Scene(client, artifact_root)
    run_id, _ = scene.run_with_artifact()
    client.delete_experiment(scene.experiment_id)
    store = create_tracking_store(tracking_uri)
    lines: list[str] = []

    report = collect_garbage(store, on_progress=lines.append)

    assert report.run_ids == [run_id]
    assert report.experiment_ids == [scene.experiment_id]
    assert report.artifact_failures == {}
    assert len(lines) == 2
    assert collect_garbage(store).run_ids == []


def test_collect_garbage_recent_named_run_is_refused(
    client: MlflowClient, tracking_uri: str, artifact_root: Path
) -> None:
    run_id, directory = Scene(client, artifact_root).run_with_artifact()
    client.delete_run(run_id)

    with pytest.raises(InvalidParameterValue, match="too recently"):
        collect_garbage(create_tracking_store(tracking_uri), 3_600_000, [run_id])
    assert directory.exists()


def test_gc_finds_proxied_artifacts_under_artifacts_destination(
    cairn: Invoke,
    client: MlflowClient,
    tmp_path: Path,
    tracking_uri: str,
) -> None:
    # What a server with --serve-artifacts records: mlflow-artifacts:/ URIs whose files
    # live under the server's --artifacts-destination.
    experiment_id = client.create_experiment("proxied", "mlflow-artifacts:/proxied")
    run_id = client.create_run(experiment_id).info.run_id
    client.delete_run(run_id)
    destination = tmp_path / "mlartifacts"
    stored = destination / "proxied" / run_id / "artifacts" / "model.bin"
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"weights")

    result = cairn("gc", "--artifacts-destination", str(destination))

    assert result.exit_code == 0, result.output
    assert _gone(client, run_id)
    assert not stored.exists()


def test_gc_without_destination_reports_proxied_artifacts_and_still_removes_the_run(
    client: MlflowClient, tracking_uri: str
) -> None:
    experiment_id = client.create_experiment("proxied", "mlflow-artifacts:/proxied")
    run_id = client.create_run(experiment_id).info.run_id
    client.delete_run(run_id)

    report = collect_garbage(create_tracking_store(tracking_uri))

    assert report.run_ids == [run_id]
    assert "--artifacts-destination" in report.artifact_failures[run_id]
    assert _gone(client, run_id)
