"""search_experiments: filters, ordering, view types and paging."""

from __future__ import annotations

import pytest

from cairn.entities import Experiment, ViewType
from cairn.exceptions import InvalidParameterValue
from cairn.store.tracking import TrackingStore
from contract.factories import all_experiments, new_experiment, next_millisecond


def _names(experiments: list[Experiment]) -> list[str]:
    return [e.name for e in experiments]


def _populate(store: TrackingStore) -> dict[str, Experiment]:
    """Three experiments created one millisecond apart, plus Default."""
    created: dict[str, Experiment] = {}
    last: int | None = store.get_experiment("0").creation_time
    for name, tags in [
        ("vision-resnet", {"team": "cv", "prio": "high"}),
        ("vision-vit", {"team": "cv"}),
        ("Text-bert", {"team": "nlp"}),
    ]:
        next_millisecond(last)
        exp = store.get_experiment(new_experiment(store, name, tags=tags))
        created[name] = exp
        last = exp.creation_time
    return created


class SearchExperimentsContract:
    def test_default_order_is_newest_first(self, store: TrackingStore) -> None:
        _populate(store)
        assert _names(all_experiments(store)) == [
            "Text-bert", "vision-vit", "vision-resnet", "Default"
        ]  # fmt: skip

    def test_found_experiments_carry_their_tags(self, store: TrackingStore) -> None:
        created = _populate(store)
        (found,) = all_experiments(store, "name = 'vision-resnet'")
        assert found == created["vision-resnet"]

    @pytest.mark.parametrize(
        ("filter_string", "expected"),
        [
            ("name = 'vision-vit'", {"vision-vit"}),
            ("attribute.name != 'vision-vit'", {"vision-resnet", "Text-bert", "Default"}),
            ("name LIKE 'vision%'", {"vision-resnet", "vision-vit"}),
            ("name LIKE 'text%'", set()),
            ("name ILIKE 'text%'", {"Text-bert"}),
            ("tags.team = 'cv'", {"vision-resnet", "vision-vit"}),
            ("tags.team != 'cv'", {"Text-bert"}),
            ("tags.prio = 'high'", {"vision-resnet"}),
            ("tag.team LIKE 'n%'", {"Text-bert"}),
            ("tags.team = 'cv' AND name LIKE '%vit'", {"vision-vit"}),
        ],
    )
    def test_filters(self, store: TrackingStore, filter_string: str, expected: set[str]) -> None:
        _populate(store)
        assert set(_names(all_experiments(store, filter_string))) == expected

    def test_filter_on_creation_time(self, store: TrackingStore) -> None:
        created = _populate(store)
        pivot = created["vision-vit"].creation_time
        later = all_experiments(store, f"creation_time > {pivot}")
        assert _names(later) == ["Text-bert"]
        not_later = all_experiments(store, f"attributes.creation_time <= {pivot}")
        assert set(_names(not_later)) == {"vision-resnet", "vision-vit", "Default"}

    @pytest.mark.parametrize(
        ("order_by", "expected"),
        [
            (["name ASC"], ["Default", "Text-bert", "vision-resnet", "vision-vit"]),
            (["name DESC"], ["vision-vit", "vision-resnet", "Text-bert", "Default"]),
            (["name"], ["Default", "Text-bert", "vision-resnet", "vision-vit"]),
            (["creation_time ASC"], ["Default", "vision-resnet", "vision-vit", "Text-bert"]),
            (["creation_time DESC"], ["Text-bert", "vision-vit", "vision-resnet", "Default"]),
        ],
    )
    def test_order_by(self, store: TrackingStore, order_by: list[str], expected: list[str]) -> None:
        _populate(store)
        assert _names(all_experiments(store, order_by=order_by)) == expected
        assert _names(all_experiments(store, order_by=order_by, page_size=1)) == expected

    def test_order_by_experiment_id(self, store: TrackingStore) -> None:
        _populate(store)
        # ids need not grow with creation (the file store's are random); Default's is "0"
        found = all_experiments(store, order_by=["experiment_id ASC"])
        assert found[0].experiment_id == "0"
        assert len(found) == 4

    def test_order_by_last_update_time_follows_renames(self, store: TrackingStore) -> None:
        created = _populate(store)
        touched = created["vision-resnet"]
        next_millisecond(created["Text-bert"].last_update_time)
        store.rename_experiment(touched.experiment_id, "vision-resnet50")
        found = all_experiments(store, order_by=["last_update_time DESC"])
        assert found[0].name == "vision-resnet50"

    def test_view_type(self, store: TrackingStore) -> None:
        created = _populate(store)
        store.delete_experiment(created["vision-vit"].experiment_id)
        active = set(_names(all_experiments(store)))
        assert active == {"vision-resnet", "Text-bert", "Default"}
        deleted = all_experiments(store, view=ViewType.DELETED_ONLY)
        assert _names(deleted) == ["vision-vit"]
        assert len(all_experiments(store, view=ViewType.ALL)) == 4
        filtered = all_experiments(store, "tags.team = 'cv'", view=ViewType.ALL)
        assert set(_names(filtered)) == {"vision-resnet", "vision-vit"}

    def test_pages_cover_every_experiment_exactly_once(self, store: TrackingStore) -> None:
        # created back to back, so several may share a creation_time: the tie-break matters
        made = {new_experiment(store, f"bulk-{i}") for i in range(9)} | {"0"}
        for size in (1, 2, 4, 10, 100):
            found = [e.experiment_id for e in all_experiments(store, page_size=size)]
            assert len(found) == 10
            assert set(found) == made

    def test_last_page_has_no_token(self, store: TrackingStore) -> None:
        for i in range(3):
            new_experiment(store, f"e{i}")
        page = store.search_experiments(ViewType.ACTIVE_ONLY, 2)
        assert len(page) == 2
        assert page.token
        rest = store.search_experiments(ViewType.ACTIVE_ONLY, 2, None, None, page.token)
        assert len(rest) == 2
        assert rest.token is None

    @pytest.mark.parametrize("max_results", [0, -5, 50001])
    def test_max_results_out_of_range_is_refused(
        self, store: TrackingStore, max_results: int
    ) -> None:
        with pytest.raises(InvalidParameterValue):
            store.search_experiments(ViewType.ACTIVE_ONLY, max_results)

    @pytest.mark.parametrize(
        "filter_string",
        ["name = vision", "metrics.acc > 1", "name >> 'x'", "creation_time > 'now'", "nope = 'x'"],
    )
    def test_invalid_filter_is_refused(self, store: TrackingStore, filter_string: str) -> None:
        with pytest.raises(InvalidParameterValue):
            store.search_experiments(ViewType.ACTIVE_ONLY, 10, filter_string)

    @pytest.mark.parametrize(
        "order_by", [["name UP"], ["metrics.acc"], ["nope"], ["name ASC DESC"]]
    )
    def test_invalid_order_by_is_refused(self, store: TrackingStore, order_by: list[str]) -> None:
        with pytest.raises(InvalidParameterValue):
            store.search_experiments(ViewType.ACTIVE_ONLY, 10, None, order_by)

    def test_garbage_page_token_is_refused(self, store: TrackingStore) -> None:
        with pytest.raises(InvalidParameterValue):
            store.search_experiments(ViewType.ACTIVE_ONLY, 10, None, None, "not-a-token")
