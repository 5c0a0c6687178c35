"""Server configurations and error rendering, exercised in-process over ASGI."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from cairn.server import ServerConfig, create_app
from cairn.server.app import create_app_from_config
from cairn.store.registry import create_tracking_store


def _call(app: FastAPI, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://cairn") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def test_artifacts_only_serves_no_tracking(tmp_path: Path) -> None:
    app = create_app_from_config(
        ServerConfig(
            f"sqlite:///{tmp_path / 'unused.db'}",
            artifacts_destination=str(tmp_path / "dest"),
            artifacts_only=True,
        )
    )
    response = _call(app, "POST", "/api/2.0/mlflow/experiments/create", json={"name": "x"})
    assert response.status_code == 404
    assert response.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    put = _call(app, "PUT", "/api/2.0/mlflow-artifacts/artifacts/a/b.txt", content=b"hi")
    assert put.status_code == 200
    assert (tmp_path / "dest" / "a" / "b.txt").read_bytes() == b"hi"
    assert not (tmp_path / "unused.db").exists()


def test_without_artifact_serving_runs_use_the_given_root(tmp_path: Path) -> None:
    root = (tmp_path / "artifacts").as_uri()
    app = create_app_from_config(
        ServerConfig(
            f"sqlite:///{tmp_path / 'c.db'}", default_artifact_root=root, serve_artifacts=False
        )
    )
    created = _call(app, "POST", "/api/2.0/mlflow/experiments/create", json={"name": "e"})
    exp_id = created.json()["experiment_id"]
    run = _call(app, "POST", "/api/2.0/mlflow/runs/create", json={"experiment_id": exp_id})
    assert run.json()["run"]["info"]["artifact_uri"].startswith(root)
    proxy = _call(app, "GET", "/api/2.0/mlflow-artifacts/artifacts", params={"path": ""})
    assert proxy.status_code == 404
    assert proxy.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_serving_artifacts_defaults_to_the_proxy_root_and_mlartifacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = ServerConfig(f"sqlite:///{tmp_path / 'c.db'}")
    assert config.store_artifact_root() == "mlflow-artifacts:/"
    assert config.destination() == str(tmp_path / "mlartifacts")
    app = create_app_from_config(config)
    exp_id = _call(app, "POST", "/api/2.0/mlflow/experiments/create", json={"name": "e"}).json()[
        "experiment_id"
    ]
    experiment = _call(
        app, "GET", "/api/2.0/mlflow/experiments/get", params={"experiment_id": exp_id}
    )
    assert experiment.json()["experiment"]["artifact_location"] == f"mlflow-artifacts:/{exp_id}"


class _BrokenStore:
    def get_experiment(self, experiment_id: str) -> Any:
        raise RuntimeError("secret connection string postgresql://user:pw@db")


def test_unexpected_errors_are_internal_errors_without_details(tmp_path: Path) -> None:
    app = create_app(_BrokenStore(), None)  # type: ignore[arg-type]
    response = _call(app, "GET", "/api/2.0/mlflow/experiments/get", params={"experiment_id": "1"})
    assert response.status_code == 500
    body = response.json()
    assert body["error_code"] == "INTERNAL_ERROR"
    assert "secret" not in body["message"]
    assert "Traceback" not in body["message"]


def test_get_parameters_may_come_as_a_json_body(tmp_path: Path) -> None:
    # MLflow's older clients sent GET parameters in a JSON body; the server still reads it
    store = create_tracking_store(f"sqlite:///{tmp_path / 'c.db'}", str(tmp_path / "a"))
    app = create_app(store, None)
    response = _call(
        app, "GET", "/api/2.0/mlflow/experiments/get", content=b'{"experiment_id": "0"}'
    )
    assert response.json()["experiment"]["name"] == "Default"
