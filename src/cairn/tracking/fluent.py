"""MLflow's fluent API: an active run per thread, and module-level logging functions.

``with cairn.start_run(): cairn.log_metric("loss", 0.1)`` behaves as in MLflow. Each
thread has its own stack of active runs (nested runs push onto it); the active
experiment is process-wide, as in MLflow. Every call builds on ``MlflowClient``.
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from cairn import env, validation
from cairn.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    LifecycleStage,
    Metric,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from cairn.exceptions import InvalidParameterValue, MlflowException
from cairn.tracking import batching, context
from cairn.tracking.client import MlflowClient, metric_from_value, now_millis
from cairn.tracking.uri import (
    export_setting,
    get_registry_uri,
    get_tracking_uri,
    is_tracking_uri_set,
    set_registry_uri,
    set_tracking_uri,
)

if TYPE_CHECKING:
    import pandas

_logger = logging.getLogger(__name__)

DEFAULT_EXPERIMENT_ID = "0"
SEARCH_MAX_RESULTS_PANDAS = 100000
_RUNS_PER_PAGE = 10000  # fluent search_runs pages through the store in steps this big


class _ThreadState(threading.local):
    """Per-thread run state: the active-run stack and the last run that ended."""

    def __init__(self) -> None:
        self.stack: list[ActiveRun] = []
        self.last_run_id: str | None = None


_state = _ThreadState()
_clients: dict[str, MlflowClient] = {}


def _client() -> MlflowClient:
    """The client of the tracking URI in effect; one per URI, as a logging loop calls it
    for every point (clients hold no per-call state)."""
    tracking_uri = get_tracking_uri()
    client = _clients.get(tracking_uri)
    if client is None:
        client = _clients[tracking_uri] = MlflowClient(tracking_uri)
    return client


_experiment_lock = threading.Lock()
_active_experiment_id: str | None = None


class ActiveRun(Run):
    """The run ``start_run`` returns; as a context manager it ends the run on exit.

    Leaving the ``with`` block normally marks the run FINISHED, leaving it through an
    exception marks it FAILED (and the exception propagates).
    """

    def __init__(self, run: Run) -> None:
        Run.__init__(self, run.info, run.data, run.inputs)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> bool:
        # The run may already have been ended (or ended and resumed) inside the block;
        # only end it if it is still on this thread's stack.
        if any(r.info.run_id == self.info.run_id for r in _state.stack):
            end_run("FINISHED" if exc_type is None else "FAILED")
        return exc_type is None


# -- experiments -----------------------------------------------------------------------
def create_experiment(
    name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
) -> str:
    """Create an experiment and return its id."""
    return _client().create_experiment(name, artifact_location, tags)


def set_experiment(
    experiment_name: str | None = None, experiment_id: str | None = None
) -> Experiment:
    """Make an experiment the active one, creating it (by name) if it does not exist.

    Raises:
        InvalidParameterValue: neither or both arguments given, or the experiment is deleted.
        ResourceDoesNotExist: no experiment has ``experiment_id``.
    """
    global _active_experiment_id
    if (experiment_name is None) == (experiment_id is None):
        raise InvalidParameterValue(
            "Must specify exactly one of: `experiment_id` or `experiment_name`."
        )
    client = _client()
    with _experiment_lock:
        if experiment_id is not None:
            experiment = client.get_experiment(str(experiment_id))
        else:
            experiment_name = str(experiment_name)
            found = client.get_experiment_by_name(experiment_name)
            if found is None:
                _logger.info("Experiment '%s' does not exist. Creating it.", experiment_name)
                try:
                    found = client.get_experiment(client.create_experiment(experiment_name))
                except MlflowException as exc:
                    # another process created it between our lookup and our create
                    found = client.get_experiment_by_name(experiment_name)
                    if found is None:
                        raise exc from None
            experiment = found
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidParameterValue(
                f"Cannot set a deleted experiment '{experiment.name}' as the active experiment. "
                "You can restore the experiment, or permanently delete the experiment to "
                "create a new one."
            )
        _active_experiment_id = experiment.experiment_id
        export_setting(env.EXPERIMENT_ID, experiment.experiment_id)
    return experiment


def _experiment_id_from_env() -> str | None:
    name, experiment_id = env.EXPERIMENT_NAME.get(), env.EXPERIMENT_ID.get()
    client = _client()
    if name:
        found = client.get_experiment_by_name(name)
        if found is None:
            return client.create_experiment(name)
        if experiment_id and experiment_id != found.experiment_id:
            raise InvalidParameterValue(
                f"The experiment id `{experiment_id}` from the environment does not match the "
                f"id `{found.experiment_id}` of experiment `{name}`."
            )
        return found.experiment_id
    if experiment_id:
        try:
            return client.get_experiment(experiment_id).experiment_id
        except MlflowException as exc:
            raise InvalidParameterValue(
                f"The experiment id `{experiment_id}` from the environment does not exist in "
                "the tracking store. Provide a valid experiment id."
            ) from exc
    return None


def _current_experiment_id() -> str:
    """The active experiment, else the one the environment names, else Default ("0")."""
    return _active_experiment_id or _experiment_id_from_env() or DEFAULT_EXPERIMENT_ID


def get_experiment(experiment_id: str) -> Experiment:
    """The experiment with this id; raises ``ResourceDoesNotExist`` if there is none."""
    return _client().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    """The experiment with this name, or None."""
    return _client().get_experiment_by_name(name)


def delete_experiment(experiment_id: str) -> None:
    _client().delete_experiment(experiment_id)


def restore_experiment(experiment_id: str) -> None:
    _client().restore_experiment(experiment_id)


def search_experiments(
    view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
) -> list[Experiment]:
    """All matching experiments (up to ``max_results``), fetched page by page."""
    client = _client()
    found: list[Experiment] = []
    token: str | None = None
    while max_results is None or len(found) < max_results:
        want = validation.SEARCH_MAX_RESULTS_DEFAULT
        if max_results is not None:
            want = min(want, max_results - len(found))
        page = client.search_experiments(view_type, want, filter_string, order_by, token)
        found.extend(page)
        token = page.token
        if not token:
            break
    return found


def set_experiment_tag(key: str, value: Any) -> None:
    """Tag the current experiment."""
    _client().set_experiment_tag(_current_experiment_id(), key, value)


def set_experiment_tags(tags: dict[str, Any]) -> None:
    for key, value in tags.items():
        set_experiment_tag(key, value)


def delete_experiment_tag(key: str) -> None:
    _client().delete_experiment_tag(_current_experiment_id(), key)


# -- runs ------------------------------------------------------------------------------
def _tags_with_description(tags: dict[str, Any] | None, description: str | None) -> dict[str, Any]:
    merged = dict(tags or {})
    if description:
        if context.MLFLOW_RUN_NOTE in merged:
            raise InvalidParameterValue(
                f"Description is already set via the tag {context.MLFLOW_RUN_NOTE} in tags. "
                f"Remove the key {context.MLFLOW_RUN_NOTE} from the tags or omit the description."
            )
        merged[context.MLFLOW_RUN_NOTE] = description
    return merged


def _resume_run(
    client: MlflowClient,
    run_id: str,
    run_name: str | None,
    tags: dict[str, Any] | None,
    description: str | None,
) -> Run:
    validation.check_run_id(run_id)
    run = client.get_run(run_id)
    if _active_experiment_id is not None and _active_experiment_id != run.info.experiment_id:
        raise MlflowException(
            f"Cannot start run with ID {run_id} because active experiment ID does not match "
            "environment run ID. Make sure the experiment set with set_experiment() is the "
            "run's experiment."
        )
    if run.info.lifecycle_stage == LifecycleStage.DELETED:
        raise MlflowException(
            f"Cannot start run with ID {run_id} because it is in the deleted state."
        )
    client.update_run(run_id, RunStatus.to_string(RunStatus.RUNNING), run_name)
    extra = _tags_with_description(tags, description)
    if extra:
        client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in extra.items()])
    return client.get_run(run_id)


def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: dict[str, Any] | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start a new run, or resume ``run_id`` (or ``$MLFLOW_RUN_ID``), and make it active.

    Use it as a context manager to end the run automatically. Starting a run while one
    is active in this thread needs ``nested=True``; the new run records its parent in
    the ``mlflow.parentRunId`` tag. ``description`` becomes the ``mlflow.note.content`` tag.

    Raises:
        MlflowException: a run is already active and ``nested`` is False, or the run to
            resume is deleted or belongs to another experiment than the active one.
    """
    stack = _state.stack
    if isinstance(experiment_id, int):
        experiment_id = str(experiment_id)
    if stack and not nested:
        raise MlflowException(
            f"Run with UUID {stack[0].info.run_id} is already active. To start a new run, first "
            "end the current run with mlflow.end_run(). To start a nested run, call start_run "
            "with nested=True"
        )
    if log_system_metrics:
        _logger.warning("System metrics logging is not supported by Cairn yet; ignoring it.")
    client = _client()
    existing_run_id = run_id or env.RUN_ID.get()
    if not run_id and existing_run_id:
        export_setting(env.RUN_ID, None)  # the environment names a run to resume once, as in MLflow
    if existing_run_id:
        run = _resume_run(client, existing_run_id, run_name, tags, description)
    else:
        if parent_run_id:
            validation.check_run_id(parent_run_id)
            if stack and parent_run_id != stack[-1].info.run_id:
                raise MlflowException(
                    f"Current run with UUID {stack[-1].info.run_id} does not match the specified "
                    f"parent_run_id {parent_run_id}. To start a new nested run under the parent "
                    f"run with UUID {stack[-1].info.run_id}, first end the current run with "
                    "mlflow.end_run()."
                )
            if client.get_run(parent_run_id).info.lifecycle_stage == LifecycleStage.DELETED:
                raise MlflowException(
                    f"Cannot start run under parent run with ID {parent_run_id} because it is "
                    "in the deleted state."
                )
        elif stack:
            parent_run_id = stack[-1].info.run_id
        user_tags = _tags_with_description(tags, description)
        if parent_run_id:
            user_tags[context.MLFLOW_PARENT_RUN_ID] = parent_run_id
        if run_name:
            user_tags[context.MLFLOW_RUN_NAME] = run_name
        run = client.create_run(
            experiment_id if experiment_id is not None else _current_experiment_id(),
            tags=context.resolve_tags({k: str(v) for k, v in user_tags.items()}),
            run_name=run_name,
        )
    active = ActiveRun(run)
    stack.append(active)
    return active


