"""search_runs: filters over every entity, ordering, view types and paging."""

from __future__ import annotations

import math

import pytest

from cairn.entities import Dataset, DatasetInput, InputTag, RunStatus, ViewType
from cairn.exceptions import InvalidParameterValue
from cairn.store.tracking import TrackingStore
from contract.factories import T0, all_runs, ids, log, metric, names, new_experiment, new_run

CONTEXT_TAG = "mlflow.data.context"


def _populate(store: TrackingStore) -> tuple[str, str, dict[str, str]]:
    """Two experiments with five runs that differ in every searchable way.

    Returns the experiment ids and ``run name -> run id``.
    """
    first, second = new_experiment(store, "first"), new_experiment(store, "second")
    runs: dict[str, str] = {}
    # name, experiment, start offset, metrics, params, tags, status
    table = [
        ("alpha", first, 1, {"acc": 0.9, "loss": 0.3}, {"lr": "0.1", "fruit": "apple"},
         {"team": "red"}, RunStatus.FINISHED),
        ("beta", first, 2, {"acc": 0.7}, {"lr": "0.001", "fruit": "Apple"},
         {"team": "blue"}, RunStatus.FAILED),
        ("gamma", first, 3, {"loss": 0.5}, {"lr": "0.05"},
         {"team": "Red"}, RunStatus.RUNNING),
        ("delta", second, 4, {"acc": 0.95, "loss": 0.1}, {"fruit": "banana"},
         {}, RunStatus.FINISHED),
        ("epsilon", second, 5, {}, {"lr": "big"},
         {"team": "red"}, RunStatus.KILLED),
    ]  # fmt: skip
    for name, exp_id, offset, metrics, params, tags, status in table:
        run_id = new_run(store, exp_id, name=name, start_time=T0 + offset * 1000)
        log(store, run_id, metrics=metrics, params=params, tags=tags)
        if status is not RunStatus.RUNNING:
            store.update_run_info(run_id, status, T0 + offset * 1000 + 500, None)
        runs[name] = run_id
    return first, second, runs


def _dataset(name: str, digest: str) -> Dataset:
    return Dataset(name, digest, "local", f'{{"uri": "/data/{name}.csv"}}')


