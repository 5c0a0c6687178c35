"""``MlflowClient``: MLflow's low-level tracking API, over any Cairn tracking store.

Every method takes explicit ids (no active run). Inputs are checked here with
``cairn.validation`` before the store sees them, so bad input fails the same way
whatever the backend. The conveniences (``log_metric``, ``log_param``, ``set_tag``)
are all ``log_batch`` calls, so each store writes data in one place.

Logging is non-blocking by default: once checked, data goes to the process's background
logger (``cairn.tracking.batching``), and for ``http(s)://`` URIs through the offline
failover (``cairn.tracking.offline``). Every read or change of a run first flushes what
was logged to it (read-your-writes), and a background failure is raised there.
``synchronous=True`` on a call, or ``CAIRN_ASYNC_LOGGING=false``, writes before returning.
"""

from __future__ import annotations

import numbers
import os
import posixpath
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn import validation
from cairn.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    FileInfo,
    Metric,
    PagedList,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from cairn.exceptions import InvalidParameterValue, ResourceDoesNotExist
from cairn.store.registry import get_tracking_store
from cairn.tracking import batching, context
from cairn.tracking.uri import get_registry_uri, resolve_tracking_uri

if TYPE_CHECKING:
    from cairn.artifacts.repository import ArtifactRepository
    from cairn.store.tracking import TrackingStore
    from cairn.tracking.offline import OfflineFailover

_REMOTE_SCHEMES = ("http://", "https://")


def now_millis() -> int:
    """The current time in milliseconds since the epoch, MLflow's unit for timestamps."""
    return int(time.time() * 1000)


def _as_experiment_ids(experiment_ids: str | int | Iterable[str | int]) -> list[str]:
    # MLflow's own docs pass a single id ("0"); accept it, and ints, as MLflow does.
    if isinstance(experiment_ids, (str, int)):
        experiment_ids = [experiment_ids]
    return [validation.check_experiment_id(e) for e in experiment_ids]


def metric_from_value(key: str, value: Any, timestamp: int | None, step: int | None) -> Metric:
    """A Metric with MLflow's defaults (now, step 0) and numpy scalars made plain."""
    if type(value) is float and type(step) is int and timestamp is None:
        return Metric(key, value, int(time.time() * 1000), step)  # the training-loop case
    # numpy scalars and other Number types become plain Python numbers before storage
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = float(value)
    ts = now_millis() if timestamp is None else timestamp
    if isinstance(ts, numbers.Integral) and not isinstance(ts, bool):
        ts = int(ts)
    step_value = 0 if step is None else step
    if isinstance(step_value, numbers.Integral) and not isinstance(step_value, bool):
        step_value = int(step_value)
    return Metric(key, value, ts, step_value)


def _chunks(
    metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
) -> Iterable[tuple[Sequence[Metric], Sequence[Param], Sequence[RunTag]]]:
    """Split a batch into pieces within the store's per-call limits."""
    while metrics or params or tags:
        room = validation.MAX_ENTITIES_PER_BATCH
        some_params = params[: min(validation.MAX_PARAMS_TAGS_PER_BATCH, room)]
        room -= len(some_params)
        some_tags = tags[: min(validation.MAX_PARAMS_TAGS_PER_BATCH, room)]
        room -= len(some_tags)
        some_metrics = metrics[: min(validation.MAX_METRICS_PER_BATCH, room)]
        yield some_metrics, some_params, some_tags
        metrics = metrics[len(some_metrics) :]
        params = params[len(some_params) :]
        tags = tags[len(some_tags) :]


