"""``FileStore``: the tracking store kept in an ``mlruns`` directory, as MLflow lays it out.

The files are the source of truth and stay byte-compatible with MLflow (see ``layout``).
Writes are crash-safe (``atomic``); metric points are appended with one write per key
and batch, so any number of processes and threads can log into the same store.

``search_runs`` is answered by an index file inside the store (``index``), created by the
first search, then kept in step with writes made through Cairn (within a second) and
re-synchronised from the files when another writer (MLflow itself, say) changed them.
Deleting the index loses nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import random
import re
import shutil
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from cairn.artifacts.local import local_path_of_uri
from cairn.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    LifecycleStage,
    Metric,
    PagedList,
    Param,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from cairn.entities.run_names import RUN_NAME_TAG, name_new_run
from cairn.exceptions import (
    InvalidParameterValue,
    InvalidState,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from cairn.search import evaluate, grammar
from cairn.search.paging import decode_page_token, encode_page_token, paginate
from cairn.store.file import caches, layout, reader
from cairn.store.file.atomic import (
    append_text,
    create_file_once,
    replace_file,
    write_unseen_file,
)
from cairn.store.file.index import RunIndex
from cairn.validation import (
    GET_METRIC_HISTORY_MAX_RESULTS,
    MAX_EXPERIMENTS_LISTED_PER_PAGE,
    SEARCH_MAX_RESULTS_DEFAULT,
    check_batch,
    check_dataset_inputs,
    check_experiment_id,
    check_experiment_name,
    check_experiment_tag,
    check_key,
    check_max_results,
    check_param_unchanged,
    check_run_id,
    check_tag,
)

_EXPERIMENT_ID_DIGITS = 18
_MAX_FILE_NAME_BYTES = 255
_PARSED_CACHE_SIZE = 10_000
# RFC 3986 scheme; two letters at least, so a Windows drive ("C:") stays a path
_URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:")


def _now_ms() -> int:
    return int(time.time() * 1000)


def new_experiment_id() -> str:
    """An 18-digit random id without a leading zero, the form MLflow's file store uses."""
    digits = str(uuid.uuid4().int)[-_EXPERIMENT_ID_DIGITS:]
    return str(random.randint(1, 9)) + digits[1:] if digits[0] == "0" else digits


def _as_file_uri(location: str) -> str:
    """A plain path becomes an absolute ``file://`` URI; a URI with a scheme is kept.

    A server that proxies artifacts hands out ``mlflow-artifacts:/...`` locations, and
    cloud stores ``s3://...``: only a scheme-less location is a path on this machine.
    """
    if _URI_SCHEME.match(location):
        return location.rstrip("/")
    return Path(location).resolve().as_uri()


def _check_fits_on_disk(key: str) -> None:
    """Keys are file names here: each "/"-separated part must fit the 255-byte limit."""
    for part in key.split("/"):
        if len(part.encode("utf-8")) > _MAX_FILE_NAME_BYTES:
            raise InvalidParameterValue(
                f"Key '{key[:40]}...' cannot be stored in a file store: a file name may take "
                f"at most {_MAX_FILE_NAME_BYTES} bytes of UTF-8 between slashes."
            )


def _group_by_key(metrics: Sequence[Metric], keys: set[str]) -> dict[str, Sequence[Metric]]:
    """The batch's points per key, in logged order (one key: the batch itself)."""
    if len(keys) == 1:
        return {next(iter(keys)): metrics}
    groups: dict[str, list[Metric]] = defaultdict(list)
    for metric in metrics:
        groups[metric.key].append(metric)
    return dict(groups)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive lock across processes for read-modify-write of one meta file."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _meta_key(run_dir: Path) -> str:
    """The run's meta.yaml path, as the parse cache keys it (``os.path.join``: this runs
    on every logging call, and is cheaper than ``Path`` arithmetic)."""
    return os.path.join(run_dir, layout.META)


