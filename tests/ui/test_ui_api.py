"""The UI's support endpoints: downsampled metric history (extremes always kept) and a
run's artifact directory as a zip."""

from __future__ import annotations

import io
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cairn.entities import Metric
from cairn.server import create_app
from cairn.store.downsample import bucket_arrays, downsample_history
from cairn.store.registry import create_tracking_store
from cairn.store.tracking import TrackingStore
from ui.test_mount import Client

HISTORY = "/ajax-api/2.0/cairn/metrics/get-history-downsampled"
ZIP = "/ajax-api/2.0/cairn/artifacts/download-zip"
T0 = 1_700_000_000_000


def log_points(store: TrackingStore, run_id: str, key: str, values: list[float]) -> None:
    for start in range(0, len(values), 1000):
        store.log_batch(
            run_id,
            metrics=[
                Metric(key, values[i], T0 + i, i)
                for i in range(start, min(start + 1000, len(values)))
            ],
        )


def wavy(n: int) -> list[float]:
    return [math.sin(i / 500) for i in range(n)]


@pytest.fixture
def sqlite_store(tmp_path: Path) -> TrackingStore:
    return create_tracking_store(f"sqlite:///{tmp_path / 'cairn.db'}", str(tmp_path / "art"))


def new_run(store: TrackingStore) -> str:
    experiment = store.create_experiment(f"e{len(store.search_experiments())}")
    return store.create_run(experiment, "u", T0, [], "r").info.run_id


# -- the bucketing itself --------------------------------------------------------------


def test_a_single_spike_survives_a_million_points() -> None:
    n = 1_000_000
    steps = np.arange(n, dtype=np.int64)
    values = np.sin(steps / 1000.0)
    values[654_321] = 75.0  # up
    values[123_457] = -40.0  # and down
    buckets = bucket_arrays(steps, steps + T0, values, 1000, 0, n - 1)
    assert len(buckets) == 1000
    assert sum(b.count for b in buckets) == n
    assert max(b.value_max for b in buckets) == 75.0
    assert min(b.value_min for b in buckets) == -40.0
    spike = next(b for b in buckets if b.value_max == 75.0)
    assert spike.step_min <= 654_321 <= spike.step_max
    # everywhere else the envelope stays within the wave
    assert sorted(b.value_max for b in buckets)[-2] <= 1.0


def test_few_steps_are_returned_point_by_point() -> None:
    steps = np.array([3, 1, 2], dtype=np.int64)
    buckets = bucket_arrays(steps, steps * 10, np.array([0.3, 0.1, 0.2]), 1000, 1, 3)
    assert [(b.step_min, b.value_min, b.value_max, b.count) for b in buckets] == [
        (1, 0.1, 0.1, 1),
        (2, 0.2, 0.2, 1),
        (3, 0.3, 0.3, 1),
    ]


# -- through the store and the endpoint ------------------------------------------------


@pytest.mark.slow
def test_a_spike_in_a_million_logged_points_survives_the_endpoint(
    tmp_path: Path, sqlite_store: TrackingStore
) -> None:
    run_id = new_run(sqlite_store)
    values = wavy(1_000_000)
    values[777_777] = 50.0
    log_points(sqlite_store, run_id, "loss", values)
    client = Client(create_app(sqlite_store))
    body = client.get(HISTORY, params={"run_id": run_id, "metric_key": "loss"}).json()
    assert body["total_points"] == 1_000_000
    assert body["max_points"] == 1000
    assert len(body["buckets"]) == 1000
    assert sum(b["count"] for b in body["buckets"]) == 1_000_000
    top = max(body["buckets"], key=lambda b: b["value_max"])
    assert top["value_max"] == 50.0
    assert top["step_min"] <= 777_777 <= top["step_max"]
    # zooming into the spike's neighbourhood gives the raw points back
    zoom = client.get(
        HISTORY,
        params={"run_id": run_id, "metric_key": "loss", "start_step": 777_700, "end_step": 777_799},
    ).json()
    assert zoom["total_points"] == 100
    assert [b["step_min"] for b in zoom["buckets"]] == list(range(777_700, 777_800))
    assert zoom["buckets"][77]["value_max"] == 50.0
    assert all(b["count"] == 1 for b in zoom["buckets"])


@pytest.mark.parametrize("backend", ["sqlite", "file"])
def test_database_and_python_paths_agree(tmp_path: Path, backend: str) -> None:
    uri = f"sqlite:///{tmp_path / 'c.db'}" if backend == "sqlite" else str(tmp_path / "mlruns")
    store = create_tracking_store(uri, str(tmp_path / "art"))
    run_id = new_run(store)
    values = wavy(5000)
    values[4321] = -9.0
    values[10] = math.nan
    values[11] = math.inf
    log_points(store, run_id, "m", values)
    result = downsample_history(store, run_id, "m", max_points=100, start_step=0, end_step=4999)
    assert result.total_points == 5000
    assert result.non_finite == 2
    assert len(result.buckets) == 100
    assert all(b.count == 50 for b in result.buckets[1:])
    assert result.buckets[0].count == 48  # NaN and inf left out
    assert min(b.value_min for b in result.buckets) == -9.0
    reference = np.array(values)
    finite = np.isfinite(reference)
    # every bucket's extremes are exactly those of its 50 steps
    for b in result.buckets:
        window = reference[b.step_min : b.step_max + 1][finite[b.step_min : b.step_max + 1]]
        assert (b.value_min, b.value_max) == (window.min(), window.max())
        assert (b.timestamp_min, b.timestamp_max) == (T0 + b.step_min, T0 + b.step_max)


