"""The fluent API: active runs, experiments, logging to the active run."""

from __future__ import annotations

import getpass
import logging
import subprocess
import sys
from pathlib import Path

import pytest

import cairn
from cairn.entities import Dataset, RunStatus
from cairn.exceptions import ErrorCode, MlflowException
from cairn.tracking import MlflowClient


def test_with_block_finishes_the_run(any_store_uri: str) -> None:
    cairn.set_tracking_uri(any_store_uri)
    with cairn.start_run() as run:
        assert cairn.active_run() is run
        assert run.info.status == "RUNNING"
        cairn.log_param("lr", 0.001)
        cairn.log_metric("val_loss", 0.2, step=3)
        cairn.set_tag("stage", "dev")
    assert cairn.active_run() is None
    stored = cairn.get_run(run.info.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.info.end_time is not None
    assert stored.data.params == {"lr": "0.001"}
    assert stored.data.metrics == {"val_loss": 0.2}
    assert stored.data.tags["stage"] == "dev"


def test_exception_in_with_block_fails_the_run(any_store_uri: str) -> None:
    cairn.set_tracking_uri(any_store_uri)
    with pytest.raises(ZeroDivisionError), cairn.start_run() as run:
        _ = 1 / 0
    assert cairn.get_run(run.info.run_id).info.status == "FAILED"
    assert cairn.active_run() is None


@pytest.mark.usefixtures("tracking_uri")
def test_system_tags_and_user() -> None:
    with cairn.start_run() as run:
        pass
    stored = cairn.get_run(run.info.run_id)
    tags = stored.data.tags
    assert tags["mlflow.user"] == getpass.getuser()
    assert stored.info.user_id == getpass.getuser()
    assert tags["mlflow.source.name"] == sys.argv[0]
    assert tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.runName"] == stored.info.run_name
    assert len(stored.info.run_name.split("-")) == 3


@pytest.mark.usefixtures("tracking_uri")
def test_run_name_tags_and_description() -> None:
    with cairn.start_run(run_name="named", tags={"k": 1}, description="why") as run:
        pass
    stored = cairn.get_run(run.info.run_id)
    assert stored.info.run_name == "named"
    assert stored.data.tags["k"] == "1"
    assert stored.data.tags["mlflow.note.content"] == "why"
    assert stored.data.tags["mlflow.runName"] == "named"


@pytest.mark.usefixtures("tracking_uri")
def test_second_run_needs_nested() -> None:
    with cairn.start_run() as outer:
        with pytest.raises(MlflowException, match="already active"):
            cairn.start_run()
        with cairn.start_run(nested=True) as inner:
            assert cairn.active_run() is inner
        assert cairn.active_run() is outer
    child = cairn.get_run(inner.info.run_id)
    assert child.data.tags["mlflow.parentRunId"] == outer.info.run_id
    assert child.info.status == "FINISHED"
    assert cairn.get_run(outer.info.run_id).info.status == "FINISHED"


@pytest.mark.usefixtures("tracking_uri")
def test_explicit_parent_run_id() -> None:
    with cairn.start_run() as parent:
        pass
    with cairn.start_run(parent_run_id=parent.info.run_id) as child:
        pass
    assert cairn.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id
    with cairn.start_run(), pytest.raises(MlflowException, match="does not match"):
        cairn.start_run(nested=True, parent_run_id=parent.info.run_id)


@pytest.mark.usefixtures("tracking_uri")
def test_resume_a_finished_run() -> None:
    with cairn.start_run() as run:
        cairn.log_metric("m", 1.0)
    with cairn.start_run(run_id=run.info.run_id) as resumed:
        assert cairn.get_run(run.info.run_id).info.status == "RUNNING"
        cairn.log_metric("m", 2.0, step=1)
    assert resumed.info.run_id == run.info.run_id
    stored = cairn.get_run(run.info.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.data.metrics == {"m": 2.0}


@pytest.mark.usefixtures("tracking_uri")
def test_resume_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = MlflowClient().create_run("0").info.run_id
    monkeypatch.setenv("MLFLOW_RUN_ID", run_id)
    with cairn.start_run() as run:
        assert run.info.run_id == run_id
    with cairn.start_run() as fresh:  # the variable names a run to resume once
        pass
    assert fresh.info.run_id != run_id


@pytest.mark.usefixtures("tracking_uri")
def test_a_deleted_run_cannot_be_resumed() -> None:
    with cairn.start_run() as run:
        pass
    cairn.delete_run(run.info.run_id)
    with pytest.raises(MlflowException, match="deleted"):
        cairn.start_run(run_id=run.info.run_id)
    assert cairn.active_run() is None


@pytest.mark.usefixtures("tracking_uri")
def test_end_run_and_last_active_run() -> None:
    assert cairn.last_active_run() is None
    run = cairn.start_run()
    assert cairn.last_active_run() is run
    cairn.end_run(status="KILLED")
    last = cairn.last_active_run()
    assert last is not None
    assert last.info.run_id == run.info.run_id
    assert last.info.status == "KILLED"
    cairn.end_run()  # nothing active: a no-op


@pytest.mark.usefixtures("tracking_uri")
def test_logging_without_a_run_starts_one() -> None:
    assert cairn.log_param("p", 5) == 5
    run = cairn.active_run()
    assert run is not None
    cairn.log_params({"a": 1, "b": "two"})
    cairn.log_metrics({"x": 1.0, "y": 2.0}, step=4)
    cairn.set_tags({"t1": "v", "t2": 3})
    cairn.delete_tag("t1")
    cairn.end_run()
    stored = cairn.get_run(run.info.run_id)
    assert stored.data.params == {"p": "5", "a": "1", "b": "two"}
    assert stored.data.metrics == {"x": 1.0, "y": 2.0}
    assert {m.step for m in stored.data.metric_objects} == {4}
    assert stored.data.tags["t2"] == "3"
    assert "t1" not in stored.data.tags


@pytest.mark.usefixtures("tracking_uri")
def test_log_metrics_share_one_timestamp() -> None:
    with cairn.start_run() as run:
        cairn.log_metrics({"a": 1.0, "b": 2.0, "c": 3.0})
        cairn.log_metric("d", 4.0, timestamp=777)
    points = cairn.get_run(run.info.run_id).data.metric_objects
    assert len({m.timestamp for m in points if m.key in "abc"}) == 1
    assert next(m.timestamp for m in points if m.key == "d") == 777


@pytest.mark.usefixtures("tracking_uri")
def test_set_experiment_creates_and_activates() -> None:
    exp = cairn.set_experiment("my-exp")
    assert exp.name == "my-exp"
    assert cairn.get_experiment_by_name("my-exp") == exp
    with cairn.start_run() as run:
        pass
    assert run.info.experiment_id == exp.experiment_id
    again = cairn.set_experiment(experiment_id=exp.experiment_id)
    assert again.experiment_id == exp.experiment_id
    with cairn.start_run(experiment_id="0") as other:
        pass
    assert other.info.experiment_id == "0"


@pytest.mark.usefixtures("tracking_uri")
def test_set_experiment_refusals() -> None:
    with pytest.raises(MlflowException) as info:
        cairn.set_experiment()
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    with pytest.raises(MlflowException) as info:
        cairn.set_experiment("a", "1")
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    exp_id = cairn.create_experiment("doomed")
    cairn.delete_experiment(exp_id)
    with pytest.raises(MlflowException, match="deleted") as info:
        cairn.set_experiment("doomed")
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    with pytest.raises(MlflowException) as info:
        cairn.set_experiment(experiment_id="424242")
    assert info.value.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST
    cairn.restore_experiment(exp_id)
    assert cairn.set_experiment("doomed").experiment_id == exp_id


@pytest.mark.usefixtures("tracking_uri")
def test_experiment_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    with cairn.start_run() as run:
        pass
    exp = cairn.get_experiment_by_name("from-env")
    assert exp is not None
    assert run.info.experiment_id == exp.experiment_id
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME")
    monkeypatch.setenv("CAIRN_EXPERIMENT_ID", exp.experiment_id)
    with cairn.start_run() as second:
        pass
    assert second.info.experiment_id == exp.experiment_id


@pytest.mark.usefixtures("tracking_uri")
def test_experiment_tags_go_to_the_active_experiment() -> None:
    exp = cairn.set_experiment("tagged")
    cairn.set_experiment_tag("a", 1)
    cairn.set_experiment_tags({"b": "2", "c": "3"})
    cairn.delete_experiment_tag("c")
    assert cairn.get_experiment(exp.experiment_id).tags == {"a": "1", "b": "2"}


@pytest.mark.usefixtures("tracking_uri")
def test_search_experiments_returns_all_pages() -> None:
    for i in range(4):
        cairn.create_experiment(f"e{i}")
    names = {e.name for e in cairn.search_experiments()}
    assert {"e0", "e1", "e2", "e3", "Default"} <= names
    assert len(cairn.search_experiments(max_results=2)) == 2
    assert [e.name for e in cairn.search_experiments(filter_string="name = 'e2'")] == ["e2"]


@pytest.mark.usefixtures("tracking_uri")
def test_log_input_with_a_dataset_entity_and_a_lookalike() -> None:
    class Lookalike:
        name = "iris"
        digest = "abc123"
        source_type = "local"
        source = '{"uri": "/data/iris.csv"}'
        schema = None
        profile = '{"num_rows": 150}'

    with cairn.start_run() as run:
        cairn.log_input(Dataset("wine", "d1", "local", "{}"), context="training", tags={"k": "v"})
        cairn.log_input(Lookalike(), context="eval")
    inputs = cairn.get_run(run.info.run_id).inputs.dataset_inputs
    by_name = {i.dataset.name: i for i in inputs}
    assert set(by_name) == {"wine", "iris"}
    wine_tags = {t.key: t.value for t in by_name["wine"].tags}
    assert wine_tags == {"k": "v", "mlflow.data.context": "training"}
    assert by_name["iris"].dataset.profile == '{"num_rows": 150}'
    assert {t.key: t.value for t in by_name["iris"].tags} == {"mlflow.data.context": "eval"}


@pytest.mark.usefixtures("tracking_uri")
def test_log_input_needs_a_dataset_for_context() -> None:
    with cairn.start_run(), pytest.raises(MlflowException) as info:
        cairn.log_input(None, context="training")
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    with cairn.start_run(), pytest.raises(MlflowException):
        cairn.log_input(object())


@pytest.mark.usefixtures("tracking_uri")
def test_artifacts_of_the_active_run(tmp_path: object) -> None:
    with cairn.start_run() as run:
        cairn.log_text("x", "a/b.txt")
        cairn.log_dict({"k": 1}, "d.json")
        root = cairn.get_artifact_uri()
        nested = cairn.get_artifact_uri("a/b.txt")
    stored = cairn.get_run(run.info.run_id)
    assert root == stored.info.artifact_uri
    assert nested == root.rstrip("/") + "/a/b.txt"
    paths = {f.path for f in MlflowClient().list_artifacts(run.info.run_id)}
    assert paths == {"a", "d.json"}


@pytest.mark.usefixtures("tracking_uri")
def test_autolog_warns_and_does_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert cairn.autolog(log_models=False, silent=True) is None
        assert caplog.records == []
        assert cairn.autolog() is None
    assert "no autologging integrations" in caplog.text
    assert cairn.active_run() is None


@pytest.mark.usefixtures("tracking_uri")
def test_end_run_with_an_unknown_status_keeps_the_run_active() -> None:
    run = cairn.start_run()
    with pytest.raises(MlflowException) as info:
        cairn.end_run("SORT_OF_DONE")
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert cairn.active_run() is run
    cairn.end_run(RunStatus.to_string(RunStatus.FAILED))
    assert cairn.get_run(run.info.run_id).info.status == "FAILED"


@pytest.mark.usefixtures("tracking_uri")
def test_log_input_with_an_mlflow_style_dataset() -> None:
    class Source:
        def to_json(self) -> str:
            return '{"path": "s3://bucket/train.parquet"}'

    class Entity:
        name = "train"
        digest = "f00d"
        source_type = "s3"
        source = '{"path": "s3://bucket/train.parquet"}'
        schema = '{"mlflow_colspec": []}'
        profile = None

    class MlflowLikeDataset:
        name = "ignored: the entity wins"
        source = Source()

        def _to_mlflow_entity(self) -> Entity:
            return Entity()

    with cairn.start_run() as run:
        cairn.log_inputs([MlflowLikeDataset()], contexts=["training"])
    (dataset_input,) = cairn.get_run(run.info.run_id).inputs.dataset_inputs
    assert dataset_input.dataset == Dataset(
        "train", "f00d", "s3", '{"path": "s3://bucket/train.parquet"}', '{"mlflow_colspec": []}'
    )
    assert [(t.key, t.value) for t in dataset_input.tags] == [("mlflow.data.context", "training")]


def test_a_script_that_never_ends_its_run_finishes_it_at_exit(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'exit.db'}"
    script = tmp_path / "forgetful.py"
    script.write_text(
        "import sys, cairn\n"
        "cairn.set_tracking_uri(sys.argv[1])\n"
        "cairn.log_param('p', 1)\n"  # starts a run implicitly and never ends it
        "print(cairn.active_run().info.run_id)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script), uri], capture_output=True, text=True, check=True
    )
    run = MlflowClient(uri).get_run(done.stdout.strip())
    assert run.info.status == "FINISHED"
    assert run.data.params == {"p": "1"}
