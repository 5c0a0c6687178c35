"""Stores written by the reference MLflow open in Cairn, and the other way round."""

from __future__ import annotations

import json
import math
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from cairn.entities import (
    Dataset,
    DatasetInput,
    ExperimentTag,
    InputTag,
    Metric,
    Param,
    RunStatus,
    RunTag,
    ViewType,
)
from cairn.store.file.store import FileStore

pytestmark = pytest.mark.mlflow


def run_mlflow(mlflow_python: Path, script: str, *args: str) -> str:
    """Run a script under the reference MLflow and return its stdout."""
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [str(mlflow_python), "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


MLFLOW_WRITER = """
import json, sys
import pandas as pd
import mlflow
from mlflow import MlflowClient

root = sys.argv[1]
mlflow.set_tracking_uri(root)
client = MlflowClient(root)
exp_id = client.create_experiment("compat", tags={"team": "core"})
mlflow.set_experiment(experiment_id=exp_id)
with mlflow.start_run(run_name="writer") as run:
    mlflow.log_params({"lr": "0.01", "layers": "3"})
    for step, value in enumerate([0.5, 0.25, float("nan")]):
        mlflow.log_metric("loss", value, step=step, timestamp=1000 + step)
    mlflow.log_metric("acc/train/top1", 0.75, step=7, timestamp=5)
    mlflow.set_tag("note", "multi\\nline")
    dataset = mlflow.data.from_pandas(pd.DataFrame({"x": [1.0, 2.0]}), source="s3://b/d.csv", name="d")
    mlflow.log_input(dataset, context="training")
    with open(root + "/../artifact.txt", "w") as f:
        f.write("hello")
    mlflow.log_artifact(root + "/../artifact.txt")
deleted = client.create_run(exp_id)
client.delete_run(deleted.info.run_id)
gone_exp = client.create_experiment("gone")
gone_run = client.create_run(gone_exp)
client.delete_experiment(gone_exp)
print(json.dumps({"exp": exp_id, "run": run.info.run_id, "deleted_run": deleted.info.run_id,
                  "gone_exp": gone_exp, "gone_run": gone_run.info.run_id}))
"""


def test_store_written_by_mlflow_opens_in_cairn(mlflow_python: Path, tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    ids = json.loads(run_mlflow(mlflow_python, MLFLOW_WRITER, str(root)))
    store = FileStore(str(root))

    experiment = store.get_experiment(ids["exp"])
    assert experiment.name == "compat"
    assert experiment.tags == {"team": "core"}
    assert store.get_experiment_by_name("gone").lifecycle_stage == "deleted"  # type: ignore[union-attr]

    run = store.get_run(ids["run"])
    assert run.info.run_name == "writer"
    assert run.info.status == "FINISHED"
    assert run.data.params == {"lr": "0.01", "layers": "3"}
    assert run.data.tags["note"] == "multi\nline"
    assert run.data.tags["mlflow.runName"] == "writer"
    assert math.isnan(run.data.metrics["loss"])  # the latest point: step 2
    assert run.data.metrics["acc/train/top1"] == 0.75
    history = store.get_metric_history(ids["run"], "loss")
    assert [(m.step, m.timestamp) for m in history] == [(0, 1000), (1, 1001), (2, 1002)]
    assert [m.value for m in history][:2] == [0.5, 0.25]
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "d"
    assert dataset_input.dataset.source_type == "s3"
    assert dataset_input.tags == [InputTag("mlflow.data.context", "training")]
    artifacts = Path(run.info.artifact_uri.removeprefix("file://"))  # type: ignore[union-attr]
    assert (artifacts / "artifact.txt").read_text() == "hello"

    assert store.get_run(ids["deleted_run"]).info.lifecycle_stage == "deleted"
    assert store.get_run(ids["gone_run"]).info.lifecycle_stage == "deleted"
    active = store.search_runs([ids["exp"]], "")
    assert [r.info.run_id for r in active] == [ids["run"]]
    found = store.search_runs([ids["exp"]], "metrics.`acc/train/top1` > 0.5 and params.lr = '0.01'")
    assert [r.info.run_id for r in found] == [ids["run"]]
    deleted = store.search_runs([ids["exp"], ids["gone_exp"]], "", ViewType.DELETED_ONLY)
    assert {r.info.run_id for r in deleted} == {ids["deleted_run"], ids["gone_run"]}
    assert set(store.deleted_experiment_ids()) == {ids["gone_exp"]}

    # and Cairn can keep writing into it
    store.restore_experiment(ids["gone_exp"])
    assert store.get_run(ids["gone_run"]).info.lifecycle_stage == "active"


MLFLOW_READER = """
import json, math, sys
from mlflow import MlflowClient
from mlflow.entities import ViewType

client = MlflowClient(sys.argv[1])

def metric(m):
    return [m.key, None if math.isnan(m.value) else m.value, m.timestamp, m.step]

def run_dump(run):
    return {
        "info": {k: getattr(run.info, k) for k in ("run_id", "experiment_id", "user_id", "status",
                 "start_time", "end_time", "lifecycle_stage", "artifact_uri", "run_name")},
        "params": run.data.params,
        "tags": run.data.tags,
        "metrics": {k: (None if math.isnan(v) else v) for k, v in run.data.metrics.items()},
        "inputs": [[d.dataset.name, d.dataset.digest, d.dataset.source_type, d.dataset.source,
                    d.dataset.schema, d.dataset.profile, {t.key: t.value for t in d.tags}]
                   for d in run.inputs.dataset_inputs],
    }

exps = client.search_experiments(view_type=ViewType.ALL)
out = {
    "experiments": sorted(
        [[e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage, e.tags,
          e.creation_time, e.last_update_time] for e in exps]),
    "runs": {},
    "histories": {},
}
for e in exps:
    for run in client.search_runs([e.experiment_id], run_view_type=ViewType.ALL):
        out["runs"][run.info.run_id] = run_dump(run)
        for key in run.data.metrics:
            out["histories"][run.info.run_id + "|" + key] = [
                metric(m) for m in client.get_metric_history(run.info.run_id, key)]
print(json.dumps(out, sort_keys=True))
"""


def _cairn_dump(store: FileStore) -> dict[str, object]:
    def nan_free(value: float) -> float | None:
        return None if math.isnan(value) else value

    experiments = store.search_experiments(view_type=ViewType.ALL)
    out: dict[str, object] = {
        "experiments": sorted(
            [
                [
                    e.experiment_id,
                    e.name,
                    e.artifact_location,
                    e.lifecycle_stage,
                    e.tags,
                    e.creation_time,
                    e.last_update_time,
                ]
                for e in experiments
            ]
        ),
    }
    runs: dict[str, object] = {}
    histories: dict[str, object] = {}
    for e in experiments:
        for run in store.search_runs([e.experiment_id], "", ViewType.ALL):
            info = run.info
            runs[info.run_id] = {  # type: ignore[index]
                "info": {
                    "run_id": info.run_id,
                    "experiment_id": info.experiment_id,
                    "user_id": info.user_id,
                    "status": info.status,
                    "start_time": info.start_time,
                    "end_time": info.end_time,
                    "lifecycle_stage": info.lifecycle_stage,
                    "artifact_uri": info.artifact_uri,
                    "run_name": info.run_name,
                },
                "params": run.data.params,
                "tags": run.data.tags,
                "metrics": {k: nan_free(v) for k, v in run.data.metrics.items()},
                "inputs": [
                    [
                        d.dataset.name,
                        d.dataset.digest,
                        d.dataset.source_type,
                        d.dataset.source,
                        d.dataset.schema,
                        d.dataset.profile,
                        {t.key: t.value for t in d.tags},
                    ]
                    for d in run.inputs.dataset_inputs
                ],
            }
            for key in run.data.metrics:
                histories[f"{info.run_id}|{key}"] = [
                    [m.key, nan_free(m.value), m.timestamp, m.step]
                    for m in store.get_metric_history(info.run_id, key)
                ]
    out["runs"] = runs
    out["histories"] = histories
    return json.loads(json.dumps(out, sort_keys=True))  # type: ignore[no-any-return]


def _write_with_cairn(root: Path) -> FileStore:
    store = FileStore(str(root))
    exp_id = store.create_experiment("from-cairn", tags=[ExperimentTag("owner", "ünïcode")])
    run = store.create_run(exp_id, "alice", 1000, [RunTag("team", "a")], "first")
    store.log_batch(
        run.info.run_id,
        metrics=[
            Metric("loss", 0.5, 10, 0),
            Metric("loss", 0.25, 11, 1),
            Metric("loss", float("nan"), 12, 2),
            Metric("nested/deep/acc", 1e-05, 13, 0),
            Metric("big", float("inf"), 14, 3),
        ],
        params=[Param("lr", "0.1"), Param("path/like", "x y")],
        tags=[RunTag("mlflow.user", "alice"), RunTag("multi", "a\nb")],
    )
    store.log_inputs(
        run.info.run_id,
        [
            DatasetInput(
                Dataset("ds", "abc123", "local", '{"uri": "/data"}', '{"cols": []}', None),
                [InputTag("mlflow.data.context", "eval")],
            )
        ],
    )
    store.update_run_info(run.info.run_id, RunStatus.FINISHED, 2000, None)
    renamed = store.create_run(exp_id, "bob", 1500, [], None)
    store.update_run_info(renamed.info.run_id, None, None, "renamed")
    doomed = store.create_run(exp_id, "carol", 1600, [], "doomed")
    store.delete_run(doomed.info.run_id)
    trash_exp = store.create_experiment("trashed")
    store.create_run(trash_exp, "dave", 1700, [], "in-trash")
    store.delete_experiment(trash_exp)
    store.create_run("0", "eve", 1800, [], "default-run")
    return store


def test_store_written_by_cairn_opens_in_mlflow(mlflow_python: Path, tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    store = _write_with_cairn(root)
    mlflow_view = json.loads(run_mlflow(mlflow_python, MLFLOW_READER, str(root)))
    cairn_view = _cairn_dump(store)
    assert mlflow_view["experiments"] == cairn_view["experiments"]
    assert mlflow_view["histories"] == cairn_view["histories"]
    assert mlflow_view["runs"] == cairn_view["runs"]
    assert len(mlflow_view["runs"]) == 5


MLFLOW_WRITES_MORE = """
import sys
from mlflow import MlflowClient
client = MlflowClient(sys.argv[1])
exp = client.get_experiment_by_name("from-cairn")
run = client.create_run(exp.experiment_id, run_name="added-by-mlflow")
client.log_metric(run.info.run_id, "loss", 0.01, step=5)
client.log_param(run.info.run_id, "lr", "0.5")
client.set_terminated(run.info.run_id)
print(run.info.run_id)
"""


def test_runs_added_by_mlflow_after_indexing_are_found(mlflow_python: Path, tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    store = _write_with_cairn(root)
    exp_id = store.get_experiment_by_name("from-cairn").experiment_id  # type: ignore[union-attr]
    assert len(store.search_runs([exp_id], "params.lr = '0.5'")) == 0  # builds the index
    new_run = run_mlflow(mlflow_python, MLFLOW_WRITES_MORE, str(root)).strip()
    found = store.search_runs([exp_id], "params.lr = '0.5' and metrics.loss < 0.1")
    assert [r.info.run_id for r in found] == [new_run]
    assert found[0].info.status == "FINISHED"
    # a fresh process (a new store object) agrees
    again = FileStore(str(root)).search_runs([exp_id], "params.lr = '0.5'")
    assert [r.info.run_id for r in again] == [new_run]


MLFLOW_APPENDER = """
import sys
from mlflow import MlflowClient

client = MlflowClient(sys.argv[1])
run_id = sys.argv[2]
client.log_metric(run_id, "loss", 0.1, timestamp=2000, step=1)
client.log_metric(run_id, "acc", 0.9, timestamp=2000, step=1)
client.set_tag(run_id, "stage", "tuned")
if sys.argv[3] == "end":
    client.set_terminated(run_id, "FINISHED")
"""


@pytest.mark.parametrize("state", ["running", "finished"])
# Appending changes no directory mtime: the index must still notice (issue 3).
def test_points_mlflow_appends_to_an_indexed_run_show_in_search(
    mlflow_python: Path, tmp_path: Path, state: str
) -> None:
    root = tmp_path / "mlruns"
    store = FileStore(str(root))
    exp_id = store.create_experiment("fresh")
    run_id = store.create_run(exp_id, "u", 1000, [], "r").info.run_id
    store.log_batch(run_id, metrics=[Metric("loss", 1.0, 1000, 0)])
    if state == "finished":
        store.update_run_info(run_id, RunStatus.FINISHED, 1500, None)
    assert store.search_runs([exp_id], "metrics.loss < 0.5") == []  # indexed now

    run_mlflow(mlflow_python, MLFLOW_APPENDER, str(root), run_id, "end")

    (found,) = store.search_runs([exp_id], "metrics.loss < 0.5 and metrics.acc > 0.5")
    assert found.info.run_id == run_id
    assert found.data.metrics == {"loss": 0.1, "acc": 0.9}
    assert found.data.tags["stage"] == "tuned"
    assert found.info.status == "FINISHED"
    ordered = store.search_runs([exp_id], "", order_by=["metrics.loss ASC"])
    assert [r.info.run_id for r in ordered] == [run_id]
