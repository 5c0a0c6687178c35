"""Reading experiments and runs out of their directories (the store's read half).

Readers are forgiving, as MLflow's are: a directory without a ``meta.yaml`` (a crash
mid-create, or an unrelated folder) is skipped rather than breaking a listing.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cairn.entities import (
    DatasetInput,
    Experiment,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunTag,
)
from cairn.store.file import caches, layout


def list_subdirs(directory: Path) -> Iterator[os.DirEntry[str]]:
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield entry


def read_experiment(experiment_dir: Path) -> Experiment | None:
    """The experiment in ``experiment_dir``, or None if it has no (or a broken) meta file."""
    meta = layout.load_yaml(experiment_dir / layout.META)
    if meta is None or "experiment_id" not in meta:
        return None
    tags = layout.read_key_values(experiment_dir / layout.TAGS)
    experiment = layout.experiment_from_meta(meta, tags)
    # MLflow ignores an experiment whose recorded id disagrees with its directory name
    if experiment.experiment_id != experiment_dir.name:
        return None
    return experiment


def read_run_meta(run_dir: Path) -> tuple[dict[str, Any], RunInfo] | None:
    """A run's meta.yaml mapping and the info it states; None when the file is missing
    or names no run or no experiment."""
    meta = layout.load_yaml(run_dir / layout.META)
    if meta is None or not (meta.get("run_id") or meta.get("run_uuid")):
        return None
    if "experiment_id" not in meta:
        return None
    return meta, layout.run_info_from_meta(meta)


def read_run_info(run_dir: Path) -> RunInfo | None:
    found = read_run_meta(run_dir)
    return None if found is None else found[1]


def read_deleted_time(run_dir: Path) -> int | None:
    meta = layout.load_yaml(run_dir / layout.META) or {}
    value = meta.get("deleted_time")
    return None if value is None else int(value)


def read_latest_metrics(run_dir: Path, cache: caches.LatestPoints) -> list[Metric]:
    """The latest point of each of a run's metrics; ``cache`` spares re-reading what a
    file held the last time it was asked."""
    latest = []
    for key, path in layout.iter_key_files(run_dir / layout.METRICS):
        try:
            point = cache.get(str(path), key)
        except FileNotFoundError:
            continue
        if point is not None:
            latest.append(point)
    return latest


def read_params(run_dir: Path) -> dict[str, str]:
    return layout.read_key_values(run_dir / layout.PARAMS)


def read_tags(run_dir: Path) -> dict[str, str]:
    return layout.read_key_values(run_dir / layout.TAGS)


def read_inputs(run_dir: Path, experiment_dir: Path) -> list[DatasetInput]:
    """The datasets a run consumed; an input whose dataset file is gone is skipped."""
    inputs = []
    for entry in sorted(list_subdirs(run_dir / layout.INPUTS), key=lambda e: e.name):
        meta = layout.load_yaml(Path(entry.path) / layout.META)
        if not meta or meta.get("source_type", "DATASET") != "DATASET":
            continue
        dataset_meta = layout.load_yaml(
            experiment_dir / layout.DATASETS / str(meta.get("source_id")) / layout.META
        )
        if dataset_meta is None:
            continue
        inputs.append(
            DatasetInput(layout.dataset_from_meta(dataset_meta), layout.input_tags_from_meta(meta))
        )
    return inputs


def read_run(run_dir: Path, info: RunInfo, latest: caches.LatestPoints) -> Run:
    """A whole run: its info (read by the caller), params, tags, the latest value of each
    metric, and its inputs."""
    tags = read_tags(run_dir)
    if not info.run_name and tags.get("mlflow.runName"):
        info = _with_run_name(info, tags["mlflow.runName"])
    data = RunData(
        metrics=read_latest_metrics(run_dir, latest),
        params=[Param(k, v) for k, v in read_params(run_dir).items()],
        tags=[RunTag(k, v) for k, v in tags.items()],
    )
    return Run(info, data, RunInputs(read_inputs(run_dir, run_dir.parent)))


def _with_run_name(info: RunInfo, run_name: str) -> RunInfo:
    return dataclasses.replace(info, run_name=run_name)


def iter_run_dirs(experiment_dir: Path) -> Iterator[Path]:
    """Every directory in an experiment that may be a run (reserved folders excluded)."""
    for entry in list_subdirs(experiment_dir):
        if layout.is_run_dir_name(entry.name):
            yield Path(entry.path)
