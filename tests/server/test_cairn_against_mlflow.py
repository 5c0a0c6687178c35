"""Cairn's own client against a live reference ``mlflow server``.

The server runs from the reference MLflow's virtualenv over SQLite, proxying artifacts
(``mlflow-artifacts:``) into its working directory. Starting it takes half a minute, so
the whole module shares one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

import cairn
from cairn.entities import Metric, Param, RunTag
from cairn.exceptions import MlflowException
from cairn.tracking import MlflowClient
from server.live import LiveServer, free_port, start_process, stop_server

pytestmark = [pytest.mark.server, pytest.mark.mlflow, pytest.mark.slow]

MLFLOW_STARTUP_TIMEOUT_S = 180.0


@pytest.fixture(scope="module")
def mlflow_server(
    mlflow_python: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    argv = [
        str(mlflow_python),
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / 'm.db'}",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",  # one process starts in half the time of MLflow's default four
        "1",
    ]
    process = start_process(root, argv, port, timeout=MLFLOW_STARTUP_TIMEOUT_S, own_group=True)
    yield LiveServer(f"http://127.0.0.1:{port}", root, root / "mlartifacts", process)
    stop_server(process)


@pytest.fixture
def client(
    mlflow_server: LiveServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> MlflowClient:
    # an unreachable server sends writes to the offline journal: keep it out of $HOME
    monkeypatch.setenv("CAIRN_JOURNAL_DIR", str(tmp_path / "journal"))
    monkeypatch.setenv("CAIRN_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("CAIRN_HTTP_REQUEST_BACKOFF_FACTOR", "0.01")
    return MlflowClient(tracking_uri=mlflow_server.url)


def _error_code(exc: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(exc.value.error_code)


def test_experiments_round_trip(client: MlflowClient) -> None:
    experiment_id = client.create_experiment("cairn-exp", tags={"team": "x"})
    experiment = client.get_experiment(experiment_id)
    assert experiment.name == "cairn-exp"
    assert experiment.tags["team"] == "x"
    assert experiment.artifact_location.startswith("mlflow-artifacts:/")
    by_name = client.get_experiment_by_name("cairn-exp")
    assert by_name is not None
    assert by_name.experiment_id == experiment_id
    assert client.get_experiment_by_name("no-such-experiment") is None
    client.set_experiment_tag(experiment_id, "stage", "dev")
    found = client.search_experiments(filter_string="tags.stage = 'dev'")
    assert [e.experiment_id for e in found] == [experiment_id]
    client.rename_experiment(experiment_id, "cairn-exp-renamed")
    assert client.get_experiment(experiment_id).name == "cairn-exp-renamed"

    with pytest.raises(MlflowException) as duplicate:
        client.create_experiment("cairn-exp-renamed")
    assert _error_code(duplicate) == "RESOURCE_ALREADY_EXISTS"


def test_runs_batches_and_history(client: MlflowClient) -> None:
    experiment_id = client.create_experiment("cairn-runs")
    run = client.create_run(experiment_id, tags={"owner": "cairn"}, run_name="first")
    run_id = run.info.run_id
    assert run.info.run_name == "first"
    assert run.info.status == "RUNNING"
    client.log_batch(
        run_id,
        metrics=[Metric("loss", 1.0 / (s + 1), 1_700_000_000_000 + s, s) for s in range(30)]
        + [Metric("odd", math.nan, 1_700_000_000_000, 0)],
        params=[Param("lr", "0.01"), Param("layers", "3")],
        tags=[RunTag("note", "batch")],
    )
    client.set_terminated(run_id, "FINISHED")

    fetched = client.get_run(run_id)
    assert fetched.info.status == "FINISHED"
    assert fetched.info.end_time is not None
    assert fetched.data.params == {"lr": "0.01", "layers": "3"}
    assert fetched.data.tags["note"] == "batch"
    assert fetched.data.tags["owner"] == "cairn"
    assert fetched.data.metrics["loss"] == pytest.approx(1.0 / 30)
    assert math.isnan(fetched.data.metrics["odd"])

    history = client.get_metric_history(run_id, "loss")
    assert [(p.step, p.value, p.timestamp) for p in history] == [
        (s, pytest.approx(1.0 / (s + 1)), 1_700_000_000_000 + s) for s in range(30)
    ]

    with pytest.raises(MlflowException) as changed:
        client.log_param(run_id, "lr", "0.02", synchronous=True)
    assert _error_code(changed) == "INVALID_PARAMETER_VALUE"


def test_search_with_filters_order_and_pages(client: MlflowClient) -> None:
    experiment_id = client.create_experiment("cairn-search")
    ids = {}
    for i in range(5):
        run_id = client.create_run(experiment_id, run_name=f"r{i}").info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric("acc", i / 10, 1, 0)],
            params=[Param("parity", "even" if i % 2 == 0 else "odd")],
        )
        ids[i] = run_id

    better = client.search_runs(
        [experiment_id], "metrics.acc > 0.15 and params.parity = 'even'", order_by=["metrics.acc"]
    )
    assert [r.info.run_id for r in better] == [ids[2], ids[4]]

    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = client.search_runs(
            [experiment_id], order_by=["metrics.acc DESC"], max_results=2, page_token=token
        )
        seen.extend(r.info.run_id for r in page)
        pages += 1
        token = page.token
        if not token:
            break
    assert seen == [ids[i] for i in (4, 3, 2, 1, 0)]
    assert pages == 3


@pytest.fixture
def global_tracking_uri(mlflow_server: LiveServer) -> Iterator[None]:
    """Known gap in cairn.tracking.client: it resolves ``mlflow-artifacts:`` URIs against
    the global tracking URI, not the client's own, so artifact tests set both."""
    cairn.set_tracking_uri(mlflow_server.url)
    yield
    cairn.set_tracking_uri(None)


@pytest.mark.usefixtures("global_tracking_uri")
def test_artifacts_through_the_mlflow_proxy(
    client: MlflowClient, mlflow_server: LiveServer, tmp_path: Path
) -> None:
    experiment_id = client.create_experiment("cairn-artifacts")
    run = client.create_run(experiment_id)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
    source = tmp_path / "notes.txt"
    source.write_text("kept by mlflow\n")
    client.log_artifact(run.info.run_id, str(source), "docs")

    listing = client.list_artifacts(run.info.run_id, "docs")
    assert [(f.path, f.is_dir, f.file_size) for f in listing] == [
        ("docs/notes.txt", False, len("kept by mlflow\n"))
    ]
    (tmp_path / "out").mkdir()
    downloaded = client.download_artifacts(run.info.run_id, "docs", str(tmp_path / "out"))
    assert (Path(downloaded) / "notes.txt").read_text() == "kept by mlflow\n"
    stored = list(mlflow_server.artifacts.rglob("notes.txt"))
    assert [p.read_text() for p in stored] == ["kept by mlflow\n"]


def test_mlflow_error_codes_reach_the_caller(client: MlflowClient) -> None:
    with pytest.raises(MlflowException) as missing_run:
        client.get_run("0" * 32)
    assert _error_code(missing_run) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as missing_experiment:
        client.get_experiment("987654")
    assert _error_code(missing_experiment) == "RESOURCE_DOES_NOT_EXIST"
