"""``cairn runs``: list, describe, delete and restore runs."""

from __future__ import annotations

from typing import Any

import click

from cairn.cli.options import view_option
from cairn.cli.output import echo_json, echo_table, format_millis
from cairn.entities import Run, ViewType
from cairn.tracking.client import MlflowClient

_RUN_ID = click.option("--run-id", required=True, help="Id of the run.")


@click.group("runs")
def runs() -> None:
    """List, describe, delete and restore runs.

    The tracking store is CAIRN_TRACKING_URI (or MLFLOW_TRACKING_URI), else ./mlruns.
    """


@runs.command("list")
@click.option("--experiment-id", required=True, help="Id of the experiment whose runs to list.")
@view_option("runs")
def list_runs(experiment_id: str, view_type: ViewType) -> None:
    """List the runs of an experiment, newest first."""
    client = MlflowClient()
    found: list[Run] = []
    token: str | None = None
    while True:
        page = client.search_runs([experiment_id], run_view_type=view_type, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            break
    echo_table(
        ["Date", "Name", "ID", "Status"],
        [
            (format_millis(r.info.start_time), r.info.run_name, r.info.run_id, r.info.status)
            for r in found
        ],
    )


@runs.command("describe")
@_RUN_ID
def describe(run_id: str) -> None:
    """Print a run (info, params, metrics, tags, inputs) as JSON."""
    echo_json(run_as_dict(MlflowClient().get_run(run_id)))


@runs.command("delete")
@_RUN_ID
def delete(run_id: str) -> None:
    """Mark a run deleted; ``restore`` brings it back until ``cairn gc`` removes it."""
    MlflowClient().delete_run(run_id)
    click.echo(f"Run with id {run_id} has been deleted.")


@runs.command("restore")
@_RUN_ID
def restore(run_id: str) -> None:
    """Restore a deleted run."""
    MlflowClient().restore_run(run_id)
    click.echo(f"Run with id {run_id} has been restored.")


def run_as_dict(run: Run) -> dict[str, Any]:
    """A run in the JSON shape MLflow's ``runs describe`` prints."""
    info = run.info
    return {
        "info": {
            "artifact_uri": info.artifact_uri,
            "end_time": info.end_time,
            "experiment_id": info.experiment_id,
            "lifecycle_stage": info.lifecycle_stage,
            "run_id": info.run_id,
            "run_name": info.run_name,
            "start_time": info.start_time,
            "status": info.status,
            "user_id": info.user_id,
        },
        "data": {
            "metrics": dict(run.data.metrics),
            "params": dict(run.data.params),
            "tags": dict(run.data.tags),
        },
        "inputs": {
            "dataset_inputs": [
                {
                    "dataset": {
                        "name": d.dataset.name,
                        "digest": d.dataset.digest,
                        "source_type": d.dataset.source_type,
                        "source": d.dataset.source,
                        "schema": d.dataset.schema,
                        "profile": d.dataset.profile,
                    },
                    "tags": [{"key": t.key, "value": t.value} for t in d.tags],
                }
                for d in run.inputs.dataset_inputs
            ]
        },
    }
