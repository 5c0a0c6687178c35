"""Filters and order_by evaluated on hand-built runs and experiments."""

from __future__ import annotations

import dataclasses
import math

import pytest

from cairn.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunTag,
)
from cairn.search.evaluate import experiment_matches, run_matches, sort_experiments, sort_runs
from cairn.search.grammar import (
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_run_filter,
    parse_run_order_by,
)


def make_run(
    run_id: str,
    *,
    metrics: dict[str, float] | None = None,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    status: str = "FINISHED",
    start_time: int | None = 1000,
    end_time: int | None = None,
    run_name: str | None = None,
    datasets: list[tuple[str, str, str | None]] | None = None,
) -> Run:
    info = RunInfo(
        run_uuid=run_id,
        experiment_id="0",
        user_id="alice",
        status=status,
        start_time=start_time,
        end_time=end_time,
        lifecycle_stage="active",
        artifact_uri=f"file:///tmp/{run_id}/artifacts",
        run_name=run_name if run_name is not None else f"name-{run_id}",
    )
    data = RunData(
        metrics=[Metric(k, v, 0, 0) for k, v in (metrics or {}).items()],
        params=[Param(k, v) for k, v in (params or {}).items()],
        tags=[RunTag(k, v) for k, v in (tags or {}).items()],
    )
    inputs = RunInputs(
        [
            DatasetInput(
                Dataset(name, digest, "local", "{}"),
                [InputTag("mlflow.data.context", context)] if context is not None else [],
            )
            for name, digest, context in datasets or []
        ]
    )
    return Run(info, data, inputs)


RUNS = [
    make_run(
        "r1",
        metrics={"acc": 0.9, "loss": 0.1},
        params={"lr": "0.01", "model": "CNN"},
        tags={"team": "vision"},
        datasets=[("iris", "abc123", "train"), ("iris-test", "def456", "eval")],
    ),
    make_run(
        "r2",
        metrics={"acc": 0.7, "loss": float("nan")},
        params={"lr": "1e-3", "model": "cnn_v2"},
        tags={"team": "nlp"},
        status="FAILED",
        start_time=2000,
        end_time=2500,
        run_name="Best run",
    ),
    make_run(
        "r3",
        metrics={"acc": 0.7},
        params={"lr": "auto", "model": "a.b"},
        status="RUNNING",
        start_time=None,
        datasets=[("mnist", "0000", None)],
    ),
    make_run("r4", metrics={"loss": -1.0}, params={"lr": " 5", "layers": "10"}, start_time=3000),
]


def matching(filter_string: str) -> list[str]:
    node = parse_run_filter(filter_string)
    return [run.info.run_id for run in RUNS if run_matches(node, run)]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("", ["r1", "r2", "r3", "r4"]),
        ("metrics.acc > 0.8", ["r1"]),
        ("metrics.acc = 0.7", ["r2", "r3"]),
        ("metrics.acc != 0.7", ["r1"]),  # r4 has no acc: missing never matches
        ("metrics.acc >= 0.7", ["r1", "r2", "r3"]),
        # NaN satisfies only !=
        ("metrics.loss < 100", ["r1", "r4"]),
        ("metrics.loss >= -100", ["r1", "r4"]),
        ("metrics.loss != 0.1", ["r2", "r4"]),
        ("params.model = 'CNN'", ["r1"]),
        ("params.model != 'CNN'", ["r2", "r3"]),  # r4 has no model param
        ("params.model LIKE 'cnn%'", ["r2"]),
        ("params.model ILIKE 'cnn%'", ["r1", "r2"]),
        ("params.model LIKE 'CN_'", ["r1"]),
        ("params.model LIKE 'C_'", []),
        ("params.model LIKE '%'", ["r1", "r2", "r3"]),
        ("params.model LIKE 'a.b'", ["r3"]),
        ("params.model LIKE 'a_b'", ["r3"]),
        ("params.model LIKE 'a.%'", ["r3"]),
        ("params.model LIKE 'N'", []),  # anchored: no substring match
        ("params.model LIKE '%N'", ["r1"]),
        ("params.lr = '0.01'", ["r1"]),
        ("params.lr = '0.010'", []),  # quoted: string semantics
        # Cairn extension: unquoted number -> numeric; only plain numbers take part
        ("params.lr = 0.010", ["r1"]),
        ("params.lr < 0.1", ["r1", "r2"]),
        ("params.lr > 0", ["r1", "r2"]),  # " 5" has a space: not a plain number
        ("params.layers >= 9", ["r4"]),
    ],
)
def test_run_filters(filter_string: str, expected: list[str]) -> None:
    assert matching(filter_string) == expected


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("tags.team = 'vision'", ["r1"]),
        ("tags.team != 'vision'", ["r2"]),
        ("tags.team ILIKE 'NLP'", ["r2"]),
        ("tags.missing != 'x'", []),
        ("status = 'FINISHED'", ["r1", "r4"]),
        ("attributes.status != 'FINISHED'", ["r2", "r3"]),
        ("status LIKE 'F%'", ["r1", "r2", "r4"]),
        ("run_id IN ('r1', 'r3', 'zz')", ["r1", "r3"]),
        ("run_id NOT IN ('r1', 'r3')", ["r2", "r4"]),
        ("run_name = 'Best run'", ["r2"]),
        ("`Run Name` ILIKE 'best%'", ["r2"]),
        ("user_id = 'alice'", ["r1", "r2", "r3", "r4"]),
        ("artifact_uri LIKE '%r4%'", ["r4"]),
        ("start_time > 1500", ["r2", "r4"]),
        ("created <= 2000", ["r1", "r2"]),  # r3 has no start time
        ("start_time != 1000", ["r2", "r4"]),
        ("end_time = 2500", ["r2"]),
        ("end_time != 2500", []),  # other runs have no end time
        ("datasets.name = 'iris-test'", ["r1"]),
        ("datasets.name LIKE 'iris%'", ["r1"]),
        ("datasets.digest = '0000'", ["r3"]),
        ("datasets.context = 'eval'", ["r1"]),
        ("datasets.context IN ('train')", ["r1"]),
        ("datasets.context != 'x'", ["r1"]),  # r3's input has no context
        ("datasets.name NOT IN ('iris')", ["r1", "r3"]),  # any input matching counts
        # AND, OR, parentheses
        ("metrics.acc = 0.7 AND status = 'FAILED'", ["r2"]),
        ("metrics.acc > 0.8 OR metrics.loss < 0", ["r1", "r4"]),
        ("status = 'RUNNING' OR metrics.acc > 0.8 AND params.model = 'x'", ["r3"]),
        ("(status = 'RUNNING' OR metrics.acc > 0.8) AND params.model = 'CNN'", ["r1"]),
    ],
)
def test_tag_attribute_dataset_and_boolean_filters(filter_string: str, expected: list[str]) -> None:
    assert matching(filter_string) == expected