def end_run(status: str = "FINISHED") -> None:
    """End this thread's innermost active run (if any) with ``status``."""
    stack = _state.stack
    if not stack:
        return
    try:
        RunStatus.from_string(status)
    except ValueError:
        raise InvalidParameterValue(f"Invalid run status '{status}'.") from None
    export_setting(env.RUN_ID, None)
    run_id = str(stack.pop().info.run_id)
    _state.last_run_id = run_id
    _client().set_terminated(run_id, status)


def _end_runs_at_exit() -> None:
    # A script that never called end_run still leaves its runs FINISHED, as MLflow does.
    while _state.stack:
        try:
            end_run()  # pops the run before anything in it can fail
        except Exception as error:
            # Exit cannot raise: say what failed (e.g. data the background could not log).
            print(f"cairn: {getattr(error, 'message', None) or error}", file=sys.stderr)


atexit.register(_end_runs_at_exit)


def active_run() -> ActiveRun | None:
    """This thread's innermost active run, or None."""
    return _state.stack[-1] if _state.stack else None


def last_active_run() -> Run | None:
    """The active run, else the last run this thread ended (fetched fresh), else None."""
    current = active_run()
    if current is not None:
        return current
    if _state.last_run_id is None:
        return None
    return get_run(_state.last_run_id)


