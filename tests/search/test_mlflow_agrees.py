"""Cairn's in-Python search agrees with the reference MLflow's on MLflow-valid filters.

The same runs are built on both sides; a few hundred random filters (MLflow's grammar
only: comparisons joined by AND) and order_by lists are evaluated by
``mlflow.utils.search_utils.SearchUtils.filter``/``sort`` in the reference interpreter and
by ``cairn.search.evaluate``, and the ordered run ids must be equal.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cairn.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunTag,
)
from cairn.search.evaluate import run_matches, sort_runs
from cairn.search.grammar import parse_run_filter, parse_run_order_by

pytestmark = pytest.mark.mlflow

METRIC_KEYS = ["m1", "m2", "f1 score"]
METRIC_VALUES = [0.0, 1.0, -1.5, 2.5, 0.1, float("nan"), math.inf]
PARAM_KEYS = ["p1", "lr"]
PARAM_VALUES = ["0.01", "10", "9", "abc", "ABC", "a_b", "a%b", "a.b", "", "x y"]
TAG_KEYS = ["t1", "team"]
TAG_VALUES = ["vision", "Vision", "nlp", "a_b", ""]
NAMES = ["alpha", "Alpha", "beta", "run_1"]
STATUSES = ["RUNNING", "FINISHED", "FAILED", "KILLED"]
DATASETS = [("iris", "d1", "train"), ("iris", "d2", "eval"), ("mnist", "d3", None)]
PATTERNS = ["%", "a%", "%b", "_", "A%", "%_%", "a_b", "a.b", "%.%"]


def _random_runs(rng: random.Random, count: int) -> list[dict[str, Any]]:
    runs = []
    for index in range(count):
        runs.append(
            {
                "run_id": f"run{index:02d}",
                "start_time": rng.choice([1000, 2000, 2000, 3000]),
                "end_time": rng.choice([None, 5000, 6000]),
                "status": rng.choice(STATUSES),
                "run_name": rng.choice(NAMES),
                "user_id": rng.choice(["alice", "bob"]),
                "metrics": {
                    k: rng.choice(METRIC_VALUES)
                    for k in rng.sample(METRIC_KEYS, rng.randint(0, len(METRIC_KEYS)))
                },
                "params": {
                    k: rng.choice(PARAM_VALUES)
                    for k in rng.sample(PARAM_KEYS, rng.randint(0, len(PARAM_KEYS)))
                },
                "tags": {
                    k: rng.choice(TAG_VALUES)
                    for k in rng.sample(TAG_KEYS, rng.randint(0, len(TAG_KEYS)))
                },
                "datasets": rng.sample(DATASETS, rng.randint(0, 2)),
            }
        )
    return runs


def _quoted(text: str) -> str:
    return f"'{text}'"


def _key(key: str) -> str:
    return f"`{key}`" if " " in key else key


def _random_comparison(rng: random.Random, run_ids: list[str]) -> str:
    kind = rng.choice(["metric", "param", "tag", "attr", "num", "dataset", "in"])
    numeric_ops = ["=", "!=", "<", "<=", ">", ">="]
    string_ops = ["=", "!=", "LIKE", "ILIKE"]
    if kind == "metric":
        value = rng.choice([0.0, 1.0, -1.5, 2.5, 0.1, 0.05])
        key = _key(rng.choice([*METRIC_KEYS, "absent"]))
        return f"metrics.{key} {rng.choice(numeric_ops)} {value!r}"
    if kind in ("param", "tag"):
        keys, values = (PARAM_KEYS, PARAM_VALUES) if kind == "param" else (TAG_KEYS, TAG_VALUES)
        value = rng.choice(values + PATTERNS)
        key = rng.choice([*keys, "absent"])
        return f"{kind}s.{key} {rng.choice(string_ops)} {_quoted(value)}"
    if kind == "attr":
        key = rng.choice(["status", "run_name", "user_id"])
        value = rng.choice(STATUSES + NAMES + PATTERNS + ["alice"])
        return f"attributes.{key} {rng.choice(string_ops)} {_quoted(value)}"
    if kind == "num":
        key = rng.choice(["start_time", "end_time", "created"])
        return f"{key} {rng.choice(numeric_ops)} {rng.choice([1000, 2000, 5000, 6000])}"
    if kind == "dataset":
        key = rng.choice(["name", "digest", "context"])
        value = rng.choice(["iris", "mnist", "d1", "d3", "train", "eval", "%", "i%"])
        return f"datasets.{key} {rng.choice(string_ops)} {_quoted(value)}"
    ids = rng.sample([*run_ids, "nope"], rng.randint(1, 4))
    return f"run_id {rng.choice(['IN', 'NOT IN'])} ({', '.join(map(_quoted, ids))})"


def _random_order_by(rng: random.Random) -> list[str]:
    keys = (
        [f"metrics.{_key(k)}" for k in METRIC_KEYS]
        + [f"params.{k}" for k in PARAM_KEYS]
        + [f"tags.{k}" for k in TAG_KEYS]
        + ["start_time", "end_time", "status", "run_name", "run_id", "user_id"]
    )
    return [rng.choice(keys) + rng.choice(["", " ASC", " DESC"]) for _ in range(rng.randint(0, 2))]


def _cairn_run(spec: dict[str, Any]) -> Run:
    info = RunInfo(
        spec["run_id"],
        "0",
        spec["user_id"],
        spec["status"],
        spec["start_time"],
        spec["end_time"],
        "active",
        "file:///tmp/a",
        run_name=spec["run_name"],
    )
    data = RunData(
        [Metric(k, v, 0, 0) for k, v in spec["metrics"].items()],
        [Param(k, v) for k, v in spec["params"].items()],
        [RunTag(k, v) for k, v in spec["tags"].items()],
    )
    inputs = RunInputs(
        [
            DatasetInput(
                Dataset(name, digest, "local", "{}"),
                [InputTag("mlflow.data.context", ctx)] if ctx else [],
            )
            for name, digest, ctx in spec["datasets"]
        ]
    )
    return Run(info, data, inputs)


_MLFLOW_SCRIPT = """
import json, sys
from mlflow.entities import (Dataset, DatasetInput, InputTag, Metric, Param, Run, RunData,
                             RunInfo, RunInputs, RunTag)
