"""SQL search agrees with the reference in-memory evaluation (cairn.search.evaluate)."""

from __future__ import annotations

import math

import pytest

from cairn.entities import (
    Dataset,
    DatasetInput,
    ExperimentTag,
    InputTag,
    Metric,
    Param,
    RunStatus,
    RunTag,
    ViewType,
)
from cairn.search.evaluate import experiment_matches, run_matches, sort_experiments, sort_runs
from cairn.search.grammar import (
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_run_filter,
    parse_run_order_by,
)
from cairn.store.sql.store import SqlStore

# (name, metrics, params, tags, start_time)
RUNS = [
    ("alpha", {"acc": 0.9, "loss": 0.1}, {"lr": "0.01", "opt": "Adam"}, {"team": "Vision"}, 5),
    ("Beta", {"acc": 0.5, "loss": math.nan}, {"lr": "0.1", "opt": "adam"}, {"team": "nlp"}, 3),
    ("gamma", {"acc": math.inf}, {"lr": "abc"}, {"team": "vision", "x": "a_b"}, 3),
    ("delta", {"loss": -math.inf}, {"opt": "SGD"}, {}, 9),
    ("épsilon", {}, {"lr": "1e-3", "opt": "Zeta"}, {"x": "a%b"}, 1),
    ("zeta", {"acc": 0.5}, {"lr": "0.1"}, {"team": "NLP"}, 7),
]

RUN_FILTERS = [
    "",
    "metrics.acc > 0.5",
    "metrics.acc >= 0.5",
    "metrics.acc = 0.5",
    "metrics.acc != 0.5",
    "metrics.loss < 1",
    "metrics.loss != 0.1",
    "metrics.loss <= -1e308",
    "params.lr = '0.1'",
    "params.lr != '0.1'",
    "params.lr > 0.05",
    "params.lr <= 0.01",
    "params.opt LIKE 'A%'",
    "params.opt ILIKE 'a%'",
    "params.opt LIKE '%a%'",
    "tags.team = 'vision'",
    "tags.team ILIKE 'VISION'",
    "tags.team LIKE '_lp'",
    "tags.x LIKE 'a_b'",
    "tags.x LIKE 'a%%b'",
    "attributes.run_name LIKE '%a'",
    "attributes.run_name ILIKE 'b%'",
    "attributes.run_name = 'épsilon'",
    "attributes.run_name ILIKE 'É%'",  # ILIKE folds every letter, not ASCII only
    "attributes.run_name != 'alpha'",
    "attributes.status = 'FINISHED'",
    "attributes.start_time > 3",
    "attributes.end_time > 0",
    "attributes.end_time != 100",
    "attributes.user_id = 'bob'",
    "metrics.acc > 0 AND params.opt ILIKE 'adam'",
    "metrics.acc > 0.6 OR tags.team = 'NLP'",
    "(metrics.acc < 1 OR metrics.loss < 0) AND attributes.start_time < 9",
    "dataset.name = 'train-set'",
    "dataset.context = 'eval'",
    "dataset.digest IN ('d1', 'zz')",
    "dataset.name NOT IN ('train-set')",
]

RUN_ORDERS = [
    None,
    ["metrics.acc"],
    ["metrics.acc DESC"],
    ["metrics.loss ASC", "attributes.run_name DESC"],
    ["params.lr"],
    ["params.opt DESC"],
    ["tags.team"],
    ["attributes.run_name"],
    ["attributes.end_time DESC"],
    ["attributes.status", "metrics.acc DESC"],
    ["attributes.user_id"],
]


@pytest.fixture
def populated(sql_store: SqlStore) -> tuple[SqlStore, str]:
    exp_id = sql_store.create_experiment("search")
    for index, (name, metrics, params, tags, start) in enumerate(RUNS):
        run_id = sql_store.create_run(
            exp_id, "bob" if index % 2 else "alice", start, [], name
        ).info.run_id
        sql_store.log_batch(
            run_id,
            [Metric(k, v, 0, 0) for k, v in metrics.items()],
            [Param(k, v) for k, v in params.items()],
            [RunTag(k, v) for k, v in tags.items()],
        )
        if index % 3 == 0:
            sql_store.update_run_info(run_id, RunStatus.FINISHED, 100 + index, None)
        if index < 3:
            context = "train" if index < 2 else "eval"
            sql_store.log_inputs(
                run_id,
                [
                    DatasetInput(
                        Dataset("train-set", f"d{index}", "local", "{}"),
                        [InputTag("mlflow.data.context", context)],
                    )
                ],
            )
    return sql_store, exp_id


def _names(runs: list) -> list[str]:  # type: ignore[type-arg]
    return [run.info.run_name for run in runs]


# One populated store per backend serves every case: setting one up is the slow part.


def test_run_filters_agree_with_the_reference(populated: tuple[SqlStore, str]) -> None:
    store, exp_id = populated
    everything = store.search_runs([exp_id], "")
    for filter_string in RUN_FILTERS:
        node = parse_run_filter(filter_string)
        expected = sorted(_names([run for run in everything if run_matches(node, run)]))
        found = sorted(_names(store.search_runs([exp_id], filter_string)))
        assert found == expected, filter_string