class FileStore:
    """Experiments and runs in an ``mlruns`` directory (a plain path or a ``file:`` URI)."""

    def __init__(self, uri: str, default_artifact_root: str | None = None) -> None:
        self.root = local_path_of_uri(uri).expanduser().resolve()
        self.trash = self.root / layout.TRASH
        self.artifact_root = _as_file_uri(default_artifact_root or str(self.root))
        self._run_dirs: dict[str, Path] = {}
        # run meta.yaml -> its mapping and the RunInfo it states; see _run_meta
        self._run_metas: caches.ParsedFiles[tuple[dict[str, Any], RunInfo] | None] = (
            caches.ParsedFiles(_PARSED_CACHE_SIZE)
        )
        # experiment meta.yaml -> (lifecycle stage, artifact location)
        self._experiment_basics: caches.ParsedFiles[tuple[str, str]] = caches.ParsedFiles(
            _PARSED_CACHE_SIZE
        )
        # metric file -> its latest point, for reading runs without parsing whole histories
        self._latest_points = caches.LatestPoints(_PARSED_CACHE_SIZE)
        self._lock = threading.Lock()
        if not (self.root / layout.DEFAULT_EXPERIMENT_ID).is_dir() and not self._has_experiments():
            self.root.mkdir(parents=True, exist_ok=True)
            self._write_new_experiment(
                layout.DEFAULT_EXPERIMENT_ID, layout.DEFAULT_EXPERIMENT_NAME, None, ()
            )
        self.trash.mkdir(parents=True, exist_ok=True)
        self.index = RunIndex(self.root)

    # -- experiments ---------------------------------------------------------------------
    def _has_experiments(self) -> bool:
        return self.root.is_dir() and any(
            layout.is_experiment_dir_name(e.name) for e in reader.list_subdirs(self.root)
        )

    def _experiment_dirs(self, view_type: ViewType = ViewType.ALL) -> Iterator[Path]:
        parents = []
        if view_type in (ViewType.ACTIVE_ONLY, ViewType.ALL):
            parents.append(self.root)
        if view_type in (ViewType.DELETED_ONLY, ViewType.ALL):
            parents.append(self.trash)
        for parent in parents:
            for entry in reader.list_subdirs(parent):
                if layout.is_experiment_dir_name(entry.name):
                    yield Path(entry.path)

    def _experiment_dir(self, experiment_id: str) -> Path:
        check_experiment_id(experiment_id)
        for parent in (self.root, self.trash):
            candidate = parent / str(experiment_id)
            if (candidate / layout.META).is_file():
                return candidate
        raise ResourceDoesNotExist(f"Could not find experiment with ID {experiment_id}")

    def _all_experiments(self, view_type: ViewType = ViewType.ALL) -> list[Experiment]:
        found = (reader.read_experiment(d) for d in self._experiment_dirs(view_type))
        return [e for e in found if e is not None]

    def _check_name_free(self, name: str) -> None:
        for experiment in self._all_experiments():
            if experiment.name != name:
                continue
            if experiment.lifecycle_stage == LifecycleStage.DELETED:
                raise ResourceAlreadyExists(
                    f"Experiment {name!r} already exists in deleted state. You can restore the "
                    "experiment, or permanently delete the experiment from the .trash folder "
                    "(under tracking server's root folder) in order to use this experiment name "
                    "again."
                )
            raise ResourceAlreadyExists(f"Experiment '{name}' already exists.")

    def _write_new_experiment(
        self,
        experiment_id: str,
        name: str,
        artifact_location: str | None,
        tags: Sequence[ExperimentTag],
    ) -> None:
        experiment_dir = self.root / experiment_id
        experiment_dir.mkdir()  # fails if the id is taken: ids are claimed by mkdir
        now = _now_ms()
        location = (
            _as_file_uri(artifact_location)
            if artifact_location
            else f"{self.artifact_root}/{experiment_id}"
        )
        for tag in tags:
            replace_file(experiment_dir / layout.TAGS / tag.key, tag.value, experiment_dir)
        # meta.yaml last: until it exists, readers skip the directory
        experiment = Experiment(experiment_id, name, location, LifecycleStage.ACTIVE, {}, now, now)
        replace_file(
            experiment_dir / layout.META, layout.dump_yaml(layout.experiment_to_meta(experiment))
        )

    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[ExperimentTag] = ()
    ) -> str:
        check_experiment_name(name)
        for tag in tags:
            check_experiment_tag(tag)
        self._check_name_free(name)
        while True:
            experiment_id = new_experiment_id()
            try:
                self._write_new_experiment(experiment_id, name, artifact_location, tags)
            except FileExistsError:
                continue
            return experiment_id

    def get_experiment(self, experiment_id: str) -> Experiment:
        experiment = reader.read_experiment(self._experiment_dir(str(experiment_id)))
        if experiment is None:
            raise ResourceDoesNotExist(f"Experiment '{experiment_id}' does not exist.")
        return experiment

    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        for experiment in self._all_experiments():
            if experiment.name == experiment_name:
                return experiment
        return None

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        check_max_results(max_results, MAX_EXPERIMENTS_LISTED_PER_PAGE)
        node = grammar.parse_experiment_filter(filter_string)
        keys = grammar.parse_experiment_order_by(order_by)
        decode_page_token(page_token)
        experiments = self._all_experiments(ViewType.coerce(view_type))
        matching = [e for e in experiments if evaluate.experiment_matches(node, e)]
        return paginate(evaluate.sort_experiments(matching, keys), max_results, page_token)

    def _rewrite_experiment(self, experiment_dir: Path, **changes: object) -> Experiment:
        with _locked(experiment_dir):
            meta = layout.load_yaml(experiment_dir / layout.META)
            if meta is None:
                raise ResourceDoesNotExist(f"Could not find experiment in {experiment_dir.name}")
            meta.update(changes)
            replace_file(experiment_dir / layout.META, layout.dump_yaml(meta))
        experiment = reader.read_experiment(experiment_dir)
        assert experiment is not None
        return experiment

    def _active_experiment_dir(self, experiment_id: str, action: str) -> Path:
        experiment_dir = self._experiment_dir(experiment_id)
        if experiment_dir.parent != self.root:
            raise InvalidParameterValue(
                f"The experiment {experiment_id} must be in the 'active' state to {action}."
            )
        return experiment_dir

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        check_experiment_name(new_name)
        experiment_dir = self._active_experiment_dir(str(experiment_id), "be renamed")
        self._check_name_free(new_name)
        self._rewrite_experiment(experiment_dir, name=new_name, last_update_time=_now_ms())
        self.index.forget_experiment_fingerprint(str(experiment_id))

    def delete_experiment(self, experiment_id: str) -> None:
        experiment_id = str(experiment_id)
        if experiment_id == layout.DEFAULT_EXPERIMENT_ID:
            raise InvalidParameterValue(
                f"Cannot delete the default experiment '{experiment_id}'. "
                "This is an internally reserved experiment."
            )
        experiment_dir = self._experiment_dir(experiment_id)
        if experiment_dir.parent != self.root:
            raise InvalidParameterValue(f"Experiment {experiment_id} is already deleted.")
        now = _now_ms()
        for run_dir in reader.iter_run_dirs(experiment_dir):
            info = reader.read_run_info(run_dir)
            if info is not None and info.lifecycle_stage == LifecycleStage.ACTIVE:
                self._rewrite_run(run_dir, lifecycle_stage=LifecycleStage.DELETED, deleted_time=now)
        self._rewrite_experiment(
            experiment_dir, lifecycle_stage=LifecycleStage.DELETED, last_update_time=now
        )
        target = self.trash / experiment_id
        if target.exists():
            raise InvalidState(f"Cannot delete experiment {experiment_id}: {target} exists.")
        os.rename(experiment_dir, target)
        self._forget_runs()
        self.index.forget_experiment_fingerprint(experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        experiment_id = str(experiment_id)
        check_experiment_id(experiment_id)
        source = self.trash / experiment_id
        if not (source / layout.META).is_file():
            raise ResourceDoesNotExist(f"Could not find deleted experiment with ID {experiment_id}")
        if (self.root / experiment_id).exists():
            raise ResourceAlreadyExists(
                f"Cannot restore experiment with ID {experiment_id}. "
                "An experiment with same ID already exists."
            )
        target = self.root / experiment_id
        os.rename(source, target)
        self._forget_runs()
        for run_dir in reader.iter_run_dirs(target):
            info = reader.read_run_info(run_dir)
            if info is not None and info.lifecycle_stage == LifecycleStage.DELETED:
                self._rewrite_run(run_dir, lifecycle_stage=LifecycleStage.ACTIVE, deleted_time=None)
        self._rewrite_experiment(
            target, lifecycle_stage=LifecycleStage.ACTIVE, last_update_time=_now_ms()
        )
        self.index.forget_experiment_fingerprint(experiment_id)

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        check_experiment_tag(tag)
        _check_fits_on_disk(tag.key)
        experiment_dir = self._active_experiment_dir(str(experiment_id), "set tags")
        replace_file(experiment_dir / layout.TAGS / tag.key, tag.value, experiment_dir)
        self.index.forget_experiment_fingerprint(str(experiment_id))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        experiment_dir = self._active_experiment_dir(str(experiment_id), "delete tags")
        check_key(key, "tag name")
        try:
            (experiment_dir / layout.TAGS / key).unlink()
        except FileNotFoundError:
            raise ResourceDoesNotExist(
                f"No tag with name: {key} in experiment with id {experiment_id}"
            ) from None
        self.index.forget_experiment_fingerprint(str(experiment_id))

    # -- locating runs ---------------------------------------------------------------------
    def _forget_runs(self) -> None:
        with self._lock:
            self._run_dirs.clear()

    def _run_dir(self, run_id: str) -> Path:
        """The directory of a run, active or in a deleted experiment."""
        check_run_id(run_id)
        with self._lock:
            cached = self._run_dirs.get(run_id)
        if cached is not None and os.path.isfile(os.path.join(cached, layout.META)):
            return cached
        for experiment_dir in self._experiment_dirs(ViewType.ALL):
            candidate = experiment_dir / run_id
            if (candidate / layout.META).is_file():
                with self._lock:
                    self._run_dirs[run_id] = candidate
                return candidate
        raise ResourceDoesNotExist(f"Run '{run_id}' not found")

    def _run_meta(self, run_dir: Path) -> tuple[dict[str, Any], RunInfo]:
        """The run's meta.yaml mapping and info, parsed again only when the file changed.

        Every logging call checks that its run is active, and ending a run rewrites the
        mapping; re-parsing the YAML each time was a third of a synchronous
        ``log_metric`` and a tenth of creating and ending a run.
        """
        found = self._run_metas.get(_meta_key(run_dir), lambda: reader.read_run_meta(run_dir))
        if found is None:
            raise InvalidState(f"Run '{run_dir.name}' metadata is in invalid state.")
        return found

    def _run_info(self, run_dir: Path) -> RunInfo:
        return self._run_meta(run_dir)[1]

    def _remember_run_meta(self, run_dir: Path, meta: dict[str, Any]) -> None:
        """Cache what this process just wrote to a run's meta.yaml, under the run's lock
        or before anyone else knows the run: the file stat'ed now is that one."""
        self._run_metas.remember(_meta_key(run_dir), (meta, layout.run_info_from_meta(meta)))

    def _active_run_dir(self, run_id: str) -> tuple[Path, RunInfo]:
        run_dir = self._run_dir(run_id)
        info = self._run_info(run_dir)
        if info.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidParameterValue(
                f"The run {run_id} must be in the 'active' state. "
                f"Current state is {info.lifecycle_stage}."
            )
        return run_dir, info

    def _rewrite_run(
        self, run_dir: Path, mirror: frozenset[str] = frozenset({"info"}), **changes: object
    ) -> RunInfo:
        """Change fields of a run's meta.yaml, atomically and under a cross-process lock;
        fields this version does not know are kept."""
        with _locked(run_dir):
            meta, info = self._run_meta(run_dir)
            if "status" in changes and isinstance(changes["status"], str):
                changes["status"] = int(RunStatus.from_string(changes["status"]))
            deleted_time = changes.pop("deleted_time", meta.get("deleted_time"))
            fields = {k: v for k, v in changes.items() if k != "status"}
            if "status" in changes:
                fields["status"] = RunStatus.to_string(int(changes["status"]))  # type: ignore[call-overload]
            info = dataclasses.replace(info, **fields)  # type: ignore[arg-type]
            new_meta = {**meta, **layout.run_info_to_meta(info, deleted_time)}  # type: ignore[arg-type]
            replace_file(run_dir / layout.META, layout.dump_yaml(new_meta))
            self._remember_run_meta(run_dir, new_meta)
        self.index.mirror_run(run_dir, parts=mirror)
        return info

    def _experiment_stage_and_location(self, experiment_id: str) -> tuple[str, str]:
        """What creating a run needs of its experiment, re-read only when meta.yaml changed
        (both come from meta.yaml alone, whoever rewrote it)."""

        def read() -> tuple[str, str]:
            experiment = self.get_experiment(experiment_id)
            return (experiment.lifecycle_stage, experiment.artifact_location)

        meta_path = str(self._experiment_dir(experiment_id) / layout.META)
        return self._experiment_basics.get(meta_path, read)

    # -- runs ------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int | None,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        experiment_id = (
            layout.DEFAULT_EXPERIMENT_ID if experiment_id is None else str(experiment_id)
        )
        stage, artifact_location = self._experiment_stage_and_location(experiment_id)
        if stage != LifecycleStage.ACTIVE:
            raise InvalidParameterValue(
                f"Could not create run under non-active experiment with ID {experiment_id}."
            )
        tags = list(tags or ())
        for tag in tags:
            check_tag(tag)
            _check_fits_on_disk(tag.key)
        run_name, tags = name_new_run(run_name, tags)
        check_tag(RunTag(RUN_NAME_TAG, run_name))
        run_id = uuid.uuid4().hex
        experiment_dir = self.root / experiment_id
        run_dir = experiment_dir / run_id
        run_dir.mkdir()
        for sub in (layout.METRICS, layout.PARAMS, layout.TAGS, layout.ARTIFACTS):
            os.mkdir(os.path.join(run_dir, sub))
        tags_dir = os.path.join(run_dir, layout.TAGS)
        for key, value in {t.key: t.value for t in tags}.items():  # the last of a key wins
            write_unseen_file(os.path.join(tags_dir, key), value)
        info = RunInfo(
            run_uuid=run_id,
            experiment_id=experiment_id,
            user_id=user_id or "",
            status=RunStatus.RUNNING.name,
            start_time=_now_ms() if start_time is None else int(start_time),
            end_time=None,
            lifecycle_stage=LifecycleStage.ACTIVE,
            artifact_uri=f"{artifact_location}/{run_id}/{layout.ARTIFACTS}",
            run_id=run_id,
            run_name=run_name,
        )
        # meta.yaml last: until it exists the run is invisible to both MLflow and Cairn
        meta = layout.run_info_to_meta(info, None)
        replace_file(run_dir / layout.META, layout.dump_yaml(meta))
        # its first logging call need not parse the file again (see _run_meta)
        self._remember_run_meta(run_dir, meta)
        with self._lock:
            self._run_dirs[run_id] = run_dir
        self.index.mirror_run(run_dir)
        return Run(
            info, RunData(tags=[RunTag(t.key, t.value) for t in {t.key: t for t in tags}.values()])
        )

    def get_run(self, run_id: str) -> Run:
        run_dir = self._run_dir(run_id)
        return reader.read_run(run_dir, self._run_info(run_dir), self._latest_points)

    def update_run_info(
        self,
        run_id: str,
        run_status: RunStatus | None,
        end_time: int | None,
        run_name: str | None,
    ) -> RunInfo:
        run_dir, _ = self._active_run_dir(run_id)
        changes: dict[str, object] = {}
        if run_status is not None:
            status = RunStatus(run_status) if isinstance(run_status, int) else run_status
            changes["status"] = (
                status.name if isinstance(status, RunStatus) else RunStatus.from_string(status).name
            )
        if end_time is not None:
            changes["end_time"] = int(end_time)
        if run_name:
            check_tag(RunTag(RUN_NAME_TAG, run_name))
            replace_file(run_dir / layout.TAGS / RUN_NAME_TAG, run_name, run_dir)
            changes["run_name"] = run_name
        # params and tags change only with the name (its tag); ending a run touches meta.yaml
        mirror = frozenset({"info", "data"}) if run_name else frozenset({"info"})
        return self._rewrite_run(run_dir, mirror=mirror, **changes)

    def delete_run(self, run_id: str) -> None:
        run_dir = self._run_dir(run_id)
        self._rewrite_run(run_dir, lifecycle_stage=LifecycleStage.DELETED, deleted_time=_now_ms())

    def restore_run(self, run_id: str) -> None:
        run_dir = self._run_dir(run_id)
        self._rewrite_run(run_dir, lifecycle_stage=LifecycleStage.ACTIVE, deleted_time=None)

    def delete_tag(self, run_id: str, key: str) -> None:
        run_dir, _ = self._active_run_dir(run_id)
        check_key(key, "tag name")
        try:
            (run_dir / layout.TAGS / key).unlink()
        except FileNotFoundError:
            raise ResourceDoesNotExist(f"No tag with name: {key} in run with id {run_id}") from None
        self.index.mirror_run(run_dir, parts=frozenset({"data"}))

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        check_run_id(run_id)
        check_batch(metrics, params, tags)
        metric_keys = {m.key for m in metrics}
        for key in [*metric_keys, *(p.key for p in params), *(t.key for t in tags)]:
            _check_fits_on_disk(key)
        run_dir, _ = self._active_run_dir(run_id)
        # Plain strings, not Paths: joining Paths was a tenth of creating a small run.
        params_dir, tags_dir = (os.path.join(run_dir, sub) for sub in (layout.PARAMS, layout.TAGS))
        # Every check comes before the first write, so a refused batch changes nothing.
        for param in params:
            existing = os.path.join(params_dir, param.key)
            if os.path.isfile(existing):
                check_param_unchanged(run_id, param.key, layout.read_text(existing), param.value)
        for param in params:
            path = os.path.join(params_dir, param.key)
            if not create_file_once(path, param.value, run_dir):
                # another writer got there first: it must have written the same value
                check_param_unchanged(run_id, param.key, layout.read_text(path), param.value)
        by_key = _group_by_key(metrics, metric_keys)
        metrics_dir = os.path.join(run_dir, layout.METRICS)
        appended = {
            key: append_text(os.path.join(metrics_dir, key), layout.format_metric_lines(points))
            for key, points in by_key.items()
        }
        new_name = None
        for tag in tags:
            replace_file(os.path.join(tags_dir, tag.key), tag.value, run_dir)
            if tag.key == RUN_NAME_TAG:
                new_name = tag.value
        if new_name is not None:
            self._rewrite_run(run_dir, run_name=new_name)
        if metrics or params or tags:
            parts = frozenset({"data"}) if params or tags else frozenset()
            self.index.mirror_run(run_dir, by_key, parts, appended)

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput] = ()) -> None:
        check_run_id(run_id)
        check_dataset_inputs(datasets)
        run_dir, _ = self._active_run_dir(run_id)
        experiment_dir = run_dir.parent
        for item in datasets:
            dataset_dir_name = layout.dataset_id(item.dataset.name, item.dataset.digest)
            dataset_meta = experiment_dir / layout.DATASETS / dataset_dir_name / layout.META
            create_file_once(
                dataset_meta, layout.dump_yaml(layout.dataset_to_meta(item.dataset)), experiment_dir
            )
            input_dir_name = layout.dataset_input_id(dataset_dir_name, run_id)
            create_file_once(
                run_dir / layout.INPUTS / input_dir_name / layout.META,
                layout.dump_yaml(layout.input_to_meta(dataset_dir_name, run_id, item)),
                run_dir,
            )
        if datasets:
            self.index.mirror_run(run_dir, parts=frozenset({"inputs"}))

    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        run_dir = self._run_dir(run_id)
        check_key(metric_key, "metric name")
        if max_results is not None:
            check_max_results(max_results, GET_METRIC_HISTORY_MAX_RESULTS)
        offset = decode_page_token(page_token)
        end = None if max_results is None else offset + max_results
        try:
            points, total = layout.read_sorted_metric_history(
                run_dir / layout.METRICS / metric_key, metric_key, offset, end
            )
        except (FileNotFoundError, IsADirectoryError):
            return PagedList([], None)
        return PagedList(
            points, encode_page_token(end) if end is not None and end < total else None
        )

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        check_max_results(max_results)
        experiment_ids = [str(e) for e in experiment_ids]
        for experiment_id in experiment_ids:
            check_experiment_id(experiment_id)
        view = ViewType.coerce(run_view_type)
        node = grammar.parse_run_filter(filter_string)
        keys = grammar.parse_run_order_by(order_by)
        offset = decode_page_token(page_token)
        dirs = self._search_experiment_dirs(experiment_ids)
        indexed = self.index.search_runs(dirs, filter_string, view, max_results, order_by, offset)
        if indexed is not None:
            return indexed
        runs = [run for run in self._scan_runs(dirs, view) if evaluate.run_matches(node, run)]
        return paginate(evaluate.sort_runs(runs, keys), max_results, page_token)

    def _search_experiment_dirs(self, experiment_ids: Sequence[str]) -> list[Path]:
        dirs = []
        for experiment_id in dict.fromkeys(experiment_ids):
            for parent in (self.root, self.trash):
                candidate = parent / experiment_id
                if (candidate / layout.META).is_file():
                    dirs.append(candidate)
                    break
        return dirs

    def _scan_runs(self, experiment_dirs: Sequence[Path], view: ViewType) -> Iterator[Run]:
        """Every run of the experiments, read from the files (the index-free path)."""
        stages = LifecycleStage.view_type_to_stages(view)
        for experiment_dir in experiment_dirs:
            for run_dir in reader.iter_run_dirs(experiment_dir):
                info = reader.read_run_info(run_dir)
                if info is None or info.experiment_id != experiment_dir.name:
                    continue
                if info.lifecycle_stage in stages:
                    yield reader.read_run(run_dir, info, self._latest_points)

    # -- garbage collection -----------------------------------------------------------------
    def deleted_run_ids(self, older_than_ms: int | None = None) -> list[str]:
        now = _now_ms()
        found = []
        for experiment_dir in self._experiment_dirs(ViewType.ALL):
            for run_dir in reader.iter_run_dirs(experiment_dir):
                info = reader.read_run_info(run_dir)
                if info is None or info.lifecycle_stage != LifecycleStage.DELETED:
                    continue
                deleted_time = reader.read_deleted_time(run_dir)
                if (
                    older_than_ms is None
                    or deleted_time is None
                    or now - deleted_time >= older_than_ms
                ):
                    found.append(info.run_id or run_dir.name)
        return found

    def hard_delete_run(self, run_id: str) -> None:
        run_dir = self._run_dir(run_id)
        shutil.rmtree(run_dir)
        with self._lock:
            self._run_dirs.pop(run_id, None)
        self.index.remove_run(run_id)

    def deleted_experiment_ids(self, older_than_ms: int | None = None) -> list[str]:
        now = _now_ms()
        found = []
        for experiment in self._all_experiments(ViewType.DELETED_ONLY):
            updated = experiment.last_update_time
            if older_than_ms is None or updated is None or now - updated >= older_than_ms:
                found.append(experiment.experiment_id)
        return found

    def hard_delete_experiment(self, experiment_id: str) -> None:
        experiment_id = str(experiment_id)
        check_experiment_id(experiment_id)
        target = self.trash / experiment_id
        if not target.is_dir():
            raise ResourceDoesNotExist(f"Could not find deleted experiment with ID {experiment_id}")
        shutil.rmtree(target)
        self._forget_runs()
        self.index.remove_experiment(experiment_id)