def _get_or_start_run() -> ActiveRun:
    return _state.stack[-1] if _state.stack else start_run()


def _run_id(run_id: str | None = None) -> str:
    if run_id:
        return run_id
    return str(_get_or_start_run().info.run_id)


def get_run(run_id: str) -> Run:
    """The run with this id, with its latest data."""
    return _client().get_run(run_id)


def get_parent_run(run_id: str) -> Run | None:
    return _client().get_parent_run(run_id)


def delete_run(run_id: str) -> None:
    _client().delete_run(run_id)


def restore_run(run_id: str) -> None:
    _client().restore_run(run_id)


# -- logging to the active run ---------------------------------------------------------
def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    """Log a parameter to the active run (starting one if needed); returns ``value``."""
    return _client().log_param(_run_id(), key, value, synchronous)


def log_params(
    params: dict[str, Any], synchronous: bool | None = None, run_id: str | None = None
) -> None:
    """Log several parameters at once."""
    items = [Param(k, str(v)) for k, v in params.items()]
    _client().log_batch(_run_id(run_id), params=items, synchronous=synchronous)


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    synchronous: bool | None = None,
    timestamp: int | None = None,
    run_id: str | None = None,
) -> None:
    """Log one point of a metric to the active run (starting one if needed)."""
    _client().log_metric(_run_id(run_id), key, value, timestamp, step, synchronous)


def log_metrics(
    metrics: dict[str, float],
    step: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
    timestamp: int | None = None,
) -> None:
    """Log several metrics at one step and timestamp."""
    ts = now_millis() if timestamp is None else timestamp
    items: list[Metric] = [metric_from_value(k, v, ts, step) for k, v in metrics.items()]
    _client().log_batch(_run_id(run_id), metrics=items, synchronous=synchronous)


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> None:
    """Set a tag on the active run (starting one if needed)."""
    _client().set_tag(_run_id(), key, value, synchronous)