def test_run_orders_agree_with_the_reference(populated: tuple[SqlStore, str]) -> None:
    store, exp_id = populated
    everything = store.search_runs([exp_id], "")
    for order_by in RUN_ORDERS:
        expected = _names(sort_runs(everything, parse_run_order_by(order_by)))
        found = _names(store.search_runs([exp_id], "", order_by=order_by))
        assert found == expected, order_by
        # paging two runs at a time yields the same order
        paged: list[str] = []
        token = None
        while True:
            page = store.search_runs(
                [exp_id], "", max_results=2, order_by=order_by, page_token=token
            )
            paged += _names(page)
            token = page.token
            if token is None:
                break
        assert paged == expected, order_by


def test_ilike_folds_letters_beyond_ascii(populated: tuple[SqlStore, str]) -> None:
    store, exp_id = populated
    assert _names(store.search_runs([exp_id], "attributes.run_name ILIKE 'ÉPS%'")) == ["épsilon"]
    assert _names(store.search_runs([exp_id], "attributes.run_name LIKE 'É%'")) == []


def test_search_spans_experiments_and_view_types(sql_store: SqlStore) -> None:
    first, second = sql_store.create_experiment("one"), sql_store.create_experiment("two")
    kept = sql_store.create_run(first, "u", 1, [], "kept").info.run_id
    sql_store.create_run(second, "u", 2, [], "other")
    gone = sql_store.create_run(second, "u", 3, [], "gone").info.run_id
    sql_store.delete_run(gone)
    assert _names(sql_store.search_runs([first, second])) == ["other", "kept"]
    assert _names(sql_store.search_runs([second], "", ViewType.DELETED_ONLY)) == ["gone"]
    assert _names(sql_store.search_runs([first, second], "", ViewType.ALL)) == [
        "gone",
        "other",
        "kept",
    ]
    assert _names(sql_store.search_runs([first], f"attributes.run_id IN ('{kept}')")) == ["kept"]


TRICKY_VALUES = [
    'q"uote',
    "back\\slash",
    "line\nbreak\ttab",
    "é😀\u2028",
    "\x1f\x7f",
    "",
    "x" * 6000,
]


def test_listed_params_and_tags_keep_every_character(sql_store: SqlStore) -> None:
    """A page reads a run's params and tags as one JSON object on SQLite: the values
    come back exactly as logged, whatever they hold, and runs without any stay empty."""
    experiment_id = sql_store.create_experiment("chars")
    run_id = sql_store.create_run(experiment_id, "u", 1, [], "tricky").info.run_id
    bare = sql_store.create_run(experiment_id, "u", 2, [], "bare").info.run_id
    expected = {f"k{i}": value for i, value in enumerate(TRICKY_VALUES)}
    sql_store.log_batch(
        run_id,
        params=[Param(key, value) for key, value in expected.items()],
        tags=[RunTag(key, value) for key, value in expected.items()],
    )
    listed = {run.info.run_id: run for run in sql_store.search_runs([experiment_id])}
    assert listed[run_id].data.params == expected
    tags = listed[run_id].data.tags
    assert {key: tags[key] for key in expected} == expected
    assert listed[bare].data.params == {}
    assert listed[bare].data.tags == {"mlflow.runName": "bare"}


def test_order_by_experiment_id_is_numeric_as_in_the_reference(sql_store: SqlStore) -> None:
    ids = [sql_store.create_experiment(f"e{n}") for n in range(11)]  # ids reach 10 and 11
    for start, exp_id in enumerate(ids):
        sql_store.create_run(exp_id, "u", start, [], f"run-{exp_id}")
    everything = sql_store.search_runs(ids, "")
    for order_by in (["attributes.experiment_id"], ["attributes.experiment_id DESC"]):
        expected = _names(sort_runs(everything, parse_run_order_by(order_by)))
        assert _names(sql_store.search_runs(ids, "", order_by=order_by)) == expected
    assert _names(sql_store.search_runs(ids, "", order_by=["attributes.experiment_id"]))[-1] == (
        f"run-{max(ids, key=int)}"
    )


EXPERIMENT_FILTERS = [
    "",
    "name = 'Apple'",
    "name LIKE 'a%'",
    "name ILIKE 'a%'",
    "tags.owner = 'me'",
    "tags.owner != 'me'",
    "tags.owner LIKE 'M%'",
    "attributes.creation_time > 0",
    "name != 'Default' AND tags.owner ILIKE 'me'",
]
EXPERIMENT_ORDERS = [None, ["name"], ["name DESC"], ["experiment_id DESC"], ["last_update_time"]]


def test_experiment_search_agrees_with_the_reference(sql_store: SqlStore) -> None:
    for name, owner in (("Apple", "me"), ("avocado", "Me"), ("banana", None), ("Cherry", "you")):
        tags = [ExperimentTag("owner", owner)] if owner else []
        sql_store.create_experiment(name, None, tags)
    everything = sql_store.search_experiments(ViewType.ALL)
    for filter_string in EXPERIMENT_FILTERS:
        for order_by in EXPERIMENT_ORDERS:
            node = parse_experiment_filter(filter_string)
            matching = [exp for exp in everything if experiment_matches(node, exp)]
            keys = parse_experiment_order_by(order_by)
            expected = [exp.name for exp in sort_experiments(matching, keys)]
            found = sql_store.search_experiments(ViewType.ALL, 1000, filter_string, order_by)
            assert [exp.name for exp in found] == expected, (filter_string, order_by)
