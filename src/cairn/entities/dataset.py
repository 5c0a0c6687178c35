"""Datasets a run consumed, and how it consumed them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None


@dataclass(frozen=True, slots=True)
class InputTag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class DatasetInput:
    dataset: Dataset
    tags: list[InputTag] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RunInputs:
    dataset_inputs: list[DatasetInput] = field(default_factory=list)
