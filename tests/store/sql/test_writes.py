"""log_batch as a few set-based statements in one transaction; special values; inputs; gc."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cairn.entities import (
    Dataset,
    DatasetInput,
    ExperimentTag,
    InputTag,
    Metric,
    Param,
    RunTag,
)
from cairn.exceptions import InvalidParameterValue, ResourceDoesNotExist
from cairn.store.sql import tables
from cairn.store.sql.store import SqlStore


@contextmanager
def _statements(store: SqlStore) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    sa.event.listen(store._engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(store._engine, "before_cursor_execute", record)


def test_a_thousand_metric_batch_is_a_handful_of_statements(sql_store: SqlStore) -> None:
    run_id = sql_store.create_run("0", "u", 0, [], "fast").info.run_id
    metrics = [Metric(f"k{i % 10}", float(i), 1_000 + i, i) for i in range(980)]
    params = [Param(f"p{i}", "v") for i in range(10)]
    tags = [RunTag(f"t{i}", "v") for i in range(10)]
    with _statements(sql_store) as seen:
        sql_store.log_batch(run_id, metrics, params, tags)
    data_statements = [s for s in seen if s not in ("BEGIN", "COMMIT", "ROLLBACK", "SET")]
    assert len(data_statements) <= 10, seen
    assert seen.count("BEGIN") <= 1
    run = sql_store.get_run(run_id)
    assert run.data.metrics == {f"k{i}": float(970 + i) for i in range(10)}
    assert len(sql_store.get_metric_history(run_id, "k3")) == 98


def test_a_refused_batch_writes_nothing(sql_store: SqlStore) -> None:
    run_id = sql_store.create_run("0", "u", 0, [], "r").info.run_id
    sql_store.log_batch(run_id, params=[Param("lr", "1")])
    with pytest.raises(InvalidParameterValue, match="Changing param values"):
        sql_store.log_batch(
            run_id,
            [Metric("m", 1.0, 0, 0)],
            [Param("new", "x"), Param("lr", "2")],
            [RunTag("t", "v")],
        )
    run = sql_store.get_run(run_id)
    assert run.data.params == {"lr": "1"}
    assert run.data.metrics == {}
    assert "t" not in run.data.tags
    assert sql_store.get_metric_history(run_id, "m") == []


def test_duplicate_points_do_not_fail_the_batch(sql_store: SqlStore) -> None:
    run_id = sql_store.create_run("0", "u", 0, [], "r").info.run_id
    point = Metric("m", 0.5, 10, 1)
    sql_store.log_batch(run_id, [point, point])
    sql_store.log_batch(run_id, [point, Metric("m", math.nan, 10, 1), Metric("m", math.nan, 10, 1)])
    history = sql_store.get_metric_history(run_id, "m")
    assert len(history) == 2
    assert history[0] == point
    # NaN outranks a number logged at the same step and time
    assert math.isnan(sql_store.get_run(run_id).data.metrics["m"])


def test_writes_to_a_deleted_run_name_the_state(sql_store: SqlStore) -> None:
    run_id = sql_store.create_run("0", "u", 0, [], "r").info.run_id
    sql_store.delete_run(run_id)
    with pytest.raises(InvalidParameterValue, match=f"The run {run_id} must be in the 'active'"):
        sql_store.log_batch(run_id, [Metric("m", 1.0, 0, 0)])


def test_special_floats_round_trip_and_sort(sql_store: SqlStore) -> None:
    exp_id = sql_store.create_experiment("floats")
    values = {
        "nan": math.nan,
        "pos": math.inf,
        "neg": -math.inf,
        "max": 1.7976931348623157e308,
        "min": -1.7976931348623157e308,
        "one": 1.0,
    }
    runs = {}
    for name, value in values.items():
        run_id = sql_store.create_run(exp_id, "u", 0, [], name).info.run_id
        sql_store.log_batch(run_id, [Metric("v", value, 5, 0), Metric(f"only_{name}", value, 5, 0)])
        runs[name] = run_id
    sql_store.create_run(exp_id, "u", 0, [], "missing")
    for name, value in values.items():
        history = sql_store.get_metric_history(runs[name], "v")
        got = history[0].value
        assert (math.isnan(got) and math.isnan(value)) or got == value, name
        assert sql_store.get_run(runs[name]).data.metrics["v"] == pytest.approx(value, nan_ok=True)

    def order(clause: str) -> list[str]:
        found = sql_store.search_runs([exp_id], "", order_by=[clause])
        return [run.info.run_name or "" for run in found]

    assert order("metrics.v ASC") == ["neg", "min", "one", "max", "pos", "nan", "missing"]
    assert order("metrics.v DESC") == ["pos", "max", "one", "min", "neg", "nan", "missing"]

    def matching(filter_string: str) -> set[str]:
        return {run.info.run_name or "" for run in sql_store.search_runs([exp_id], filter_string)}

    assert matching("metrics.v > 1e308") == {"pos", "max"}
    assert matching("metrics.v != 1") == {"nan", "pos", "neg", "max", "min"}
    assert matching("metrics.v = 0") == set()  # NaN is stored as 0 but never equals it


def test_like_is_case_sensitive_and_ilike_is_not(sql_store: SqlStore) -> None:
    exp_id = sql_store.create_experiment("Case Study")
    for name in ("Alpha", "alpha", "ALPHA", "a_b", "axb", "a%b", "back\\slash"):
        run_id = sql_store.create_run(exp_id, "u", 0, [], name).info.run_id
        sql_store.log_batch(run_id, params=[Param("P", name)], tags=[RunTag("T", name)])

    def names(filter_string: str) -> set[str]:
        return {run.info.run_name or "" for run in sql_store.search_runs([exp_id], filter_string)}

    for field in ("params.P", "tags.T", "attributes.run_name"):
        assert names(f"{field} LIKE 'alph%'") == {"alpha"}
        assert names(f"{field} ILIKE 'alph%'") == {"Alpha", "alpha", "ALPHA"}
        assert names(f"{field} = 'alpha'") == {"alpha"}
        assert names(f"{field} LIKE 'a_b'") == {"a_b", "axb", "a%b"}
        assert names(f"{field} LIKE 'back\\slash'") == {"back\\slash"}
    # keys differing only by case are distinct keys (MySQL's default collation would merge them)
    assert names("params.p = 'alpha'") == set()
    found = sql_store.search_experiments(filter_string="name LIKE 'case%'")
    assert [e.name for e in found] == []
    found = sql_store.search_experiments(filter_string="name ILIKE 'case%'")
    assert [e.name for e in found] == ["Case Study"]


def test_keys_differing_by_case_are_distinct(sql_store: SqlStore) -> None:
    run_id = sql_store.create_run("0", "u", 0, [], "r").info.run_id
    sql_store.log_batch(
        run_id,
        [Metric("Loss", 1.0, 0, 0), Metric("loss", 2.0, 0, 0)],
        [Param("LR", "a"), Param("lr", "b")],
        [RunTag("Tag", "x"), RunTag("tag", "y")],
    )
    data = sql_store.get_run(run_id).data
    assert data.metrics == {"Loss": 1.0, "loss": 2.0}
    assert data.params == {"LR": "a", "lr": "b"}
    assert {k: v for k, v in data.tags.items() if k.lower() == "tag"} == {"Tag": "x", "tag": "y"}
    assert sql_store.create_experiment("Name") != sql_store.create_experiment("name")


def test_numeric_param_comparison_skips_non_numbers(sql_store: SqlStore) -> None:
    values = ["10", "2.5", "-1e3", "abc", "", "1.2.3", " 7", "0x10"]
    for value in values:
        run_id = sql_store.create_run("0", "u", 0, [], f"v={value}").info.run_id
        sql_store.log_batch(run_id, params=[Param("p", value)])

    def names(filter_string: str) -> set[str]:
        return {run.info.run_name or "" for run in sql_store.search_runs(["0"], filter_string)}

    assert names("params.p > 2") == {"v=10", "v=2.5"}
    assert names("params.p < 0") == {"v=-1e3"}
    assert names("params.p != 10") == {"v=2.5", "v=-1e3"}
    assert names("params.p = '10'") == {"v=10"}


def test_log_inputs_deduplicates_datasets_per_experiment(sql_store: SqlStore) -> None:
    exp_id = sql_store.create_experiment("data")
    dataset = Dataset("iris", "d1", "local", '{"uri": "/x"}', '{"cols": 4}', None)
    first = sql_store.create_run(exp_id, "u", 0, [], "first").info.run_id
    second = sql_store.create_run(exp_id, "u", 0, [], "second").info.run_id
    train = DatasetInput(dataset, [InputTag("mlflow.data.context", "train")])
    sql_store.log_inputs(first, [train])
    sql_store.log_inputs(first, [train])  # logging it again changes nothing
    sql_store.log_inputs(
        second,
        [
            DatasetInput(dataset, [InputTag("mlflow.data.context", "eval")]),
            DatasetInput(Dataset("iris", "d2", "local", "{}")),
        ],
    )
    with sql_store._engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(tables.datasets)).scalar()
    assert stored == 2
    got = sql_store.get_run(first).inputs.dataset_inputs
    assert got == [train]
    assert len(sql_store.get_run(second).inputs.dataset_inputs) == 2

    def names(filter_string: str) -> set[str]:
        found = sql_store.search_runs([exp_id], filter_string)
        return {run.info.run_name or "" for run in found}

    assert names("dataset.name = 'iris'") == {"first", "second"}
    assert names("dataset.digest = 'd2'") == {"second"}
    assert names("dataset.context = 'train'") == {"first"}
    assert names("dataset.context IN ('eval', 'test')") == {"second"}


def test_default_artifact_root_is_the_local_mlruns_directory(sql_store: SqlStore) -> None:
    expected = Path("mlruns").resolve().as_uri()
    assert sql_store.get_experiment("0").artifact_location == f"{expected}/0"
    exp_id = sql_store.create_experiment("where")
    assert sql_store.get_experiment(exp_id).artifact_location == f"{expected}/{exp_id}"
    run = sql_store.create_run(exp_id, "u", 0, [], "r")
    assert run.info.artifact_uri == f"{expected}/{exp_id}/{run.info.run_id}/artifacts"


def test_given_artifact_root(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'a.db'}", "s3://bucket/root/")
    assert store.get_experiment("0").artifact_location == "s3://bucket/root/0"
    store.dispose()


def _row_counts(store: SqlStore) -> dict[str, int]:
    with store._engine.connect() as conn:
        return {
            name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0
            for name, table in tables.metadata.tables.items()
        }


def _fill(store: SqlStore, exp_id: str) -> str:
    run_id = store.create_run(exp_id, "u", 0, [RunTag("t", "v")], "r").info.run_id
    store.log_batch(run_id, [Metric("m", 1.0, 0, 0)], [Param("p", "v")], [])
    store.log_inputs(run_id, [DatasetInput(Dataset("d", "x", "local", "{}"), [InputTag("k", "v")])])
    return run_id


def test_gc_erases_runs_and_experiments_completely(sql_store: SqlStore) -> None:
    empty = _row_counts(sql_store)
    exp_id = sql_store.create_experiment("doomed")
    sql_store.set_experiment_tag(exp_id, ExperimentTag("k", "v"))
    kept = _fill(sql_store, exp_id)
    doomed_run = _fill(sql_store, "0")

    assert sql_store.deleted_run_ids() == []
    sql_store.delete_run(doomed_run)
    assert sql_store.deleted_run_ids() == [doomed_run]
    assert sql_store.deleted_run_ids(older_than_ms=3_600_000) == []
    sql_store.hard_delete_run(doomed_run)
    with pytest.raises(ResourceDoesNotExist):
        sql_store.get_run(doomed_run)

    sql_store.delete_experiment(exp_id)
    assert sql_store.deleted_experiment_ids() == [exp_id]
    assert sql_store.deleted_experiment_ids(older_than_ms=3_600_000) == []
    assert sql_store.deleted_run_ids() == [kept]
    sql_store.hard_delete_experiment(exp_id)
    with pytest.raises(ResourceDoesNotExist):
        sql_store.get_experiment(exp_id)
    assert sql_store.get_experiment_by_name("doomed") is None
    # only the dataset registered in the Default experiment (datasets belong to experiments)
    assert _row_counts(sql_store) == {**empty, "datasets": 1}


def test_unknown_and_invalid_ids(sql_store: SqlStore) -> None:
    for missing in ("12345", "abc", "99999999999999999999"):
        with pytest.raises(ResourceDoesNotExist):
            sql_store.get_experiment(missing)
    with pytest.raises(InvalidParameterValue):
        sql_store.get_experiment("bad id!")
    with pytest.raises(ResourceDoesNotExist):
        sql_store.get_run("0123456789abcdef0123456789abcdef")
    with pytest.raises(InvalidParameterValue):
        sql_store.get_run("../etc")
    assert sql_store.search_runs(["12345", "abc"]) == []


def test_history_puts_nan_after_numbers_within_a_step_across_pages(sql_store: SqlStore) -> None:
    # The history is read in primary-key order, where NaN (stored as 0) sits among the
    # numbers; the order users see must still put it after them, on every page.
    run_id = sql_store.create_run("0", "u", 0, [], "r").info.run_id
    points = [Metric("m", value, 5, 1) for value in (2.0, math.nan, -1.0, math.inf, 0.5)]
    points.append(Metric("m", 9.0, 4, 0))
    sql_store.log_batch(run_id, points)
    whole = [(m.step, m.value) for m in sql_store.get_metric_history(run_id, "m")]
    expected = [(0, 9.0), (1, -1.0), (1, 0.5), (1, 2.0), (1, math.inf)]
    assert whole[:5] == expected
    assert whole[5][0] == 1
    assert math.isnan(whole[5][1])
    paged: list[Metric] = []
    token = None
    while True:
        page = sql_store.get_metric_history(run_id, "m", max_results=2, page_token=token)
        paged += page
        token = page.token
        if not token:
            break
    assert [(m.step, m.value) for m in paged][:5] == expected
    assert math.isnan(paged[5].value)
    assert all(m.key == "m" and m.timestamp in (4, 5) for m in paged)


def test_the_hot_statements_are_seen_by_listeners(sql_store: SqlStore) -> None:
    run_id = sql_store.create_run("0", "u", 0, [RunTag("t", "v")], "r").info.run_id
    with _statements(sql_store) as seen:
        sql_store.log_batch(run_id, [Metric("m", 1.0, 0, 0)], [Param("p", "v")], [RunTag("t", "w")])
        sql_store.update_run_info(run_id, None, 5, None)
    assert seen.count("INSERT") == 4, seen  # param, tag, point, latest value
    assert seen.count("UPDATE") == 1, seen