def test_open_bounds_cover_the_logged_steps(sqlite_store: TrackingStore) -> None:
    run_id = new_run(sqlite_store)
    sqlite_store.log_batch(run_id, metrics=[Metric("m", float(s), T0, s) for s in (5, 10, 400)])
    client = Client(create_app(sqlite_store))
    body = client.get(HISTORY, params={"run_id": run_id, "metric_key": "m"}).json()
    assert [(b["step_min"], b["value_max"]) for b in body["buckets"]] == [
        (5, 5.0),
        (10, 10.0),
        (400, 400.0),
    ]
    body = client.get(HISTORY, params={"run_id": run_id, "metric_key": "m", "start_step": 6}).json()
    assert [b["step_min"] for b in body["buckets"]] == [10, 400]
    missing = client.get(HISTORY, params={"run_id": run_id, "metric_key": "nope"}).json()
    assert missing["total_points"] == 0
    assert missing["buckets"] == []


@pytest.mark.parametrize(
    ("params", "code", "status"),
    [
        ({"metric_key": "m"}, "INVALID_PARAMETER_VALUE", 400),
        ({"run_id": "RUN", "max_points": "0"}, "INVALID_PARAMETER_VALUE", 400),
        ({"run_id": "RUN", "max_points": "10001"}, "INVALID_PARAMETER_VALUE", 400),
        ({"run_id": "RUN", "max_points": "ten"}, "INVALID_PARAMETER_VALUE", 400),
        ({"run_id": "RUN", "start_step": "9", "end_step": "3"}, "INVALID_PARAMETER_VALUE", 400),
        ({"run_id": "0" * 32}, "RESOURCE_DOES_NOT_EXIST", 404),
    ],
)
def test_bad_history_requests_get_mlflow_errors(
    sqlite_store: TrackingStore, params: dict[str, str], code: str, status: int
) -> None:
    run_id = new_run(sqlite_store)
    query = {"metric_key": "m", **{k: v.replace("RUN", run_id) for k, v in params.items()}}
    response = Client(create_app(sqlite_store)).get(HISTORY, params=query)
    assert response.status_code == status
    assert response.json()["error_code"] == code


def test_the_endpoints_are_in_the_openapi_document(sqlite_store: TrackingStore) -> None:
    document = Client(create_app(sqlite_store)).get("/openapi.json").json()
    assert "/api/2.0/cairn/metrics/get-history-downsampled" in document["paths"]
    assert "/api/2.0/cairn/artifacts/download-zip" in document["paths"]
    assert "DownsampledHistoryResponse" in document["components"]["schemas"]


# -- zip downloads ---------------------------------------------------------------------


def run_with_artifacts(store: TrackingStore, files: dict[str, bytes]) -> tuple[str, Path]:
    run_id = new_run(store)
    uri = store.get_run(run_id).info.artifact_uri
    assert uri is not None
    root = Path(uri.removeprefix("file://"))
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return run_id, root


def unzip(response: Any) -> dict[str, bytes]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_a_directory_downloads_as_a_zip(sqlite_store: TrackingStore) -> None:
    big = os.urandom(3 * 1024 * 1024)  # several read chunks
    files = {"a.txt": b"A", "model/w.bin": big, "model/sub/c.json": b"{}"}
    run_id, _ = run_with_artifacts(sqlite_store, files)
    client = Client(create_app(sqlite_store))
    whole = client.get(ZIP, params={"run_id": run_id})
    assert unzip(whole) == files
    assert f'filename="{run_id}-artifacts.zip"' in whole.headers["content-disposition"]
    part = client.get(ZIP, params={"run_id": run_id, "path": "model"})
    assert unzip(part) == {"w.bin": big, "sub/c.json": b"{}"}
    assert f'filename="{run_id}-model.zip"' in part.headers["content-disposition"]


def test_zip_paths_are_checked(tmp_path: Path, sqlite_store: TrackingStore) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    run_id, root = run_with_artifacts(sqlite_store, {"ok.txt": b"ok"})
    (root / "escape").symlink_to(outside)
    client = Client(create_app(sqlite_store))
    for bad in ("../", "../../outside", "/etc", "a/../../b"):
        response = client.get(ZIP, params={"run_id": run_id, "path": bad})
        assert response.status_code == 400, bad
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    # a symlink leading out of the artifact root is never followed
    assert unzip(client.get(ZIP, params={"run_id": run_id})) == {"ok.txt": b"ok"}
    escape = client.get(ZIP, params={"run_id": run_id, "path": "escape"})
    assert escape.status_code == 400
    assert b"secret" not in escape.content
    empty = client.get(ZIP, params={"run_id": run_id, "path": "nothing-here"})
    assert empty.status_code == 404
    assert empty.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert client.get(ZIP, params={"run_id": "0" * 32}).status_code == 404
    assert client.get(ZIP).json()["error_code"] == "INVALID_PARAMETER_VALUE"
