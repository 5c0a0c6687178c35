"""Runs as a pandas DataFrame, in the shape MLflow's ``search_runs`` returns.

Columns: run_id, experiment_id, status, artifact_uri, start_time and end_time (UTC
datetimes), then ``metrics.<key>``, ``params.<key>`` and ``tags.<key>`` in the order the
keys are first met. A run without a key gets NaN for a metric and None otherwise.
Only imported when a DataFrame is asked for, so ``import cairn`` never loads pandas.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cairn.entities import Run


def _column(values: dict[str, list[Any]], key: str, row: int, value: Any, missing: Any) -> None:
    column = values.get(key)
    if column is None:
        column = values[key] = [missing] * row
    column.append(value)


def _utc_datetime(millis: int | None) -> pd.Timestamp | None:
    return None if millis is None else pd.to_datetime(millis, unit="ms", utc=True)


def runs_to_dataframe(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per run, with MLflow's columns and dtypes."""
    info: dict[str, list[Any]] = {
        "run_id": [],
        "experiment_id": [],
        "status": [],
        "artifact_uri": [],
        "start_time": [],
        "end_time": [],
    }
    metrics: dict[str, list[Any]] = {}
    params: dict[str, list[Any]] = {}
    tags: dict[str, list[Any]] = {}
    for row, run in enumerate(runs):
        info["run_id"].append(run.info.run_id)
        info["experiment_id"].append(run.info.experiment_id)
        info["status"].append(run.info.status)
        info["artifact_uri"].append(run.info.artifact_uri)
        info["start_time"].append(_utc_datetime(run.info.start_time))
        info["end_time"].append(_utc_datetime(run.info.end_time))
        for values, data, missing in (
            (metrics, run.data.metrics, np.nan),
            (params, run.data.params, None),
            (tags, run.data.tags, None),
        ):
            for key, value in data.items():
                _column(values, key, row, value, missing)
            for column in values.values():
                if len(column) == row:  # this run lacks the key
                    column.append(missing)
    columns: dict[str, list[Any]] = dict(info)
    columns.update({f"metrics.{k}": v for k, v in metrics.items()})
    columns.update({f"params.{k}": v for k, v in params.items()})
    columns.update({f"tags.{k}": v for k, v in tags.items()})
    return pd.DataFrame(columns)
