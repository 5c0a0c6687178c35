"""Plain data: what Cairn stores and returns. No I/O and no wire format here."""

from cairn.entities.artifacts import FileInfo, PagedList
from cairn.entities.dataset import Dataset, DatasetInput, InputTag, RunInputs
from cairn.entities.experiment import Experiment, ExperimentTag
from cairn.entities.lifecycle import LifecycleStage, RunStatus, ViewType
from cairn.entities.metric_buckets import Bucket, DownsampledHistory
from cairn.entities.run import Metric, Param, Run, RunData, RunInfo, RunTag

__all__ = [
    "Bucket",
    "Dataset",
    "DatasetInput",
    "DownsampledHistory",
    "Experiment",
    "ExperimentTag",
    "FileInfo",
    "InputTag",
    "LifecycleStage",
    "Metric",
    "PagedList",
    "Param",
    "Run",
    "RunData",
    "RunInfo",
    "RunInputs",
    "RunStatus",
    "RunTag",
    "ViewType",
]
