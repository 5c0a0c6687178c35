"""``cairn gc``: permanently remove deleted runs and experiments, with their artifacts.

``collect_garbage`` is a plain function over a tracking store so that scripts and the
command line share one implementation.

What is removed:
- with neither ``run_ids`` nor ``experiment_ids``: every deleted run and every deleted
  experiment (only those deleted at least ``older_than_ms`` ago, when given);
- with ``run_ids``: those runs, each of which must be deleted (and old enough);
- with ``experiment_ids``: those experiments, each of which must be deleted (and old
  enough), together with all their runs.
Every named run and experiment is checked before anything is removed, so a bad id
removes nothing.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import click

from cairn.cli.options import comma_list, duration_callback
from cairn.entities import LifecycleStage, ViewType
from cairn.exceptions import InvalidParameterValue, MlflowException
from cairn.store.tracking import TrackingStore

_PROXY_SCHEME = "mlflow-artifacts:"


@dataclass
class GcReport:
    """What one garbage collection removed."""

    run_ids: list[str] = field(default_factory=list)
    experiment_ids: list[str] = field(default_factory=list)
    # run id -> why its artifacts could not be removed (its data was removed anyway)
    artifact_failures: dict[str, str] = field(default_factory=dict)


def collect_garbage(
    store: TrackingStore,
    older_than_ms: int | None = None,
    run_ids: Sequence[str] = (),
    experiment_ids: Sequence[str] = (),
    *,
    artifacts_destination: str | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> GcReport:
    """Permanently delete deleted runs and experiments, and their runs' artifacts.

    Args:
        store: the tracking store to clean.
        older_than_ms: only what was deleted at least this many milliseconds ago.
        run_ids: remove exactly these deleted runs (see the module docstring).
        experiment_ids: remove exactly these deleted experiments and all their runs.
        artifacts_destination: where a tracking server stores proxied
            (``mlflow-artifacts:/``) artifacts, so that they can be found and removed.
        on_progress: called with a line of text after each removal.

    Raises:
        ResourceDoesNotExist: a named run or experiment does not exist.
        InvalidParameterValue: a named run or experiment is not deleted, or too recent.
    """
    say = on_progress or (lambda _line: None)
    target_experiments = _experiments_to_remove(store, older_than_ms, run_ids, experiment_ids)
    target_runs = _runs_to_remove(store, older_than_ms, run_ids, experiment_ids)
    target_runs += [r for r in _runs_of(store, target_experiments) if r not in target_runs]

    report = GcReport()
    for run_id in target_runs:
        # Artifacts go first: if their removal fails hard, the run is still listed as
        # deleted and a later gc can retry, instead of leaving files nobody knows about.
        failure = _delete_artifacts(store, run_id, artifacts_destination)
        if failure:
            report.artifact_failures[run_id] = failure
            say(f"Could not delete the artifacts of run {run_id}: {failure}")
        store.hard_delete_run(run_id)
        report.run_ids.append(run_id)
        say(f"Run with id {run_id} has been permanently deleted.")
    for experiment_id in target_experiments:
        store.hard_delete_experiment(experiment_id)
        report.experiment_ids.append(experiment_id)
        say(f"Experiment with id {experiment_id} has been permanently deleted.")
    return report


def _experiments_to_remove(
    store: TrackingStore,
    older_than_ms: int | None,
    run_ids: Sequence[str],
    experiment_ids: Sequence[str],
) -> list[str]:
    if not experiment_ids:
        return [] if run_ids else list(store.deleted_experiment_ids(older_than_ms))
    old_enough = set(store.deleted_experiment_ids(older_than_ms))
    for experiment_id in experiment_ids:
        experiment = store.get_experiment(experiment_id)
        if experiment.lifecycle_stage != LifecycleStage.DELETED:
            raise InvalidParameterValue(
                f"Experiment {experiment_id} is not deleted; only deleted experiments can be "
                "removed permanently. Delete it first."
            )
        if experiment_id not in old_enough:
            raise InvalidParameterValue(
                f"Experiment {experiment_id} was deleted too recently for --older-than."
            )
    return list(dict.fromkeys(experiment_ids))


def _runs_to_remove(
    store: TrackingStore,
    older_than_ms: int | None,
    run_ids: Sequence[str],
    experiment_ids: Sequence[str],
) -> list[str]:
    if not run_ids:
        return [] if experiment_ids else list(store.deleted_run_ids(older_than_ms))
    old_enough = set(store.deleted_run_ids(older_than_ms))
    for run_id in run_ids:
        run = store.get_run(run_id)
        if run.info.lifecycle_stage != LifecycleStage.DELETED:
            raise InvalidParameterValue(
                f"Run {run_id} is not deleted; only deleted runs can be removed permanently. "
                "Delete it first."
            )
        if run_id not in old_enough:
            raise InvalidParameterValue(f"Run {run_id} was deleted too recently for --older-than.")
    return list(dict.fromkeys(run_ids))


def _runs_of(store: TrackingStore, experiment_ids: Sequence[str]) -> list[str]:
    """Every run of these experiments, active or not: they go with their experiment."""
    if not experiment_ids:
        return []
    found: list[str] = []
    token: str | None = None
    while True:
        page = store.search_runs(list(experiment_ids), run_view_type=ViewType.ALL, page_token=token)
        found.extend(run.info.run_uuid for run in page)
        token = page.token
        if not token:
            return found


def _delete_artifacts(
    store: TrackingStore, run_id: str, artifacts_destination: str | None
) -> str | None:
    """Remove a run's artifacts; returns why not when its location cannot be used."""
    from cairn.artifacts.registry import get_artifact_repository

    artifact_uri = store.get_run(run_id).info.artifact_uri
    if not artifact_uri:
        return None
    if artifact_uri.startswith(_PROXY_SCHEME):
        if artifacts_destination is None:
            return (
                f"'{artifact_uri}' is served by a tracking server; pass "
                "--artifacts-destination to remove it"
            )
        relative = artifact_uri[len(_PROXY_SCHEME) :].lstrip("/")
        artifact_uri = posixpath.join(artifacts_destination.rstrip("/"), relative)
    try:
        get_artifact_repository(artifact_uri).delete_artifacts()
    except MlflowException as exc:
        # An unusable location (unknown scheme, bad URI) must not block removing the data.
        return exc.message
    except ImportError as exc:
        return f"the filesystem library for '{artifact_uri}' is not installed ({exc})"
    return None