from mlflow.utils.search_utils import SearchUtils
request = json.load(sys.stdin)
runs = []
for s in request["runs"]:
    info = RunInfo(s["run_id"], "0", s["user_id"], s["status"], s["start_time"],
                   s["end_time"], "active", "file:///tmp/a", run_name=s["run_name"])
    data = RunData([Metric(k, float(v), 0, 0) for k, v in s["metrics"].items()],
                   [Param(k, v) for k, v in s["params"].items()],
                   [RunTag(k, v) for k, v in s["tags"].items()])
    inputs = RunInputs([DatasetInput(Dataset(n, d, "local", "{}"),
                                     [InputTag("mlflow.data.context", c)] if c else [])
                        for n, d, c in s["datasets"]])
    runs.append(Run(info, data, inputs))
out = []
for filter_string, order_by in request["cases"]:
    found = SearchUtils.sort(SearchUtils.filter(runs, filter_string), order_by)
    out.append([r.info.run_id for r in found])
print(json.dumps(out))
"""


def test_python_search_agrees_with_mlflow(mlflow_python: Path) -> None:
    rng = random.Random(7)
    specs = _random_runs(rng, 30)
    run_ids = [spec["run_id"] for spec in specs]
    cases = []
    for _ in range(400):
        clauses = [_random_comparison(rng, run_ids) for _ in range(rng.randint(1, 3))]
        cases.append((" AND ".join(clauses), _random_order_by(rng)))
    # JSON has no NaN/inf literals that every parser accepts; send them as strings
    wire_specs = [
        {**spec, "metrics": {k: str(v) for k, v in spec["metrics"].items()}} for spec in specs
    ]
    completed = subprocess.run(
        [str(mlflow_python), "-c", _MLFLOW_SCRIPT],
        input=json.dumps({"runs": wire_specs, "cases": cases}),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    mlflow_results = json.loads(completed.stdout.strip().splitlines()[-1])

    runs = [_cairn_run(spec) for spec in specs]
    disagreements = []
    for (filter_string, order_by), expected in zip(cases, mlflow_results, strict=True):
        node = parse_run_filter(filter_string)
        matched = [run for run in runs if run_matches(node, run)]
        got = [run.info.run_id for run in sort_runs(matched, parse_run_order_by(order_by))]
        if got != expected:
            disagreements.append((filter_string, order_by, got, expected))
    assert disagreements == []
