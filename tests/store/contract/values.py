"""Awkward but legal values: case, trailing spaces, multibyte text at the limits, quotes.

Databases compare text in ways Python does not (case-insensitive or space-padding
collations, byte-length limits); these tests pin Python's exact-string semantics.
"""

from __future__ import annotations

import pytest

from cairn.entities import Param, RunTag
from cairn.exceptions import InvalidParameterValue, ResourceAlreadyExists
from cairn.store.tracking import TrackingStore
from contract.factories import all_runs, log, metric, names, new_experiment, new_run


class ValueContract:
    def test_experiment_names_differing_in_case_or_trailing_space_are_distinct(
        self, store: TrackingStore
    ) -> None:
        spellings = ["model", "Model", "MODEL", "model ", " model"]
        created = {name: new_experiment(store, name) for name in spellings}
        assert len(set(created.values())) == len(spellings)
        for name, exp_id in created.items():
            found = store.get_experiment_by_name(name)
            assert found is not None
            assert found.experiment_id == exp_id
        with pytest.raises(ResourceAlreadyExists):
            new_experiment(store, "model ")

    def test_keys_differing_in_case_or_trailing_space_are_distinct(
        self, store: TrackingStore
    ) -> None:
        run_id = new_run(store)
        keys = ["lr", "LR", "lr ", "Lr"]
        store.log_batch(
            run_id,
            [metric(k, float(i)) for i, k in enumerate(keys)],
            [Param(k, str(i)) for i, k in enumerate(keys)],
            [RunTag(k, str(i)) for i, k in enumerate(keys)],
        )
        data = store.get_run(run_id).data
        assert data.metrics == {k: float(i) for i, k in enumerate(keys)}
        assert data.params == {k: str(i) for i, k in enumerate(keys)}
        assert {k: data.tags[k] for k in keys} == {k: str(i) for i, k in enumerate(keys)}
        assert [m.value for m in store.get_metric_history(run_id, "LR")] == [1.0]

    def test_filters_compare_exact_strings(self, store: TrackingStore) -> None:
        for value in ["red", "Red", "red "]:
            log(store, new_run(store, name=f"[{value}]"), params={"c": value}, tags={"c": value})
        assert names(all_runs(store, ["0"], "params.c = 'red'")) == ["[red]"]
        assert names(all_runs(store, ["0"], "tags.c = 'red '")) == ["[red ]"]
        assert sorted(names(all_runs(store, ["0"], "params.c != 'red'"))) == ["[Red]", "[red ]"]

    def test_multibyte_text_at_the_limits_round_trips(self, store: TrackingStore) -> None:
        exp_name = "実" * 500
        exp_id = new_experiment(store, exp_name)
        assert store.get_experiment(exp_id).name == exp_name
        run_id = new_run(store, exp_id)
        log(store, run_id, params={"p": "🚀" * 6000}, tags={"t": "🚀" * 8000})
        data = store.get_run(run_id).data
        assert data.params["p"] == "🚀" * 6000
        assert data.tags["t"] == "🚀" * 8000

    def test_long_multibyte_key_is_stored_or_refused_cleanly(self, store: TrackingStore) -> None:
        # 250 characters but 500 bytes: more than a file name may hold, so a store that
        # keeps keys as file names may refuse it, but must not crash or half-write.
        run_id = new_run(store)
        before = store.get_run(run_id)
        key = "é" * 250
        for batch in (
            {"metrics": {key: 1.0}},
            {"params": {key: "v"}},
            {"tags": {key: "v"}},
        ):
            try:
                log(store, run_id, **batch)  # type: ignore[arg-type]
            except InvalidParameterValue:
                assert store.get_run(run_id) == before
                continue
            data = store.get_run(run_id).data
            stored = {**data.metrics, **data.params, **data.tags}
            assert key in stored
            before = store.get_run(run_id)

    def test_text_with_control_characters_and_quotes_round_trips(
        self, store: TrackingStore
    ) -> None:
        run_id = new_run(store, name='it\'s "quoted"')
        value = "line1\nline2\r\n\ttab 'single' \"double\" back\\slash % _ é 🚀"
        log(store, run_id, params={"p": value}, tags={"t": value})
        run = store.get_run(run_id)
        assert run.info.run_name == 'it\'s "quoted"'
        assert run.data.params["p"] == value
        assert run.data.tags["t"] == value

    def test_quotes_in_filter_values(self, store: TrackingStore) -> None:
        log(store, new_run(store, name="a"), tags={"say": "it's"})
        log(store, new_run(store, name="b"), tags={"say": 'a "word"'})
        assert names(all_runs(store, ["0"], 'tags.say = "it\'s"')) == ["a"]
        assert names(all_runs(store, ["0"], "tags.say = 'a \"word\"'")) == ["b"]

    def test_like_wildcards_match_literally_only_where_written(self, store: TrackingStore) -> None:
        log(store, new_run(store, name="pct"), params={"v": "50%"})
        log(store, new_run(store, name="plain"), params={"v": "500"})
        log(store, new_run(store, name="under"), params={"v": "a_b"})
        log(store, new_run(store, name="other"), params={"v": "axb"})
        assert sorted(names(all_runs(store, ["0"], "params.v LIKE '50%'"))) == ["pct", "plain"]
        assert sorted(names(all_runs(store, ["0"], "params.v LIKE 'a_b'"))) == ["other", "under"]

    def test_keys_with_spaces_and_dots_in_filters(self, store: TrackingStore) -> None:
        run_id = new_run(store, name="hit")
        log(store, run_id, metrics={"f1 score": 0.8}, params={"model.depth": "3"})
        new_run(store, name="miss")
        assert names(all_runs(store, ["0"], "metrics.`f1 score` > 0.5")) == ["hit"]
        assert names(all_runs(store, ["0"], "params.\"model.depth\" = '3'")) == ["hit"]
        assert names(all_runs(store, ["0"], "params.`model.depth` = '3'")) == ["hit"]

    def test_large_steps_and_timestamps_round_trip(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        big = 2**62
        store.log_batch(run_id, [metric("m", 1.0, step=big, timestamp=big), metric("m", 2.0)])
        (latest,) = store.get_run(run_id).data.metric_objects
        assert (latest.value, latest.step, latest.timestamp) == (1.0, big, big)
        assert [m.step for m in store.get_metric_history(run_id, "m")] == [0, big]

    def test_nul_character_is_stored_or_refused_cleanly(self, store: TrackingStore) -> None:
        run_id = new_run(store)
        before = store.get_run(run_id)
        try:
            log(store, run_id, params={"p": "a\x00b"}, tags={"t": "a\x00b"})
        except InvalidParameterValue:
            assert store.get_run(run_id) == before
        else:
            data = store.get_run(run_id).data
            assert data.params["p"] == "a\x00b"
            assert data.tags["t"] == "a\x00b"