def set_tags(tags: dict[str, Any], synchronous: bool | None = None) -> None:
    items = [RunTag(k, str(v)) for k, v in tags.items()]
    _client().log_batch(_run_id(), tags=items, synchronous=synchronous)


def delete_tag(key: str) -> None:
    _client().delete_tag(_run_id(), key)


def flush(timeout: float | None = None) -> None:
    """Write everything logged in the background so far, to every run and store.

    Raises:
        AsyncLoggingError: some logged data could not be written; it names what failed.
        TimeoutError: ``timeout`` seconds passed before the queue was written.
    """
    batching.flush(timeout=timeout)
    offline = sys.modules.get("cairn.tracking.offline")  # loaded only for remote URIs
    if offline is not None:
        offline.flush_all()


def flush_async_logging() -> None:
    """MLflow's name for ``flush()``: wait for the background logger to write everything."""
    flush()


# -- datasets --------------------------------------------------------------------------
def _as_dataset_entity(dataset: Any) -> Dataset:
    """Accept Cairn's Dataset, MLflow's Dataset objects, or anything with their fields."""
    if isinstance(dataset, Dataset):
        return dataset
    to_entity = getattr(dataset, "_to_mlflow_entity", None)
    source_obj = to_entity() if callable(to_entity) else dataset
    try:
        name, digest = source_obj.name, source_obj.digest
        source_type, source = source_obj.source_type, source_obj.source
    except AttributeError as exc:
        raise InvalidParameterValue(
            f"Cannot log {type(dataset).__name__} as a dataset: it needs name, digest, "
            f"source_type and source ({exc})."
        ) from None
    if not isinstance(source, str):  # a source object, as MLflow's Dataset carries
        to_json = getattr(source, "to_json", None)
        source = to_json() if callable(to_json) else str(source)
    schema = getattr(source_obj, "schema", None)
    profile = getattr(source_obj, "profile", None)
    return Dataset(
        str(name),
        str(digest),
        str(source_type),
        source,
        None if schema is None else str(schema),
        None if profile is None else str(profile),
    )


def _dataset_input(
    dataset: Any, input_context: str | None, tags: dict[str, str] | None
) -> DatasetInput:
    input_tags = [InputTag(k, str(v)) for k, v in (tags or {}).items()]
    if input_context:
        input_tags.append(InputTag(context.MLFLOW_DATASET_CONTEXT, input_context))
    return DatasetInput(_as_dataset_entity(dataset), input_tags)


def log_input(
    dataset: Any = None,
    context: str | None = None,
    tags: dict[str, str] | None = None,
    model: Any = None,
) -> None:
    """Record a dataset the active run used; ``context`` (e.g. "training") becomes an input tag."""
    if dataset is None:
        if context or tags:
            raise InvalidParameterValue(
                "`dataset` must be specified if `context` or `tags` is specified."
            )
        return
    _client().log_inputs(_run_id(), [_dataset_input(dataset, context, tags)])


def log_inputs(
    datasets: Sequence[Any] | None = None,
    contexts: Sequence[str | None] | None = None,
    tags_list: Sequence[dict[str, str] | None] | None = None,
    models: Any = None,
) -> None:
    """Record several datasets at once; ``contexts`` and ``tags_list`` pair with them."""
    datasets = list(datasets or ())
    contexts = list(contexts) if contexts is not None else [None] * len(datasets)
    tags_list = list(tags_list) if tags_list is not None else [None] * len(datasets)
    if not len(datasets) == len(contexts) == len(tags_list):
        raise InvalidParameterValue("datasets, contexts and tags_list must have the same length.")
    inputs = [
        _dataset_input(d, c, t)
        for d, c, t in zip(datasets, contexts, tags_list, strict=True)
        if d is not None
    ]
    if inputs:
        _client().log_inputs(_run_id(), inputs)


# -- artifacts -------------------------------------------------------------------------
def log_artifact(
    local_path: str | Path, artifact_path: str | None = None, run_id: str | None = None
) -> None:
    """Upload a local file (or directory) into the active run's artifacts."""
    _client().log_artifact(_run_id(run_id), str(local_path), artifact_path)


def log_artifacts(
    local_dir: str | Path, artifact_path: str | None = None, run_id: str | None = None
) -> None:
    """Upload the contents of a local directory into the active run's artifacts."""
    _client().log_artifacts(_run_id(run_id), str(local_dir), artifact_path)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    _client().log_text(_run_id(run_id), text, artifact_file)