@click.command("gc")
@click.option(
    "--older-than",
    callback=duration_callback,
    default=None,
    help="Only what was deleted at least this long ago, as #d#h#m#s (e.g. 30d, 1d2h3m4s, 1.5h).",
)
@click.option(
    "--backend-store-uri",
    default=None,
    help="The tracking store to clean: a database URL or a local directory. Defaults to "
    "CAIRN_TRACKING_URI, then MLFLOW_TRACKING_URI, then ./mlruns.",
)
@click.option(
    "--artifacts-destination",
    default=None,
    help="The root where a tracking server stores proxied artifacts "
    "(its --artifacts-destination), to remove runs' mlflow-artifacts:/ files.",
)
@click.option("--run-ids", default=None, help="Comma-separated ids of deleted runs to remove.")
@click.option(
    "--experiment-ids",
    default=None,
    help="Comma-separated ids of deleted experiments to remove with all their runs.",
)
def gc(
    older_than: int | None,
    backend_store_uri: str | None,
    artifacts_destination: str | None,
    run_ids: str | None,
    experiment_ids: str | None,
) -> None:
    """Permanently remove deleted runs and experiments.

    The runs' artifacts are removed too. Without --run-ids or --experiment-ids, everything in the deleted state is removed.
    This cannot be undone.
    """
    from cairn.store.registry import create_tracking_store
    from cairn.tracking.uri import resolve_tracking_uri

    store = create_tracking_store(resolve_tracking_uri(backend_store_uri))
    report = collect_garbage(
        store,
        older_than,
        comma_list(run_ids),
        comma_list(experiment_ids),
        artifacts_destination=artifacts_destination,
        on_progress=click.echo,
    )
    if not report.run_ids and not report.experiment_ids:
        click.echo("Nothing to delete.")
