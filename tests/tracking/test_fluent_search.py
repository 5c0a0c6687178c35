"""Fluent search_runs: MLflow's DataFrame shape, list output, experiment selection."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import cairn
from cairn.entities import Run

_INFO_COLUMNS = ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]


@pytest.mark.usefixtures("tracking_uri")
def test_dataframe_columns_and_values() -> None:
    with cairn.start_run(run_name="a") as first:
        cairn.log_param("lr", 0.001)
        cairn.log_metric("val_loss", 0.5)
        cairn.set_tag("t", "x")
    with cairn.start_run() as second:
        pass
    df = cairn.search_runs()
    assert list(df.columns[:6]) == _INFO_COLUMNS
    assert {"metrics.val_loss", "params.lr", "tags.t", "tags.mlflow.runName"} <= set(df.columns)
    assert str(df["start_time"].dtype).startswith("datetime64")
    assert str(df["start_time"].dt.tz) == "UTC"
    assert df["metrics.val_loss"].dtype == "float64"

    by_id = df.set_index("run_id")
    assert list(df["run_id"]) == [second.info.run_id, first.info.run_id]  # newest first
    row = by_id.loc[first.info.run_id]
    assert row["params.lr"] == "0.001"
    assert row["metrics.val_loss"] == 0.5
    assert row["status"] == "FINISHED"
    assert row["experiment_id"] == "0"
    stored = cairn.get_run(first.info.run_id)
    assert row["start_time"] == pd.Timestamp(stored.info.start_time, unit="ms", tz="UTC")
    other = by_id.loc[second.info.run_id]
    assert pd.isna(other["metrics.val_loss"])
    assert pd.isna(other["params.lr"])
    assert pd.isna(other["tags.t"])


@pytest.mark.usefixtures("tracking_uri")
def test_empty_result_has_the_info_columns() -> None:
    df = cairn.search_runs(filter_string="tags.none = 'x'")
    assert list(df.columns) == _INFO_COLUMNS
    assert len(df) == 0


@pytest.mark.usefixtures("tracking_uri")
def test_list_output_filter_and_order() -> None:
    for loss in (0.3, 0.1, 0.2):
        with cairn.start_run():
            cairn.log_metric("loss", loss)
    runs = cairn.search_runs(
        filter_string="metrics.loss > 0.15", order_by=["metrics.loss DESC"], output_format="list"
    )
    assert all(isinstance(r, Run) for r in runs)
    assert [r.data.metrics["loss"] for r in runs] == [0.3, 0.2]
    assert len(cairn.search_runs(max_results=2, output_format="list")) == 2
    with pytest.raises(ValueError, match="Unsupported output format"):
        cairn.search_runs(output_format="csv")  # type: ignore[arg-type]


@pytest.mark.usefixtures("tracking_uri")
def test_experiment_selection() -> None:
    a = cairn.create_experiment("A")
    b = cairn.create_experiment("B")
    for exp_id in (a, b, b):
        with cairn.start_run(experiment_id=exp_id):
            pass
    assert len(cairn.search_runs([a])) == 1
    assert len(cairn.search_runs(experiment_names=["B"])) == 2
    assert len(cairn.search_runs(experiment_names=["missing"])) == 0
    assert len(cairn.search_runs()) == 0  # the Default experiment has none
    assert len(cairn.search_runs(search_all_experiments=True)) == 3
    cairn.set_experiment("A")
    assert len(cairn.search_runs()) == 1
    with pytest.raises(cairn.MlflowException):
        cairn.search_runs([a], experiment_names=["B"])


@pytest.mark.usefixtures("tracking_uri")
def test_paging_collects_every_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from cairn.tracking import fluent

    monkeypatch.setattr(fluent, "_RUNS_PER_PAGE", 2)
    ids = set()
    for _ in range(5):
        with cairn.start_run() as run:
            ids.add(run.info.run_id)
    assert set(cairn.search_runs()["run_id"]) == ids
    assert len(cairn.search_runs(max_results=3, output_format="list")) == 3


_SHAPE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import {module} as mlflow
    mlflow.set_tracking_uri(sys.argv[1])
    with mlflow.start_run(run_name="a"):
        mlflow.log_param("lr", 0.001)
        mlflow.log_metric("val_loss", 0.5)
        mlflow.set_tag("t", "x")
    with mlflow.start_run():
        pass
    full = mlflow.search_runs()
    empty = mlflow.search_runs(filter_string="tags.none = 'x'")
    print(json.dumps({{
        "columns": sorted(full.columns),
        "first": list(full.columns[:6]),
        "dtypes": {{c: str(t) for c, t in full.dtypes.items()}},
        "empty": list(empty.columns),
        "empty_dtypes": {{c: str(t) for c, t in empty.dtypes.items()}},
    }}))
    """
)


def _shape(python: str, module: str, workdir: Path) -> dict[str, object]:
    script = workdir / f"shape_{module}.py"
    script.write_text(_SHAPE_SCRIPT.format(module=module))
    db = f"sqlite:///{workdir / (module + '.db')}"
    done = subprocess.run(
        [python, str(script), db], capture_output=True, text=True, cwd=workdir, timeout=300
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.mlflow
@pytest.mark.slow
def test_dataframe_shape_matches_mlflow(mlflow_python: Path, tmp_path: Path) -> None:
    ours = _shape(sys.executable, "cairn", tmp_path)
    theirs = _shape(str(mlflow_python), "mlflow", tmp_path)
    assert ours == theirs
