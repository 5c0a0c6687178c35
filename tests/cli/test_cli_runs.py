"""``cairn runs``: list, describe, delete and restore against a real SQLite store."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import Result

from cairn.entities import LifecycleStage
from cairn.tracking.client import MlflowClient

Invoke = Callable[..., Result]


@pytest.fixture
def experiment_id(client: MlflowClient) -> str:
    return client.create_experiment("pricing")


def _listed_ids(output: str) -> list[str]:
    # The run id is the only 32-hex-digit word on a row.
    return [
        word
        for line in output.strip().splitlines()[2:]
        for word in line.split()
        if len(word) == 32 and all(c in "0123456789abcdef" for c in word)
    ]


def test_list_shows_runs_with_names_and_status(
    cairn: Invoke, client: MlflowClient, experiment_id: str
) -> None:
    first = client.create_run(experiment_id, run_name="baseline")
    second = client.create_run(experiment_id, run_name="tuned")
    client.set_terminated(first.info.run_id)

    result = cairn("runs", "list", "--experiment-id", experiment_id)

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].split() == ["Date", "Name", "ID", "Status"]
    assert set(_listed_ids(result.stdout)) == {first.info.run_id, second.info.run_id}
    rows = {line.split()[-2]: line for line in result.stdout.splitlines()[2:]}
    assert "baseline" in rows[first.info.run_id]
    assert rows[first.info.run_id].endswith("FINISHED")
    assert rows[second.info.run_id].endswith("RUNNING")


def test_describe_prints_the_run_as_json(
    cairn: Invoke, client: MlflowClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id, run_name="lr-0.1").info.run_id
    client.log_param(run_id, "learning_rate", 0.1)
    client.log_metric(run_id, "rmse", 0.5, step=0)
    client.log_metric(run_id, "rmse", 0.25, step=1)
    client.set_tag(run_id, "team", "pricing")

    result = cairn("runs", "describe", "--run-id", run_id)

    assert result.exit_code == 0, result.output
    described = json.loads(result.stdout)
    assert described["info"]["run_id"] == run_id
    assert described["info"]["experiment_id"] == experiment_id
    assert described["info"]["run_name"] == "lr-0.1"
    assert described["info"]["status"] == "RUNNING"
    assert described["info"]["lifecycle_stage"] == "active"
    assert described["data"]["params"] == {"learning_rate": "0.1"}
    assert described["data"]["metrics"] == {"rmse": 0.25}
    assert described["data"]["tags"]["team"] == "pricing"
    assert described["data"]["tags"]["mlflow.runName"] == "lr-0.1"
    assert described["inputs"] == {"dataset_inputs": []}


def test_delete_and_restore(cairn: Invoke, client: MlflowClient, experiment_id: str) -> None:
    run_id = client.create_run(experiment_id).info.run_id

    deleted = cairn("runs", "delete", "--run-id", run_id)

    assert deleted.exit_code == 0, deleted.output
    assert client.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
    assert _listed_ids(cairn("runs", "list", "--experiment-id", experiment_id).stdout) == []
    assert _listed_ids(
        cairn("runs", "list", "--experiment-id", experiment_id, "--view", "deleted_only").stdout
    ) == [run_id]

    restored = cairn("runs", "restore", "--run-id", run_id)

    assert restored.exit_code == 0, restored.output
    assert client.get_run(run_id).info.lifecycle_stage == LifecycleStage.ACTIVE
    assert _listed_ids(cairn("runs", "list", "--experiment-id", experiment_id).stdout) == [run_id]


@pytest.mark.parametrize("command", ["describe", "delete", "restore"])
def test_unknown_run_is_one_line_error(
    cairn: Invoke, command: str, assert_one_line_error: Callable[..., None]
) -> None:
    missing = "0123456789abcdef0123456789abcdef"

    assert_one_line_error(cairn("runs", command, "--run-id", missing), missing)


def test_missing_required_option_is_usage_error(cairn: Invoke) -> None:
    result = cairn("runs", "list")

    assert result.exit_code == 2
    assert "--experiment-id" in result.stderr
