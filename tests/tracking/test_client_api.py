"""MlflowClient against real stores: experiments, runs, logged data, errors."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from cairn.entities import LifecycleStage, Metric, Param, RunTag, ViewType
from cairn.exceptions import ErrorCode, MlflowException
from cairn.tracking import MlflowClient
from cairn.tracking.batching import AsyncLoggingError


@pytest.fixture
def client(any_store_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=any_store_uri)


def test_experiment_lifecycle(client: MlflowClient) -> None:
    exp_id = client.create_experiment("exp-a", tags={"team": "vision", "n": 3})
    exp = client.get_experiment(exp_id)
    assert exp.name == "exp-a"
    assert exp.tags == {"team": "vision", "n": "3"}
    assert client.get_experiment_by_name("exp-a") == exp
    assert client.get_experiment_by_name("nope") is None

    client.rename_experiment(exp_id, "exp-b")
    client.set_experiment_tag(exp_id, "stage", "dev")
    client.delete_experiment_tag(exp_id, "team")
    exp = client.get_experiment(exp_id)
    assert (exp.name, exp.tags) == ("exp-b", {"n": "3", "stage": "dev"})

    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == LifecycleStage.DELETED
    active = [e.experiment_id for e in client.search_experiments()]
    deleted = [e.experiment_id for e in client.search_experiments(ViewType.DELETED_ONLY)]
    assert exp_id not in active
    assert exp_id in deleted
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == LifecycleStage.ACTIVE


def test_duplicate_experiment_name_is_refused(client: MlflowClient) -> None:
    client.create_experiment("same")
    with pytest.raises(MlflowException) as info:
        client.create_experiment("same")
    assert info.value.error_code == ErrorCode.RESOURCE_ALREADY_EXISTS


def test_search_experiments_pages(client: MlflowClient) -> None:
    for i in range(5):
        client.create_experiment(f"paged-{i}")
    first = client.search_experiments(max_results=2, filter_string="name LIKE 'paged-%'")
    assert len(first) == 2
    assert first.token
    rest = client.search_experiments(
        max_results=10, filter_string="name LIKE 'paged-%'", page_token=first.token
    )
    names = {e.name for e in [*first, *rest]}
    assert names == {f"paged-{i}" for i in range(5)}


def test_create_run_and_log_data(client: MlflowClient) -> None:
    exp_id = client.create_experiment("runs")
    run = client.create_run(exp_id, tags={"mlflow.user": "ada", "k": 1}, run_name="first")
    run_id = run.info.run_id
    assert run.info.status == "RUNNING"
    assert run.info.user_id == "ada"
    assert run.info.run_name == "first"

    assert client.log_param(run_id, "lr", 0.001) == 0.001
    client.log_metric(run_id, "loss", 0.5, step=1)
    client.log_metric(run_id, "loss", 0.25, step=2)
    client.set_tag(run_id, "note", 42)
    client.set_tag(run_id, "gone", "x")
    client.delete_tag(run_id, "gone")

    fetched = client.get_run(run_id)
    assert fetched.data.params == {"lr": "0.001"}
    assert fetched.data.metrics == {"loss": 0.25}
    assert fetched.data.tags["note"] == "42"
    assert fetched.data.tags["k"] == "1"
    assert fetched.data.tags["mlflow.runName"] == "first"
    assert "gone" not in fetched.data.tags
    history = client.get_metric_history(run_id, "loss")
    assert [(m.value, m.step) for m in history] == [(0.5, 1), (0.25, 2)]


def test_run_without_name_gets_a_generated_one(client: MlflowClient) -> None:
    run = client.create_run("0")
    name = run.info.run_name
    assert name
    adjective, noun, number = name.split("-")
    assert adjective.isalpha()
    assert noun.isalpha()
    assert number.isdigit()
    assert client.get_run(run.info.run_id).data.tags["mlflow.runName"] == name
    assert run.info.user_id == "unknown"


def test_numpy_values_are_stored_as_plain_numbers(client: MlflowClient) -> None:
    np = pytest.importorskip("numpy")
    run_id = client.create_run("0").info.run_id
    client.log_metric(run_id, "acc", np.float32(0.5), step=np.int64(3))
    point = client.get_metric_history(run_id, "acc")[0]
    assert (point.value, point.step) == (0.5, 3)
    assert type(point.value) is float


def test_update_and_terminate_run(client: MlflowClient) -> None:
    run_id = client.create_run("0").info.run_id
    client.update_run(run_id, name="renamed")
    info = client.get_run(run_id).info
    assert info.run_name == "renamed"
    assert client.get_run(run_id).data.tags["mlflow.runName"] == "renamed"

    client.set_terminated(run_id, "KILLED", end_time=1234)
    info = client.get_run(run_id).info
    assert (info.status, info.end_time) == ("KILLED", 1234)

    client.update_run(run_id, status="RUNNING")
    assert client.get_run(run_id).info.status == "RUNNING"
    client.set_terminated(run_id)
    info = client.get_run(run_id).info
    assert info.status == "FINISHED"
    assert info.end_time is not None


def test_delete_and_restore_run(client: MlflowClient) -> None:
    run_id = client.create_run("0").info.run_id
    client.delete_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
    assert run_id not in [r.info.run_id for r in client.search_runs("0")]
    deleted = client.search_runs("0", run_view_type=ViewType.DELETED_ONLY)
    assert run_id in [r.info.run_id for r in deleted]
    client.restore_run(run_id)
    assert run_id in [r.info.run_id for r in client.search_runs(["0"])]


def test_search_runs_accepts_a_single_id_and_orders(client: MlflowClient) -> None:
    for loss in (0.3, 0.1, 0.2):
        run_id = client.create_run("0").info.run_id
        client.log_metric(run_id, "val_loss", loss)
    best = client.search_runs("0", order_by=["metrics.val_loss ASC"], max_results=1)
    assert len(best) == 1
    assert best[0].data.metrics["val_loss"] == 0.1
    low = client.search_runs(["0"], filter_string="metrics.val_loss < 0.25")
    assert sorted(r.data.metrics["val_loss"] for r in low) == [0.1, 0.2]


def test_log_batch_splits_what_one_store_call_cannot_take(client: MlflowClient) -> None:
    run_id = client.create_run("0").info.run_id
    metrics = [Metric("m", float(i), 1000 + i, i) for i in range(2500)]
    params = [Param(f"p{i}", str(i)) for i in range(250)]
    tags = [RunTag(f"t{i}", str(i)) for i in range(150)]
    client.log_batch(run_id, metrics, params, tags)
    run = client.get_run(run_id)
    assert len(run.data.params) == 250
    assert sum(1 for k in run.data.tags if k.startswith("t")) == 150
    assert len(client.get_metric_history(run_id, "m")) == 2500


def test_invalid_batch_writes_nothing(client: MlflowClient) -> None:
    run_id = client.create_run("0").info.run_id
    good = [Metric("ok", 1.0, 1, 0)] * 5
    with pytest.raises(MlflowException) as info:
        client.log_batch(run_id, [*good, Metric("bad", "x", 1, 0)], [Param("p", "1")])  # type: ignore[arg-type]
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    run = client.get_run(run_id)
    assert run.data.metrics == {}
    assert run.data.params == {}


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda c, r: c.log_metric(r, "bad key!", 1.0), ErrorCode.INVALID_PARAMETER_VALUE),
        (lambda c, r: c.log_metric(r, "m", "high"), ErrorCode.INVALID_PARAMETER_VALUE),
        (lambda c, r: c.log_param(r, "p", "x" * 6001), ErrorCode.INVALID_PARAMETER_VALUE),
        (lambda c, r: c.set_tag(r, "", "v"), ErrorCode.INVALID_PARAMETER_VALUE),
        (lambda c, r: c.get_run("not a run id!"), ErrorCode.INVALID_PARAMETER_VALUE),
        (lambda c, r: c.get_run("0" * 32), ErrorCode.RESOURCE_DOES_NOT_EXIST),
        (lambda c, r: c.get_experiment("987654"), ErrorCode.RESOURCE_DOES_NOT_EXIST),
        (lambda c, r: c.create_experiment(""), ErrorCode.INVALID_PARAMETER_VALUE),
        (lambda c, r: c.search_runs("0", max_results=0), ErrorCode.INVALID_PARAMETER_VALUE),
        (lambda c, r: c.set_terminated(r, "DONE"), ErrorCode.INVALID_PARAMETER_VALUE),
    ],
)
def test_bad_input_raises_mlflow_error_codes(
    client: MlflowClient, call: object, code: ErrorCode
) -> None:
    run_id = client.create_run("0").info.run_id
    with pytest.raises(MlflowException) as info:
        call(client, run_id)  # type: ignore[operator]
    assert info.value.error_code == code


def test_changing_a_param_is_refused_at_once_when_synchronous(client: MlflowClient) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_param(run_id, "lr", 0.1)
    client.log_param(run_id, "lr", "0.1")  # the same value again is fine
    with pytest.raises(MlflowException) as info:
        client.log_param(run_id, "lr", 0.2, synchronous=True)
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert client.get_run(run_id).data.params == {"lr": "0.1"}


def test_changing_a_param_in_the_background_is_refused_at_the_next_read(
    client: MlflowClient,
) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_param(run_id, "lr", 0.1)
    client.log_param(run_id, "lr", 0.2)  # the store refuses it in the background
    with pytest.raises(AsyncLoggingError) as info:
        client.get_run(run_id)
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert "1 params (lr)" in info.value.message
    assert client.get_run(run_id).data.params == {"lr": "0.1"}  # reported once


def test_nan_and_inf_metrics_round_trip(client: MlflowClient) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_metric(run_id, "n", float("nan"), step=0)
    client.log_metric(run_id, "i", float("inf"))
    values = {m.key: m.value for m in client.get_run(run_id).data.metric_objects}
    assert math.isnan(values["n"])
    assert values["i"] == float("inf")


def test_metric_history_is_read_from_a_local_store_in_one_call(
    client: MlflowClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # paged by MLflow's 25,000, a 100,000-point file was read and parsed four times
    run_id = client.create_run("0").info.run_id
    client.log_batch(run_id, [Metric("h", float(i), 10 + i, 6 - i) for i in range(7)])
    calls: list[tuple[object, ...]] = []
    store = client._store
    original = store.get_metric_history

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(args + tuple(kwargs.values()))
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "get_metric_history", spy)
    history = client.get_metric_history(run_id, "h")
    assert [(m.step, m.value) for m in history] == [(6 - i, float(i)) for i in reversed(range(7))]
    assert calls == [(run_id, "h")]


def test_parent_run(client: MlflowClient) -> None:
    parent = client.create_run("0").info.run_id
    child = client.create_run("0", tags={"mlflow.parentRunId": parent}).info.run_id
    found = client.get_parent_run(child)
    assert found is not None
    assert found.info.run_id == parent
    assert client.get_parent_run(parent) is None


def test_run_name_and_tag_must_agree(client: MlflowClient) -> None:
    with pytest.raises(MlflowException) as info:
        client.create_run("0", tags={"mlflow.runName": "a"}, run_name="b")
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert client.create_run("0", tags={"mlflow.runName": "a"}).info.run_name == "a"


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
)
def test_round_trip_on_database_servers(
    backend: str, store_uri_factory: Callable[[str], str]
) -> None:
    client = MlflowClient(store_uri_factory(backend))
    exp_id = client.create_experiment(f"server-{backend}")
    run_id = str(client.create_run(exp_id, run_name="r").info.run_id)
    client.log_batch(
        run_id,
        [Metric("m", float(i), 1000 + i, i) for i in range(1200)],
        [Param(f"p{i}", "v") for i in range(120)],
    )
    client.set_terminated(run_id)
    (run,) = client.search_runs(exp_id, filter_string="params.p7 = 'v'")
    assert run.info.status == "FINISHED"
    assert len(run.data.params) == 120
    assert len(client.get_metric_history(run_id, "m")) == 1200