class SearchRunsContract:
    def test_experiment_ids_scope_the_search(self, store: TrackingStore) -> None:
        first, second, _ = _populate(store)
        assert set(names(all_runs(store, [first]))) == {"alpha", "beta", "gamma"}
        assert set(names(all_runs(store, [second]))) == {"delta", "epsilon"}
        assert len(all_runs(store, [first, second])) == 5
        assert all_runs(store, ["0"]) == []

    def test_returned_runs_carry_their_data(self, store: TrackingStore) -> None:
        first, _, runs = _populate(store)
        (found,) = all_runs(store, [first], "attributes.run_name = 'alpha'")
        assert found == store.get_run(runs["alpha"])

    def test_default_order_is_start_time_descending(self, store: TrackingStore) -> None:
        first, second, _ = _populate(store)
        assert names(all_runs(store, [first, second])) == [
            "epsilon", "delta", "gamma", "beta", "alpha"
        ]  # fmt: skip

    @pytest.mark.parametrize(
        ("filter_string", "expected"),
        [
            # metrics compare the latest value; a run without the metric never matches
            ("metrics.acc > 0.8", {"alpha", "delta"}),
            ("metrics.acc >= 0.9", {"alpha", "delta"}),
            ("metrics.acc < 0.9", {"beta"}),
            ("metrics.acc <= 0.9", {"alpha", "beta"}),
            ("metrics.acc = 0.7", {"beta"}),
            ("metrics.acc != 0.7", {"alpha", "delta"}),
            ("metric.loss > 0", {"alpha", "gamma", "delta"}),
            # params and tags compare strings; missing keys never match, even with !=
            ("params.lr = '0.1'", {"alpha"}),
            ("params.lr != '0.1'", {"beta", "gamma", "epsilon"}),
            ("param.fruit LIKE 'app%'", {"alpha"}),
            ("params.fruit ILIKE 'app%'", {"alpha", "beta"}),
            ("params.fruit LIKE '%an_na'", {"delta"}),
            ("parameters.fruit != 'apple'", {"beta", "delta"}),
            ("tags.team = 'red'", {"alpha", "epsilon"}),
            ("tags.team != 'red'", {"beta", "gamma"}),
            ("tags.team LIKE 'R%'", {"gamma"}),
            ("tags.team ILIKE 'r%'", {"alpha", "gamma", "epsilon"}),
            ("tag.`team` = 'blue'", {"beta"}),
            ("tags.\"mlflow.runName\" = 'gamma'", {"gamma"}),
            # attributes
            ("attributes.run_name = 'beta'", {"beta"}),
            ("attributes.run_name != 'beta'", {"alpha", "gamma", "delta", "epsilon"}),
            ("run_name LIKE '%ta'", {"beta", "delta"}),
            ("attributes.run_name ILIKE 'ALP%'", {"alpha"}),
            ("attributes.status = 'FINISHED'", {"alpha", "delta"}),
            ("attributes.status != 'FINISHED'", {"beta", "gamma", "epsilon"}),
            (f"attributes.start_time > {T0 + 3000}", {"delta", "epsilon"}),
            (f"attributes.start_time <= {T0 + 2000}", {"alpha", "beta"}),
            (f"attributes.end_time > {T0 + 3000}", {"delta", "epsilon"}),
            ("attributes.user_id = 'alice'", {"alpha", "beta", "gamma", "delta", "epsilon"}),
            # AND, and Cairn's OR with parentheses
            ("metrics.acc > 0.5 AND tags.team = 'red'", {"alpha"}),
            ("params.lr = '0.1' and metrics.loss < 1", {"alpha"}),
            ("tags.team = 'blue' OR metrics.loss < 0.2", {"beta", "delta"}),
            (
                "(tags.team = 'red' OR tags.team = 'blue') AND metrics.acc > 0.8",
                {"alpha"},
            ),
            (
                "tags.team = 'red' OR (params.fruit = 'banana' AND metrics.acc > 0.9)",
                {"alpha", "delta", "epsilon"},
            ),
            # Cairn's numeric comparison of params; non-numeric values never match
            ("params.lr > 0.01", {"alpha", "gamma"}),
            ("params.lr <= 0.05", {"beta", "gamma"}),
            ("params.lr = 0.1", {"alpha"}),
        ],
    )
    def test_filters(self, store: TrackingStore, filter_string: str, expected: set[str]) -> None:
        first, second, _ = _populate(store)
        found = names(all_runs(store, [first, second], filter_string))
        assert sorted(found) == sorted(expected)

    def test_run_id_in_and_not_in(self, store: TrackingStore) -> None:
        first, second, runs = _populate(store)
        chosen = f"('{runs['alpha']}', '{runs['delta']}')"
        found = all_runs(store, [first, second], f"attributes.run_id IN {chosen}")
        assert set(names(found)) == {"alpha", "delta"}
        found = all_runs(store, [first, second], f"attributes.run_id NOT IN {chosen}")
        assert set(names(found)) == {"beta", "gamma", "epsilon"}
        found = all_runs(store, [first, second], f"attributes.run_id = '{runs['beta']}'")
        assert ids(found) == [runs["beta"]]

    def test_dataset_filters(self, store: TrackingStore) -> None:
        first, second, runs = _populate(store)
        iris = _dataset("iris", "d1")
        wine = _dataset("wine", "d2")
        store.log_inputs(runs["alpha"], [DatasetInput(iris, [InputTag(CONTEXT_TAG, "train")])])
        store.log_inputs(
            runs["beta"],
            [
                DatasetInput(iris, [InputTag(CONTEXT_TAG, "eval")]),
                DatasetInput(wine, [InputTag(CONTEXT_TAG, "train")]),
            ],
        )
        store.log_inputs(runs["delta"], [DatasetInput(wine, [InputTag(CONTEXT_TAG, "eval")])])
        cases = {
            "datasets.name = 'iris'": {"alpha", "beta"},
            "datasets.name = 'wine' AND datasets.context = 'eval'": {"beta", "delta"},
            "datasets.context = 'train'": {"alpha", "beta"},
            "datasets.digest IN ('d2')": {"beta", "delta"},
            "dataset.name LIKE 'w%'": {"beta", "delta"},
            "datasets.name = 'nothing'": set(),
        }
        for filter_string, expected in cases.items():
            found = set(names(all_runs(store, [first, second], filter_string)))
            assert found == expected, filter_string

    @pytest.mark.parametrize(
        ("order_by", "expected"),
        [
            # runs without the key come last in both directions, ties by start_time DESC
            (["metrics.acc ASC"], ["beta", "alpha", "delta", "epsilon", "gamma"]),
            (["metrics.acc DESC"], ["delta", "alpha", "beta", "epsilon", "gamma"]),
            (["metrics.acc"], ["beta", "alpha", "delta", "epsilon", "gamma"]),
            (["params.lr ASC"], ["beta", "gamma", "alpha", "epsilon", "delta"]),
            (["params.lr DESC"], ["epsilon", "alpha", "gamma", "beta", "delta"]),
            (["tags.`mlflow.runName` DESC"], ["gamma", "epsilon", "delta", "beta", "alpha"]),
            (["attributes.start_time ASC"], ["alpha", "beta", "gamma", "delta", "epsilon"]),
            (["attributes.run_name DESC"], ["gamma", "epsilon", "delta", "beta", "alpha"]),
            (["run_name"], ["alpha", "beta", "delta", "epsilon", "gamma"]),
            # several keys: ties on the first are broken by the next
            (
                ["attributes.status ASC", "metrics.acc DESC"],
                ["beta", "delta", "alpha", "epsilon", "gamma"],
            ),
            (
                ["attributes.status DESC", "attributes.run_name ASC"],
                ["gamma", "epsilon", "alpha", "delta", "beta"],
            ),
            (
                ["metrics.loss ASC", "attributes.run_name DESC"],
                ["delta", "alpha", "gamma", "epsilon", "beta"],
            ),
        ],
    )
    def test_order_by(self, store: TrackingStore, order_by: list[str], expected: list[str]) -> None:
        first, second, _ = _populate(store)
        assert names(all_runs(store, [first, second], order_by=order_by)) == expected
        # the same order holds when fetched page by page
        assert names(all_runs(store, [first, second], order_by=order_by, page_size=2)) == expected

    def test_nan_sorts_after_numbers_and_before_missing(self, store: TrackingStore) -> None:
        for name, value in [("one", 1.0), ("nan", math.nan), ("three", 3.0), ("none", None)]:
            run_id = new_run(store, name=name)
            if value is not None:
                log(store, run_id, metrics={"m": value})
        assert names(all_runs(store, ["0"], order_by=["metrics.m ASC"])) == [
            "one", "three", "nan", "none"
        ]  # fmt: skip
        assert names(all_runs(store, ["0"], order_by=["metrics.m DESC"])) == [
            "three", "one", "nan", "none"
        ]  # fmt: skip

    def test_search_uses_the_latest_metric_value_not_the_largest(
        self, store: TrackingStore
    ) -> None:
        falling = new_run(store, name="falling")
        store.log_batch(falling, [metric("m", 10.0, step=0), metric("m", 1.0, step=1)])
        steady = new_run(store, name="steady")
        store.log_batch(steady, [metric("m", 5.0, step=0)])
        assert names(all_runs(store, ["0"], "metrics.m > 2")) == ["steady"]
        assert names(all_runs(store, ["0"], order_by=["metrics.m ASC"])) == ["falling", "steady"]

    def test_ties_in_default_order_are_broken_by_run_id(self, store: TrackingStore) -> None:
        created = [new_run(store, start_time=T0) for _ in range(4)]
        later = new_run(store, start_time=T0 + 1)
        assert ids(all_runs(store, ["0"])) == [later, *sorted(created)]

    def test_search_sees_renames_and_deleted_tags(self, store: TrackingStore) -> None:
        run_id = new_run(store, name="before")
        log(store, run_id, tags={"t": "x"})
        store.update_run_info(run_id, None, None, "after")
        store.delete_tag(run_id, "t")
        assert ids(all_runs(store, ["0"], "attributes.run_name = 'after'")) == [run_id]
        assert ids(all_runs(store, ["0"], "tags.`mlflow.runName` = 'after'")) == [run_id]
        assert all_runs(store, ["0"], "attributes.run_name = 'before'") == []
        assert all_runs(store, ["0"], "tags.t = 'x'") == []

    def test_run_view_type(self, store: TrackingStore) -> None:
        first, _, runs = _populate(store)
        store.delete_run(runs["beta"])
        assert set(names(all_runs(store, [first]))) == {"alpha", "gamma"}
        assert names(all_runs(store, [first], view=ViewType.DELETED_ONLY)) == ["beta"]
        assert len(all_runs(store, [first], view=ViewType.ALL)) == 3
        found = all_runs(store, [first], "tags.team = 'blue'", view=ViewType.ALL)
        assert names(found) == ["beta"]

    def test_pages_cover_every_run_exactly_once_despite_ties(self, store: TrackingStore) -> None:
        exp_id = new_experiment(store)
        # identical start times: only a stable tie-break keeps pages from overlapping
        created = {new_run(store, exp_id, start_time=T0) for _ in range(7)}
        for size in (1, 3, 7, 50):
            found = ids(all_runs(store, [exp_id], page_size=size))
            assert len(found) == 7
            assert set(found) == created

    def test_pages_have_tokens_until_the_last(self, store: TrackingStore) -> None:
        exp_id = new_experiment(store)
        for offset in range(5):
            new_run(store, exp_id, start_time=T0 + offset)
        first = store.search_runs([exp_id], "", ViewType.ACTIVE_ONLY, 2)
        assert len(first) == 2
        assert first.token
        second = store.search_runs([exp_id], "", ViewType.ACTIVE_ONLY, 2, None, first.token)
        third = store.search_runs([exp_id], "", ViewType.ACTIVE_ONLY, 2, None, second.token)
        assert len(third) == 1
        assert third.token is None
        exact = store.search_runs([exp_id], "", ViewType.ACTIVE_ONLY, 5)
        assert len(exact) == 5
        assert exact.token is None

    def test_the_same_search_asked_again_sees_what_changed(self, store: TrackingStore) -> None:
        # SQL stores keep a search's compiled statement by its inputs, never its results
        first, second, runs = _populate(store)
        query = (
            [first, second],
            "metrics.acc > 0.8",
            ViewType.ACTIVE_ONLY,
            10,
            ["metrics.acc DESC"],
        )
        assert names(store.search_runs(*query)) == ["delta", "alpha"]
        log(store, runs["beta"], metrics={"acc": 0.99})
        store.delete_run(runs["delta"])
        assert names(store.search_runs(*query)) == ["beta", "alpha"]
        # other filters, literals and page sizes each get their own statement
        assert set(names(all_runs(store, [first], "metrics.acc > 0.7"))) == {"alpha", "beta"}
        assert set(names(all_runs(store, [first], "metrics.acc > 0.9", page_size=1))) == {"beta"}
        assert set(names(all_runs(store, [first], "metrics.acc >= 1"))) == set()
        assert set(names(all_runs(store, [first], "metrics.acc >= 0.99"))) == {"beta"}

    @pytest.mark.parametrize(
        "filter_string",
        [
            "metrics.acc = 'high'",
            "metrics.acc > ",
            "foo.bar = 'x'",
            "attributes.nonexistent = 'x'",
            "params.lr ~ '0.1'",
            "(tags.team = 'red'",
            "tags.team = red",
            "attributes.start_time > 'yesterday'",
        ],
    )
    def test_invalid_filter_is_refused(self, store: TrackingStore, filter_string: str) -> None:
        with pytest.raises(InvalidParameterValue):
            store.search_runs(["0"], filter_string)

    @pytest.mark.parametrize(
        "order_by", [["metrics.acc SIDEWAYS"], ["nonsense.key"], ["attributes.nope"], [""]]
    )
    def test_invalid_order_by_is_refused(self, store: TrackingStore, order_by: list[str]) -> None:
        with pytest.raises(InvalidParameterValue):
            store.search_runs(["0"], "", order_by=order_by)

    @pytest.mark.parametrize("max_results", [0, -1, 50001])
    def test_max_results_out_of_range_is_refused(
        self, store: TrackingStore, max_results: int
    ) -> None:
        with pytest.raises(InvalidParameterValue):
            store.search_runs(["0"], "", ViewType.ACTIVE_ONLY, max_results)

    def test_garbage_page_token_is_refused(self, store: TrackingStore) -> None:
        with pytest.raises(InvalidParameterValue):
            store.search_runs(["0"], "", ViewType.ACTIVE_ONLY, 10, None, "%%%garbage")
