"""The tracking store interface: persistence of experiments, runs and their data.

Every backend (SQL, the ``mlruns`` directory, REST) implements this one Protocol and
passes the same contract suite (``tests/store/contract``). Conveniences such as
``log_metric`` or ``set_tag`` live in the client as calls to ``log_batch``, so each
backend writes data in exactly one place.

Conventions every backend follows:
- Missing experiments or runs raise ``ResourceDoesNotExist``; bad input raises
  ``InvalidParameterValue`` (rules in ``cairn.validation``) and changes nothing.
- Writes to a deleted run or experiment raise ``InvalidParameterValue``.
- Setting the ``mlflow.runName`` tag renames the run, and renaming a run sets the tag.
- ``search_*`` return a ``PagedList`` whose ``token`` fetches the next page.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from cairn.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from cairn.validation import SEARCH_MAX_RESULTS_DEFAULT


@runtime_checkable
class TrackingStore(Protocol):
    """Persistence of experiments, runs and their data."""

    # -- experiments -------------------------------------------------------------------
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[ExperimentTag] = ()
    ) -> str:
        """Create an experiment and return its id.

        Raises ResourceAlreadyExists if the name is taken (by an active or deleted one).
        """
        ...

    def get_experiment(self, experiment_id: str) -> Experiment: ...

    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None: ...

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]: ...

    def rename_experiment(self, experiment_id: str, new_name: str) -> None: ...

    def delete_experiment(self, experiment_id: str) -> None:
        """Mark the experiment and its active runs deleted (recoverable until ``gc``)."""
        ...

    def restore_experiment(self, experiment_id: str) -> None: ...

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None: ...

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None: ...

    # -- runs --------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int | None,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run: ...

    def get_run(self, run_id: str) -> Run: ...

    def update_run_info(
        self,
        run_id: str,
        run_status: RunStatus | None,
        end_time: int | None,
        run_name: str | None,
    ) -> RunInfo:
        """Change what is given (None leaves a field as it is) and return the new info."""
        ...

    def delete_run(self, run_id: str) -> None: ...

    def restore_run(self, run_id: str) -> None: ...

    def delete_tag(self, run_id: str, key: str) -> None: ...

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Write metrics, params and tags atomically: all of them or none."""
        ...

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput] = ()) -> None: ...

    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        """Every point of one metric, ordered by (step, timestamp), optionally paged."""
        ...

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]: ...

    # -- garbage collection ------------------------------------------------------------
    def deleted_run_ids(self, older_than_ms: int | None = None) -> list[str]:
        """Ids of deleted runs, only those deleted at least ``older_than_ms`` ago if given."""
        ...

    def hard_delete_run(self, run_id: str) -> None:
        """Erase a deleted run and all its data for good (artifacts are the caller's)."""
        ...

    def deleted_experiment_ids(self, older_than_ms: int | None = None) -> list[str]: ...

    def hard_delete_experiment(self, experiment_id: str) -> None: ...


def history_holds(store: TrackingStore, run_id: str, metrics: Sequence[Metric]) -> bool:
    """Whether every point of ``metrics`` is already in the run's metric histories.

    How a writer whose ``log_batch`` may or may not have been applied (its answer was
    lost) tells which: a SQL store applies a batch whole or not at all. The blind spot: a
    point logged before with the same key, value, timestamp and step counts as there.
    """
    wanted: Counter[tuple[str, str, int, int]] = Counter(map(_point, metrics))
    for key in dict.fromkeys(metric.key for metric in metrics):
        stored = _stored_points(store, run_id, key)
        if any(stored[point] < n for point, n in wanted.items() if point[0] == key):
            return False  # a batch that never arrived shows at its first key
    return bool(metrics)


def missing_points(store: TrackingStore, run_id: str, metrics: Sequence[Metric]) -> list[Metric]:
    """The points of ``metrics`` not yet in the run's metric histories, in their order.

    An ``mlruns`` store writes a batch one file at a time, so a server that died in the
    middle of one may have kept some of its keys' points and not the others'."""
    stored: Counter[tuple[str, str, int, int]] = Counter()
    for key in dict.fromkeys(metric.key for metric in metrics):
        stored.update(_stored_points(store, run_id, key))
    missing = []
    for metric in metrics:
        point = _point(metric)
        if stored[point]:
            stored[point] -= 1
        else:
            missing.append(metric)
    return missing


def _stored_points(
    store: TrackingStore, run_id: str, key: str
) -> Counter[tuple[str, str, int, int]]:
    return Counter(map(_point, store.get_metric_history(run_id, key)))


def _point(metric: Metric) -> tuple[str, str, int, int]:
    # repr makes NaN equal to itself and keeps 0.1 and 0.1000000001 apart
    return (metric.key, repr(float(metric.value)), int(metric.timestamp), int(metric.step))