def log_dict(dictionary: dict[str, Any], artifact_file: str, run_id: str | None = None) -> None:
    _client().log_dict(_run_id(run_id), dictionary, artifact_file)


def log_figure(
    figure: Any,
    artifact_file: str,
    *,
    save_kwargs: dict[str, Any] | None = None,
) -> None:
    _client().log_figure(_run_id(), figure, artifact_file, save_kwargs=save_kwargs)


def log_image(
    image: Any,
    artifact_file: str | None = None,
    key: str | None = None,
    step: int | None = None,
    timestamp: int | None = None,
    synchronous: bool | None = False,
) -> None:
    _client().log_image(_run_id(), image, artifact_file, key, step, timestamp)


def log_table(data: Any, artifact_file: str, run_id: str | None = None) -> None:
    _client().log_table(_run_id(run_id), data, artifact_file)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    """The URI of the active run's artifact root, or of ``artifact_path`` under it."""
    if not _state.stack:
        _logger.warning(
            "No active run found. A new active run will be created. If this is not intended, "
            "please create a run using `mlflow.start_run()` first."
        )
    run = get_run(_run_id())
    root = run.info.artifact_uri or ""
    if not artifact_path:
        return root
    return root.rstrip("/") + "/" + artifact_path.lstrip("/")


# -- search ----------------------------------------------------------------------------
def search_runs(
    experiment_ids: list[str] | None = None,
    filter_string: str = "",
    run_view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int = SEARCH_MAX_RESULTS_PANDAS,
    order_by: list[str] | None = None,
    output_format: Literal["pandas", "list"] = "pandas",
    search_all_experiments: bool = False,
    experiment_names: list[str] | None = None,
) -> pandas.DataFrame | list[Run]:
    """All matching runs as a pandas DataFrame (MLflow's columns) or a list of Runs.

    Without ids or names it searches the current experiment (or every active one with
    ``search_all_experiments=True``).
    """
    if output_format not in ("pandas", "list"):
        raise ValueError(
            f"Unsupported output format: {output_format}. Supported string values are "
            "'pandas' or 'list'"
        )
    if experiment_ids and experiment_names:
        raise InvalidParameterValue(
            "Only experiment_ids or experiment_names can be used, but not both"
        )
    if isinstance(experiment_ids, (str, int)):
        experiment_ids = [str(experiment_ids)]
    if experiment_names:
        ids = []
        for name in experiment_names:
            found = get_experiment_by_name(name)
            if found is None:
                _logger.warning("Cannot retrieve experiment by name %s", name)
            else:
                ids.append(found.experiment_id)
    elif experiment_ids:
        ids = [str(e) for e in experiment_ids]
    elif search_all_experiments:
        ids = [e.experiment_id for e in search_experiments(ViewType.ACTIVE_ONLY)]
    else:
        ids = [_current_experiment_id()]
    runs: list[Run] = []
    if ids:
        client = _client()
        token: str | None = None
        while len(runs) < max_results:
            want = min(_RUNS_PER_PAGE, max_results - len(runs))
            page = client.search_runs(ids, filter_string, run_view_type, want, order_by, token)
            runs.extend(page)
            token = page.token
            if not token:
                break
    if output_format == "list":
        return runs
    from cairn.tracking.dataframe import runs_to_dataframe

    return runs_to_dataframe(runs)


def autolog(*args: Any, **kwargs: Any) -> None:
    """Accepted for compatibility: Cairn has no autologging integrations yet.

    It logs a warning (unless called with ``silent=True`` or ``disable=True``) and
    changes nothing; runs still need explicit ``log_*`` calls.
    """
    if kwargs.get("silent") or kwargs.get("disable"):
        return
    _logger.warning(
        "autolog(): Cairn has no autologging integrations yet; nothing will be logged "
        "automatically."
    )


def _reset_for_tests() -> None:
    """Forget this process's active experiment and this thread's run state."""
    global _active_experiment_id
    _active_experiment_id = None
    _state.stack.clear()
    _state.last_run_id = None
    export_setting(env.EXPERIMENT_ID, None)


__all__ = [
    "ActiveRun",
    "active_run",
    "autolog",
    "create_experiment",
    "delete_experiment",
    "delete_experiment_tag",
    "delete_run",
    "delete_tag",
    "end_run",
    "flush",
    "flush_async_logging",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_parent_run",
    "get_registry_uri",
    "get_run",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "last_active_run",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_input",
    "log_inputs",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_table",
    "log_text",
    "restore_experiment",
    "restore_run",
    "search_experiments",
    "search_runs",
    "set_experiment",
    "set_experiment_tag",
    "set_experiment_tags",
    "set_registry_uri",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]