def test_like_is_case_sensitive_and_spans_newlines() -> None:
    run = make_run("x", params={"text": "Hello\nWorld"})
    assert run_matches(parse_run_filter("params.text LIKE 'Hello%'"), run)
    assert run_matches(parse_run_filter("params.text LIKE '%World'"), run)
    assert not run_matches(parse_run_filter("params.text LIKE 'hello%'"), run)
    assert run_matches(parse_run_filter("params.text ILIKE 'HELLO_WORLD'"), run)


def test_regex_characters_in_like_patterns_are_literal() -> None:
    run = make_run("x", tags={"t": "a+b(c)"})
    assert run_matches(parse_run_filter("tags.t LIKE 'a+b(c)'"), run)
    assert not run_matches(parse_run_filter("tags.t LIKE 'aab(c)'"), run)
    assert run_matches(parse_run_filter("tags.t LIKE '%(_)'"), run)


def test_metric_filter_uses_latest_value() -> None:
    # RunData holds the latest point of each metric, which is what filters compare
    run = make_run("x", metrics={"m": 3.0})
    assert run_matches(parse_run_filter("metrics.m = 3"), run)
    assert not run_matches(parse_run_filter("metrics.m = 2"), run)


def test_numeric_param_extension_accepts_signs_and_exponents() -> None:
    for value, matches in [("+1", True), ("-0.5", False), ("1E2", True), (".5", False)]:
        run = make_run("x", params={"p": value})
        assert run_matches(parse_run_filter("params.p > 0.9"), run) is matches, value
    for value in ["nan", "inf", "1_000", "0x10", "", "1 "]:
        run = make_run("x", params={"p": value})
        assert not run_matches(parse_run_filter("params.p != 0"), run), value


# ---------------------------------------------------------------------------------------
# Sorting
# ---------------------------------------------------------------------------------------


def order(runs: list[Run], *clauses: str) -> list[str]:
    return [run.info.run_id for run in sort_runs(runs, parse_run_order_by(list(clauses)))]


def test_default_order_is_newest_first_then_run_id() -> None:
    runs = [
        make_run("b", start_time=5),
        make_run("a", start_time=5),
        make_run("c", start_time=9),
        make_run("d", start_time=None),
    ]
    assert order(runs) == ["c", "a", "b", "d"]


METRIC_RUNS = [
    make_run("nan", metrics={"m": float("nan")}),
    make_run("none"),
    make_run("low", metrics={"m": -math.inf}),
    make_run("mid", metrics={"m": 1.0}),
    make_run("high", metrics={"m": math.inf}),
    make_run("mid2", metrics={"m": 1.0}),
]


