"""The on-disk formats: exact bytes written, and every variant MLflow versions left behind."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.entities import ExperimentTag, Metric, Param, RunTag
from cairn.exceptions import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from cairn.store.file import layout
from cairn.store.file.store import FileStore


def test_new_store_has_default_experiment_with_mlflow_meta(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    FileStore(str(root))
    lines = (root / "0" / "meta.yaml").read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "artifact_location",
        "creation_time",
        "experiment_id",
        "last_update_time",
        "lifecycle_stage",
        "name",
    ]
    assert f"artifact_location: {root.resolve().as_uri()}/0" in lines
    assert "experiment_id: '0'" in lines
    assert "name: Default" in lines
    assert (root / ".trash").is_dir()


def test_run_files_are_spelled_like_mlflow(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path / "mlruns"))
    exp_id = store.create_experiment("e", tags=[ExperimentTag("k", "v")])
    assert len(exp_id) == 18
    assert exp_id.isdigit()
    run = store.create_run(exp_id, "me", 123, [], "named")
    run_id = run.info.run_id
    store.log_batch(
        run_id,
        metrics=[
            Metric("a/b", 0.5, 7, 1),
            Metric("a/b", float("nan"), 8, 2),
            Metric("x", 1e-05, 9, 0),
            Metric("int", 3, 10, 4),  # an int value is written as MLflow writes a float
        ],
        params=[Param("p", "no newline")],
    )
    run_dir = tmp_path / "mlruns" / exp_id / run_id
    assert (run_dir / "metrics" / "a" / "b").read_text() == "7 0.5 1\n8 nan 2\n"
    assert (run_dir / "metrics" / "x").read_text() == "9 1e-05 0\n"
    assert (run_dir / "metrics" / "int").read_text() == "10 3.0 4\n"
    assert (run_dir / "params" / "p").read_text() == "no newline"
    assert (run_dir / "tags" / "mlflow.runName").read_text() == "named"
    assert (tmp_path / "mlruns" / exp_id / "tags" / "k").read_text() == "v"
    assert {p.name for p in run_dir.iterdir()} == {
        "meta.yaml",
        "metrics",
        "params",
        "tags",
        "artifacts",
    }
    meta = layout.load_yaml(run_dir / "meta.yaml")
    assert meta == {
        "artifact_uri": f"{(tmp_path / 'mlruns').resolve().as_uri()}/{exp_id}/{run_id}/artifacts",
        "deleted_time": None,
        "end_time": None,
        "entry_point_name": "",
        "experiment_id": exp_id,
        "lifecycle_stage": "active",
        "run_id": run_id,
        "run_name": "named",
        "run_uuid": run_id,
        "source_name": "",
        "source_type": 4,
        "source_version": "",
        "start_time": 123,
        "status": 1,
        "tags": [],
        "user_id": "me",
    }


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("100 0.5", (0.5, 100, 0)),
        ("100 0.5 3", (0.5, 100, 3)),
        ("100 nan 3 train abc123", (math.nan, 100, 3)),
        ("100 -inf 3", (-math.inf, 100, 3)),
    ],
)
def test_metric_line_variants(line: str, expected: tuple[float, int, int]) -> None:
    metric = layout.parse_metric_line("k", line)
    value, timestamp, step = expected
    assert (metric.timestamp, metric.step) == (timestamp, step)
    assert metric.value == value or (math.isnan(value) and math.isnan(metric.value))


def test_unterminated_last_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "m"
    path.write_text("1 0.5 0\n2 0.7 1\n3 0.")
    _, values, _ = layout.read_metric_columns(path, "m")
    assert values == [0.5, 0.7]


def test_old_meta_variants_are_read(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    store = FileStore(str(root))
    run_dir = root / "0" / "0123abcd0123abcd0123abcd0123abcd"
    (run_dir / "metrics").mkdir(parents=True)
    # an MLflow 1.x meta: int experiment id, no lifecycle_stage, status, deleted_time, run_id
    (run_dir / "meta.yaml").write_text(
        "artifact_uri: /x\nend_time: null\nexperiment_id: 0\nrun_uuid: "
        "0123abcd0123abcd0123abcd0123abcd\nstart_time: 5\nuser_id: old\n"
    )
    (run_dir / "metrics" / "m").write_text("5 1.5\n")
    run = store.get_run("0123abcd0123abcd0123abcd0123abcd")
    assert run.info.experiment_id == "0"
    assert run.info.status == "RUNNING"
    assert run.info.lifecycle_stage == "active"
    assert run.data.metrics == {"m": 1.5}
    assert [r.info.run_id for r in store.search_runs(["0"], "metrics.m = 1.5")] == [run.info.run_id]


def test_experiment_names_are_unique_including_trash(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path / "mlruns"))
    exp_id = store.create_experiment("same")
    with pytest.raises(ResourceAlreadyExists, match="already exists"):
        store.create_experiment("same")
    store.delete_experiment(exp_id)
    assert (tmp_path / "mlruns" / ".trash" / exp_id / "meta.yaml").is_file()
    with pytest.raises(ResourceAlreadyExists, match="deleted state"):
        store.create_experiment("same")
    store.hard_delete_experiment(exp_id)
    assert store.create_experiment("same") != exp_id


def test_delete_restore_and_gc(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path / "mlruns"))
    exp_id = store.create_experiment("gc")
    run_id = store.create_run(exp_id, "u", 0, [], "r").info.run_id
    kept_deleted = store.create_run(exp_id, "u", 0, [], "gone").info.run_id
    store.delete_run(kept_deleted)
    with pytest.raises(InvalidParameterValue, match="active"):
        store.log_batch(kept_deleted, params=[Param("p", "1")])
    store.delete_experiment(exp_id)
    assert store.get_run(run_id).info.lifecycle_stage == "deleted"
    assert set(store.deleted_run_ids()) == {run_id, kept_deleted}
    assert store.deleted_run_ids(older_than_ms=10**9) == []
    with pytest.raises(InvalidParameterValue):
        store.delete_experiment("0")
    store.restore_experiment(exp_id)
    assert store.get_run(run_id).info.lifecycle_stage == "active"
    store.delete_run(run_id)
    store.hard_delete_run(run_id)
    with pytest.raises(ResourceDoesNotExist):
        store.get_run(run_id)


def test_params_are_write_once_and_batches_all_or_nothing(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path / "mlruns"))
    run_id = store.create_run("0", "u", 0, [], "r").info.run_id
    store.log_batch(run_id, params=[Param("p", "1")])
    store.log_batch(run_id, params=[Param("p", "1")])
    with pytest.raises(InvalidParameterValue, match="Changing param values"):
        store.log_batch(
            run_id, metrics=[Metric("m", 1.0, 0, 0)], params=[Param("q", "2"), Param("p", "2")]
        )
    run = store.get_run(run_id)
    assert run.data.params == {"p": "1"}
    assert run.data.metrics == {}


def test_run_name_and_tag_stay_in_step(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path / "mlruns"))
    run_id = store.create_run("0", "u", 0, [RunTag("mlflow.runName", "from-tag")], None).info.run_id
    assert store.get_run(run_id).info.run_name == "from-tag"
    store.log_batch(run_id, tags=[RunTag("mlflow.runName", "renamed")])
    assert store.get_run(run_id).info.run_name == "renamed"
    store.update_run_info(run_id, None, None, "again")
    assert store.get_run(run_id).data.tags["mlflow.runName"] == "again"
    assert [r.info.run_name for r in store.search_runs(["0"], "attributes.run_name = 'again'")] == [
        "again"
    ]


def test_metric_history_pages(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path / "mlruns"))
    run_id = store.create_run("0", "u", 0, [], "r").info.run_id
    store.log_batch(run_id, metrics=[Metric("m", float(i), i, 9 - i) for i in range(10)])
    first = store.get_metric_history(run_id, "m", max_results=4)
    assert [m.step for m in first] == [0, 1, 2, 3]
    rest = store.get_metric_history(run_id, "m", max_results=100, page_token=first.token)
    assert [m.step for m in rest] == [4, 5, 6, 7, 8, 9]
    assert rest.token is None
    assert store.get_metric_history(run_id, "missing") == []


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([(0, 30), (1, 20), (2, 10)], [(0, 30), (1, 20), (2, 10)]),  # rising steps win
        ([(0, 30), (0, 10), (0, 20)], [(0, 10), (0, 20), (0, 30)]),  # one step: by time
        ([(1, 5), (0, 9), (1, 1), (0, 9)], [(0, 9), (0, 9), (1, 1), (1, 5)]),  # both
        ([(3, 1), (3, 1), (4, 0)], [(3, 1), (3, 1), (4, 0)]),  # ties kept
    ],
)
def test_history_is_ordered_by_step_then_timestamp(
    tmp_path: Path, points: list[tuple[int, int]], expected: list[tuple[int, int]]
) -> None:
    store = FileStore(str(tmp_path / "mlruns"))
    run_id = store.create_run("0", "u", 0, [], "r").info.run_id
    metrics = [Metric("m", float(i), timestamp, step) for i, (step, timestamp) in enumerate(points)]
    store.log_batch(run_id, metrics=metrics)
    history = store.get_metric_history(run_id, "m")
    assert [(m.step, m.timestamp) for m in history] == expected
    ties = [
        (a, b)
        for a, b in itertools.pairwise(history)
        if (a.step, a.timestamp) == (b.step, b.timestamp)
    ]
    assert all(a.value < b.value for a, b in ties)  # in the order logged (value = position)


def test_get_run_follows_metric_files_written_behind_its_back(tmp_path: Path) -> None:
    """Latest values come from what each file gained since the last read, and a file that
    was replaced or shortened is read again whole."""
    store = FileStore(str(tmp_path / "mlruns"))
    run_id = store.create_run(store.create_experiment("e"), "me", 1, [], "r").info.run_id
    store.log_batch(run_id, metrics=[Metric("loss", 0.5, 10, 1), Metric("loss", 0.4, 20, 2)])
    assert store.get_run(run_id).data.metrics == {"loss": 0.4}
    path = next((tmp_path / "mlruns").glob(f"*/{run_id}/metrics/loss"))

    def latest() -> tuple[float, int, int]:
        (point,) = store.get_run(run_id).data.metric_objects
        return point.value, point.timestamp, point.step

    with path.open("a") as handle:  # another writer (MLflow) appends
        handle.write("30 0.9 1\n")  # an older step: not the latest
    assert latest() == (0.4, 20, 2)
    with path.open("a") as handle:
        handle.write("40 0.3 3\n50 0.2")  # the second line is still being written
    assert latest() == (0.3, 40, 3)
    with path.open("a") as handle:
        handle.write(" 4\n")
    assert latest() == (0.2, 50, 4)
    path.write_text("60 0.7 1\n")  # shortened in place
    assert latest() == (0.7, 60, 1)
    replacement = path.with_name("new")
    replacement.write_text("70 0.8 1\n")  # same size, another file
    replacement.replace(path)
    assert latest() == (0.8, 70, 1)
    path.unlink()
    assert store.get_run(run_id).data.metrics == {}


@pytest.mark.parametrize(
    "points",
    [
        [(1.0, 10, 0), (2.0, 5, 1), (0.5, 6, 1)],  # the highest step wins
        [(1.0, 10, 2), (3.0, 10, 2), (2.0, 10, 2)],  # then the highest timestamp, value
        [(1.0, 10, 2), (math.nan, 10, 2), (5.0, 10, 2)],  # NaN ranks above every value
        [(-math.inf, 3, 7)],
    ],
)
def test_latest_of_columns_agrees_with_latest_metric(
    points: list[tuple[float, int, int]],
) -> None:
    metrics = [Metric("k", value, timestamp, step) for value, timestamp, step in points]
    values, timestamps, steps = (list(column) for column in zip(*points, strict=True))
    expected = layout.latest_metric(metrics)
    found = layout.latest_of_columns("k", timestamps, values, steps)
    assert found is not None
    assert (found.timestamp, found.step) == (expected.timestamp, expected.step)
    both_nan = math.isnan(found.value) and math.isnan(expected.value)
    assert both_nan or found.value == expected.value
    assert layout.latest_of_columns("k", [], [], []) is None


def _pyyaml(data: dict[str, object]) -> str:
    text: str = yaml.dump(
        data, Dumper=layout._Dumper, default_flow_style=False, allow_unicode=True, sort_keys=True
    )
    return text


# Strings made of the characters the fast path accepts plus the ones that change how
# PyYAML spells a scalar (indicators, quotes, spaces, breaks, non-ASCII).
_SCALAR_TEXT = st.text(
    alphabet=st.sampled_from("aZ09_./:+=-~ #'\"\n!&*?,[]{}%@`|>\tyesnoNulL<é"), max_size=8
)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1",
        "0.5",
        "1e3",
        "0x1F",
        "1_000",
        "yes",
        "No",
        "on",
        "null",
        "Null",
        "~",
        "=",
        "2024-01-02",
        "12:30:00",
        "-",
        "-a",
        "--",
        "---",
        ".",
        "...",
        ".5",
        ":",
        "a:",
        "a:b",
        "file:///tmp/x y/mlruns",
        "s3://bucket/key",
        "/abs/path",
        "bold-cat-123",
        "a" * 200,
        "<<",
        "+1",
        "nan",
        ".inf",
        "tag-1",
        "run/name",
        None,
        0,
        -3,
        1_700_000_000_000,
        True,
        1.5,
        [],
        ["x"],
        {"a": 1},
    ],
)
def test_flat_yaml_matches_pyyaml(value: object) -> None:
    meta = {"b_key": value, "a_key": "v", "c": None}
    assert layout.dump_yaml(meta) == _pyyaml(meta)
    assert yaml.safe_load(layout.dump_yaml(meta)) == meta


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(_SCALAR_TEXT, st.none(), st.integers()), min_size=1, max_size=3))
def test_flat_yaml_matches_pyyaml_on_any_scalars(values: list[object]) -> None:
    meta = {f"key_{i}": value for i, value in enumerate(values)}
    assert layout.dump_yaml(meta) == _pyyaml(meta)


def test_a_new_runs_meta_takes_the_fast_path(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path / "mlruns"))
    run = store.create_run("0", "me", 123, [], "bold-cat-7")
    meta = layout.load_yaml(tmp_path / "mlruns" / "0" / run.info.run_id / "meta.yaml")
    assert meta is not None
    assert layout._dump_flat_yaml(meta) == _pyyaml(meta)