class MlflowClient:
    """A client of one tracking store, with MLflow's method names and signatures.

    Args:
        tracking_uri: where runs live; defaults to the URI in effect (``get_tracking_uri``).
        registry_uri: accepted for compatibility; Cairn has no model registry yet.
    """

    def __init__(self, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        self._tracking_uri = resolve_tracking_uri(tracking_uri)
        self._registry_uri = registry_uri or get_registry_uri()

    @property
    def tracking_uri(self) -> str:
        return self._tracking_uri

    @cached_property
    def _store(self) -> TrackingStore:
        return get_tracking_store(self._tracking_uri)

    @cached_property
    def _failover(self) -> OfflineFailover | None:
        """The journal-backed write path of a remote URI; None for local stores."""
        if not self._tracking_uri.lower().startswith(_REMOTE_SCHEMES):
            return None
        from cairn.tracking.offline import failover_for

        return failover_for(self._tracking_uri, self._store)

    def _flush(self, run_id: str | None = None) -> None:
        """Write what was logged (to ``run_id``, or to any run) before reading or changing it.

        Raises:
            AsyncLoggingError: some of that data could not be written in the background.
        """
        batching.flush(run_id)
        failover = self._failover
        if failover is not None:
            failover.flush(run_id)

    # -- experiments -------------------------------------------------------------------
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: dict[str, Any] | None = None,
    ) -> str:
        """Create an experiment and return its id."""
        validation.check_experiment_name(name)
        exp_tags = [ExperimentTag(k, str(v)) for k, v in (tags or {}).items()]
        for tag in exp_tags:
            validation.check_experiment_tag(tag)
        return self._store.create_experiment(name, artifact_location, exp_tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id; raises ``ResourceDoesNotExist`` if there is none."""
        return self._store.get_experiment(validation.check_experiment_id(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment with this name (active or deleted), or None."""
        return self._store.get_experiment_by_name(name)

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = validation.SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        """One page of experiments matching ``filter_string``."""
        validation.check_max_results(max_results, validation.MAX_EXPERIMENTS_LISTED_PER_PAGE)
        return self._store.search_experiments(
            ViewType.coerce(view_type), max_results, filter_string, order_by, page_token
        )

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        validation.check_experiment_name(new_name)
        self._store.rename_experiment(validation.check_experiment_id(experiment_id), new_name)

    def delete_experiment(self, experiment_id: str) -> None:
        """Mark an experiment and its runs deleted; ``restore_experiment`` undoes it."""
        self._store.delete_experiment(validation.check_experiment_id(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        self._store.restore_experiment(validation.check_experiment_id(experiment_id))

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        tag = ExperimentTag(key, str(value))
        validation.check_experiment_tag(tag)
        self._store.set_experiment_tag(validation.check_experiment_id(experiment_id), tag)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        validation.check_key(key, "tag name")
        self._store.delete_experiment_tag(validation.check_experiment_id(experiment_id), key)

    # -- runs --------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: dict[str, Any] | None = None,
        run_name: str | None = None,
    ) -> Run:
        """Start a run in ``experiment_id``; ``tags`` maps key to value.

        The run's ``user_id`` is the ``mlflow.user`` tag (``unknown`` without it), and a
        readable name is generated when neither ``run_name`` nor ``mlflow.runName`` is given.
        """
        experiment_id = validation.check_experiment_id(experiment_id)
        tag_values = {k: str(v) for k, v in (tags or {}).items()}
        if run_name and tag_values.get(context.MLFLOW_RUN_NAME, run_name) != run_name:
            raise InvalidParameterValue(
                f"Both 'run_name' argument and 'mlflow.runName' tag are specified, but with "
                f"different values (run_name='{run_name}', "
                f"mlflow.runName='{tag_values[context.MLFLOW_RUN_NAME]}')."
            )
        name = run_name or tag_values.get(context.MLFLOW_RUN_NAME) or context.generate_run_name()
        tag_values[context.MLFLOW_RUN_NAME] = name
        run_tags = [RunTag(k, v) for k, v in tag_values.items()]
        validation.check_batch(tags=run_tags)
        return self._store.create_run(
            experiment_id,
            tag_values.get(context.MLFLOW_USER, "unknown"),
            now_millis() if start_time is None else int(start_time),
            run_tags,
            name,
        )

    def get_run(self, run_id: str) -> Run:
        """The run with its latest metrics, params, tags and inputs."""
        run_id = validation.check_run_id(run_id)
        self._flush(run_id)
        return self._store.get_run(run_id)

    def get_parent_run(self, run_id: str) -> Run | None:
        """The run named by this run's ``mlflow.parentRunId`` tag, if any."""
        parent_id = self.get_run(run_id).data.tags.get(context.MLFLOW_PARENT_RUN_ID)
        return self.get_run(parent_id) if parent_id else None

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        """Change a run's status (a name like ``"FINISHED"``) and/or its name."""
        run_id = validation.check_run_id(run_id)
        run_status = RunStatus.from_string(status) if status else None
        self._flush(run_id)
        self._store.update_run_info(run_id, run_status, None, name)

    def set_terminated(
        self, run_id: str, status: str | None = None, end_time: int | None = None
    ) -> None:
        """End a run: ``status`` defaults to ``FINISHED``, ``end_time`` to now.

        Everything logged to the run is written first. When the tracking server is out of
        reach, the end is journaled with the run's data and replayed after it.
        """
        run_id = validation.check_run_id(run_id)
        try:
            run_status = RunStatus.from_string(status or "FINISHED")
        except ValueError as exc:
            raise InvalidParameterValue(str(exc)) from None
        end = now_millis() if end_time is None else int(end_time)
        try:
            self._flush(run_id)
        finally:  # the run ends even when some of its data failed; that error follows
            self._end(run_id, run_status, end)

    def _end(self, run_id: str, run_status: RunStatus, end: int) -> None:
        failover = self._failover
        name = RunStatus.to_string(run_status)
        if failover is not None and failover.end_run(run_id, name, end):
            return
        try:
            self._store.update_run_info(run_id, run_status, end, None)
        except Exception as error:
            if failover is None:
                raise
            from cairn.tracking.offline import is_unreachable

            if not is_unreachable(error):
                raise
            failover.journal_end_run(run_id, name, end, error)

    def delete_run(self, run_id: str) -> None:
        run_id = validation.check_run_id(run_id)
        self._flush(run_id)
        self._store.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        self._store.restore_run(validation.check_run_id(run_id))

    def search_runs(
        self,
        experiment_ids: str | list[str],
        filter_string: str = "",
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = validation.SEARCH_MAX_RESULTS_DEFAULT,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        """One page of the runs of ``experiment_ids`` matching ``filter_string``."""
        validation.check_max_results(max_results)
        self._flush()
        return self._store.search_runs(
            _as_experiment_ids(experiment_ids),
            filter_string or "",
            ViewType.coerce(run_view_type),
            max_results,
            order_by,
            page_token,
        )

    # -- run data ----------------------------------------------------------------------
    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool | None = None,
    ) -> None:
        """Record one point of a metric; ``timestamp`` defaults to now, ``step`` to 0."""
        metric = metric_from_value(key, value, timestamp, step)
        if batching.should_log_async(synchronous):
            # log_batch's path for one point, without its loops: a training loop's hot call
            run_id = validation.check_run_id(run_id)
            validation.check_metric(metric)
            batching.get_logger().enqueue(self._failover or self._store, run_id, (metric,))
            return
        self.log_batch(run_id, metrics=[metric], synchronous=synchronous)

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        """Record a parameter (stored as ``str(value)``) and return ``value``.

        A param is write-once: logging a different value for the same key fails.
        """
        self.log_batch(run_id, params=[Param(key, str(value))], synchronous=synchronous)
        return value

    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> None:
        """Set a tag on a run (stored as ``str(value)``); a later value replaces it."""
        self.log_batch(run_id, tags=[RunTag(key, str(value))], synchronous=synchronous)

    def delete_tag(self, run_id: str, key: str) -> None:
        validation.check_key(key, "tag name")
        run_id = validation.check_run_id(run_id)
        self._flush(run_id)
        self._store.delete_tag(run_id, key)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        synchronous: bool | None = None,
    ) -> None:
        """Write metrics, params and tags to a run.

        Every entity is checked here, so invalid input raises at once and writes nothing.
        Then the data is queued for the background logger, which batches it within the
        store's limits; with ``synchronous=True`` (or ``CAIRN_ASYNC_LOGGING=false``) it is
        written before this returns, split into several writes if it is too big for one.
        """
        run_id = validation.check_run_id(run_id)
        metrics, params, tags = list(metrics), list(params), list(tags)
        for metric in metrics:
            validation.check_metric(metric)
        seen: dict[str, str] = {}
        for param in params:
            validation.check_param(param)
            if seen.setdefault(param.key, param.value) != param.value:
                raise InvalidParameterValue(
                    f"Duplicate parameter key '{param.key}' with different values in one batch."
                )
        for tag in tags:
            validation.check_tag(tag)
        if batching.should_log_async(synchronous):
            batching.get_logger().enqueue(
                self._failover or self._store, run_id, metrics, params, tags
            )
            return
        self._flush(run_id)  # what was queued before this call reaches the store first
        for chunk_metrics, chunk_params, chunk_tags in _chunks(metrics, params, tags):
            self._store.log_batch(run_id, chunk_metrics, chunk_params, chunk_tags)

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput] | None = None) -> None:
        """Record the datasets a run consumed."""
        inputs = list(datasets or ())
        validation.check_dataset_inputs(inputs)
        run_id = validation.check_run_id(run_id)
        self._flush(run_id)
        self._store.log_inputs(run_id, inputs)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every logged point of one metric, in one store call: a local store reads its
        file or table once (paged, a 100,000-point file was parsed four times), and the
        REST store pages the request itself."""
        run_id = validation.check_run_id(run_id)
        self._flush(run_id)
        return list(self._store.get_metric_history(run_id, key))

    # -- artifacts ---------------------------------------------------------------------
    def _artifact_repo(self, run_id: str) -> ArtifactRepository:
        from cairn.artifacts.registry import get_artifact_repository

        artifact_uri = self.get_run(run_id).info.artifact_uri
        if not artifact_uri:
            raise ResourceDoesNotExist(f"Run '{run_id}' has no artifact location.")
        return get_artifact_repository(artifact_uri)

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        """Upload one local file (or a directory's contents) under ``artifact_path``."""
        repo = self._artifact_repo(run_id)
        if os.path.isdir(local_path):
            name = os.path.basename(os.path.normpath(local_path))
            target = posixpath.join(artifact_path, name) if artifact_path else name
            repo.log_artifacts(local_path, target)
        else:
            repo.log_artifact(local_path, artifact_path)

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        """Upload the contents of ``local_dir`` under ``artifact_path``."""
        self._artifact_repo(run_id).log_artifacts(local_dir, artifact_path)

    def _log_payload(
        self,
        run_id: str,
        artifact_file: str,
        write: Callable[[Path, Path], object],
        *,
        append: bool = False,
    ) -> None:
        """Stage a payload as ``<tmp>/<artifact_file>`` with ``write(file, tmp)``, then upload.

        The staging directory mirrors the artifact root, so a payload may add files
        beside its own (a table's images). With ``append`` the artifact already stored
        is downloaded there first, for ``write`` to extend.
        """
        clean = posixpath.normpath(artifact_file.replace("\\", "/")).lstrip("/")
        if not posixpath.basename(artifact_file) or clean in ("", ".") or clean.startswith(".."):
            raise InvalidParameterValue(f"Invalid artifact file path '{artifact_file}'.")
        repo = self._artifact_repo(run_id)
        with tempfile.TemporaryDirectory(prefix="cairn-artifact-") as tmp:
            root = Path(tmp)
            if append and any(
                f.path == clean for f in repo.list_artifacts(posixpath.dirname(clean) or None)
            ):
                repo.download_artifacts(clean, root)
            local = root.joinpath(*clean.split("/"))
            local.parent.mkdir(parents=True, exist_ok=True)
            write(local, root)
            repo.log_artifacts(root, None)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        """Store ``text`` as the artifact ``artifact_file`` (e.g. ``"notes/summary.txt"``)."""
        from cairn.artifacts import payloads

        self._log_payload(run_id, artifact_file, lambda path, _: payloads.write_text(text, path))

    def log_dict(self, run_id: str, dictionary: dict[str, Any], artifact_file: str) -> None:
        """Store a dict as JSON, or YAML when ``artifact_file`` ends in .yaml/.yml."""
        from cairn.artifacts import payloads

        self._log_payload(
            run_id, artifact_file, lambda path, _: payloads.write_dict(dictionary, path)
        )

    def log_figure(
        self,
        run_id: str,
        figure: Any,
        artifact_file: str,
        *,
        save_kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Store a matplotlib or plotly figure; the file extension picks the format."""
        from cairn.artifacts import payloads

        self._log_payload(
            run_id,
            artifact_file,
            lambda path, _: payloads.write_figure(figure, path, **(save_kwargs or {})),
        )

    def log_image(
        self,
        run_id: str,
        image: Any,
        artifact_file: str | None = None,
        key: str | None = None,
        step: int | None = None,
        timestamp: int | None = None,
        synchronous: bool | None = None,
    ) -> None:
        """Store a numpy array or PIL image as ``artifact_file``.

        MLflow's step-indexed image series (``key=``/``step=``) is not supported yet.
        """
        from cairn.artifacts import payloads

        if artifact_file is None:
            raise InvalidParameterValue(
                "log_image needs 'artifact_file'; image series by 'key' and 'step' "
                "are not supported by Cairn yet."
            )
        self._log_payload(run_id, artifact_file, lambda path, _: payloads.write_image(image, path))

    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        """Store a dict of columns or a DataFrame as a table (.json or .parquet).

        Logging to the same file again appends the new rows, as in MLflow.
        """
        from cairn.artifacts import payloads

        self._log_payload(
            run_id,
            artifact_file,
            lambda path, root: payloads.write_table(data, path, artifact_root=root),
            append=True,
        )

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """The files and directories directly under ``path`` in the run's artifacts."""
        return list(self._artifact_repo(run_id).list_artifacts(path))

    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        """Copy an artifact file or directory to ``dst_path`` (a temp dir by default)."""
        return self._artifact_repo(run_id).download_artifacts(path, dst_path)


__all__ = ["MlflowClient", "metric_from_value", "now_millis"]