def test_metric_order_ascending_puts_nan_then_missing_last() -> None:
    assert order(METRIC_RUNS, "metrics.m") == ["low", "mid", "mid2", "high", "nan", "none"]


def test_metric_order_descending_still_puts_nan_then_missing_last() -> None:
    # ties (mid, mid2) fall to the tie-breakers: same start_time, then run_id ascending
    assert order(METRIC_RUNS, "metrics.m DESC") == ["high", "mid", "mid2", "low", "nan", "none"]


def test_params_and_tags_sort_as_strings() -> None:
    runs = [
        make_run("a", params={"p": "10"}, tags={"t": "b"}),
        make_run("b", params={"p": "9"}, tags={"t": "B"}),
        make_run("c", params={"p": "100"}),
    ]
    assert order(runs, "params.p") == ["a", "c", "b"]
    assert order(runs, "params.p DESC") == ["b", "c", "a"]
    assert order(runs, "tags.t") == ["b", "a", "c"]
    assert order(runs, "tags.t DESC") == ["a", "b", "c"]


def test_multiple_keys_and_explicit_tie_breakers() -> None:
    runs = [
        make_run("a", status="FINISHED", start_time=1),
        make_run("b", status="FAILED", start_time=2),
        make_run("c", status="FINISHED", start_time=3),
        make_run("d", status="FAILED", start_time=2),
    ]
    assert order(runs, "status", "start_time") == ["b", "d", "a", "c"]
    assert order(runs, "status DESC", "run_id DESC") == ["c", "a", "d", "b"]
    assert order(runs, "attributes.run_name DESC") == ["d", "c", "b", "a"]
    assert order(runs, "end_time") == ["c", "b", "d", "a"]  # all missing: tie-breakers decide


def test_runs_sort_by_experiment_id_as_numbers_like_the_sql_store() -> None:
    runs = [
        dataclasses.replace(run, info=dataclasses.replace(run.info, experiment_id=exp_id))
        for run, exp_id in ((make_run("a"), "10"), (make_run("b"), "9"), (make_run("c"), "2"))
    ]
    assert order(runs, "attributes.experiment_id") == ["c", "b", "a"]
    assert order(runs, "attributes.experiment_id DESC") == ["a", "b", "c"]


def test_sort_is_not_in_place_and_accepts_iterables() -> None:
    runs = [make_run("a", start_time=1), make_run("b", start_time=2)]
    assert [r.info.run_id for r in sort_runs(iter(runs), parse_run_order_by(None))] == ["b", "a"]
    assert [r.info.run_id for r in runs] == ["a", "b"]


# ---------------------------------------------------------------------------------------
# Experiments
# ---------------------------------------------------------------------------------------


def make_experiment(
    experiment_id: str, name: str, created: int | None, tags: dict[str, str] | None = None
) -> Experiment:
    return Experiment(
        experiment_id, name, f"/tmp/{experiment_id}", "active", tags or {}, created, created
    )


EXPERIMENTS = [
    make_experiment("0", "Default", 100),
    make_experiment("2", "vision-cnn", 300, {"team": "vision"}),
    make_experiment("10", "nlp", 300, {"team": "nlp"}),
    make_experiment("3", "Vision-ViT", None),
]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("name = 'nlp'", ["10"]),
        ("name LIKE 'vision%'", ["2"]),
        ("name ILIKE 'vision%'", ["2", "3"]),
        ("name != 'nlp'", ["0", "2", "3"]),
        ("creation_time >= 300", ["2", "10"]),
        ("last_update_time < 300", ["0"]),
        ("experiment_id IN ('0', '3')", ["0", "3"]),
        ("tags.team = 'vision' OR name = 'Default'", ["0", "2"]),
        ("tags.team != 'vision'", ["10"]),
    ],
)
def test_experiment_filters(filter_string: str, expected: list[str]) -> None:
    node = parse_experiment_filter(filter_string)
    assert [e.experiment_id for e in EXPERIMENTS if experiment_matches(node, e)] == expected


@pytest.mark.parametrize(
    ("clauses", "expected"),
    [
        (None, ["2", "10", "0", "3"]),  # creation_time DESC, then id as a number
        (["name"], ["0", "3", "10", "2"]),
        (["experiment_id"], ["0", "2", "3", "10"]),
        (["experiment_id DESC"], ["10", "3", "2", "0"]),
        (["tags.team DESC"], ["2", "10", "0", "3"]),
        (["creation_time"], ["0", "2", "10", "3"]),
    ],
)
def test_experiment_order(clauses: list[str] | None, expected: list[str]) -> None:
    ordered = sort_experiments(EXPERIMENTS, parse_experiment_order_by(clauses))
    assert [e.experiment_id for e in ordered] == expected
