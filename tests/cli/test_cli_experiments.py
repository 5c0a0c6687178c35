"""``cairn experiments``: each subcommand against a real SQLite store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from cairn.entities import LifecycleStage
from cairn.tracking.client import MlflowClient

Invoke = Callable[..., Result]


def _names_listed(output: str) -> set[str]:
    # Table rows after the header and the dashes: id, name, location
    return {line.split()[1] for line in output.strip().splitlines()[2:]}


def test_create_then_search_lists_it(cairn: Invoke, client: MlflowClient) -> None:
    result = cairn("experiments", "create", "--experiment-name", "fraud-detection")

    assert result.exit_code == 0, result.output
    experiment = client.get_experiment_by_name("fraud-detection")
    assert experiment is not None
    assert result.stdout.strip() == (
        f"Created experiment 'fraud-detection' with id {experiment.experiment_id}"
    )
    listing = cairn("experiments", "search")
    assert listing.exit_code == 0, listing.output
    assert listing.stdout.splitlines()[0].split() == [
        "Experiment",
        "Id",
        "Name",
        "Artifact",
        "Location",
    ]
    assert "fraud-detection" in _names_listed(listing.stdout)


def test_create_with_artifact_location(cairn: Invoke, client: MlflowClient, tmp_path: Path) -> None:
    location = str(tmp_path / "fraud-artifacts")

    result = cairn("experiments", "create", "-n", "fraud", "-l", location)

    assert result.exit_code == 0, result.output
    experiment = client.get_experiment_by_name("fraud")
    assert experiment is not None
    assert location in experiment.artifact_location


def test_rename(cairn: Invoke, client: MlflowClient) -> None:
    experiment_id = client.create_experiment("old-name")

    result = cairn("experiments", "rename", "--experiment-id", experiment_id, "--new-name", "new")

    assert result.exit_code == 0, result.output
    assert client.get_experiment(experiment_id).name == "new"


def test_delete_and_restore_change_what_search_shows(cairn: Invoke, client: MlflowClient) -> None:
    experiment_id = client.create_experiment("churn")

    assert cairn("experiments", "delete", "-x", experiment_id).exit_code == 0
    assert client.get_experiment(experiment_id).lifecycle_stage == LifecycleStage.DELETED
    assert "churn" not in _names_listed(cairn("experiments", "search").stdout)
    assert "churn" in _names_listed(cairn("experiments", "search", "--view", "deleted_only").stdout)
    assert "churn" in _names_listed(cairn("experiments", "search", "-v", "ALL").stdout)

    assert cairn("experiments", "restore", "-x", experiment_id).exit_code == 0
    assert client.get_experiment(experiment_id).lifecycle_stage == LifecycleStage.ACTIVE
    assert "churn" in _names_listed(cairn("experiments", "search").stdout)


def test_search_max_results(cairn: Invoke, client: MlflowClient) -> None:
    for name in ("a", "b", "c"):
        client.create_experiment(name)

    result = cairn("experiments", "search", "--max-results", "2")

    assert result.exit_code == 0, result.output
    assert len(_names_listed(result.stdout)) == 2


def test_duplicate_name_is_one_line_error(
    cairn: Invoke, client: MlflowClient, assert_one_line_error: Callable[..., None]
) -> None:
    client.create_experiment("taken")

    assert_one_line_error(cairn("experiments", "create", "-n", "taken"), "taken")


def test_missing_experiment_is_one_line_error(
    cairn: Invoke, assert_one_line_error: Callable[..., None]
) -> None:
    assert_one_line_error(cairn("experiments", "delete", "-x", "424242"), "424242")


def test_bad_view_is_a_usage_error(cairn: Invoke) -> None:
    result = cairn("experiments", "search", "--view", "archived")

    assert result.exit_code == 2
    assert "archived" in result.stderr
    assert "Traceback" not in result.stderr
