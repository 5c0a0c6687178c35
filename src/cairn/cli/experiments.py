"""``cairn experiments``: create, list, rename, delete and restore experiments."""

from __future__ import annotations

import click

from cairn.cli.options import view_option
from cairn.cli.output import echo_table
from cairn.entities import Experiment, ViewType
from cairn.tracking.client import MlflowClient

_EXPERIMENT_ID = click.option("-x", "--experiment-id", required=True, help="Id of the experiment.")


@click.group("experiments")
def experiments() -> None:
    """Create, list, rename, delete and restore experiments.

    The tracking store is CAIRN_TRACKING_URI (or MLFLOW_TRACKING_URI), else ./mlruns.
    """


@experiments.command("create")
@click.option("-n", "--experiment-name", required=True, help="Name of the new experiment.")
@click.option(
    "-l",
    "--artifact-location",
    default=None,
    help="Where the experiment's runs store artifacts ($location/<run_id>/artifacts). "
    "The store's default root when omitted.",
)
def create(experiment_name: str, artifact_location: str | None) -> None:
    """Create an experiment."""
    experiment_id = MlflowClient().create_experiment(experiment_name, artifact_location)
    click.echo(f"Created experiment '{experiment_name}' with id {experiment_id}")


@experiments.command("search")
@view_option("experiments")
@click.option(
    "--max-results", type=click.IntRange(min=1), default=None, help="Show at most this many."
)
def search(view_type: ViewType, max_results: int | None) -> None:
    """List experiments."""
    client = MlflowClient()
    found: list[Experiment] = []
    token: str | None = None
    while max_results is None or len(found) < max_results:
        page_size = 1000 if max_results is None else min(1000, max_results - len(found))
        page = client.search_experiments(view_type, page_size, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            break
    echo_table(
        ["Experiment Id", "Name", "Artifact Location"],
        [(e.experiment_id, e.name, e.artifact_location) for e in found],
    )


@experiments.command("rename")
@_EXPERIMENT_ID
@click.option("--new-name", required=True, help="The experiment's new name.")
def rename(experiment_id: str, new_name: str) -> None:
    """Rename an active experiment."""
    MlflowClient().rename_experiment(experiment_id, new_name)
    click.echo(f"Experiment with id {experiment_id} has been renamed to '{new_name}'.")


@experiments.command("delete")
@_EXPERIMENT_ID
def delete(experiment_id: str) -> None:
    """Mark an experiment and its runs deleted.

    A deleted experiment can be brought back with ``restore`` until ``cairn gc``
    removes it for good.
    """
    MlflowClient().delete_experiment(experiment_id)
    click.echo(f"Experiment with id {experiment_id} has been deleted.")


@experiments.command("restore")
@_EXPERIMENT_ID
def restore(experiment_id: str) -> None:
    """Restore a deleted experiment and the runs deleted with it."""
    MlflowClient().restore_experiment(experiment_id)
    click.echo(f"Experiment with id {experiment_id} has been restored.")
