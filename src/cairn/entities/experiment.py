"""Experiments and their tags."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ExperimentTag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Experiment:
    """A named group of runs. ``tags`` maps key to value, as in MLflow."""

    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None
