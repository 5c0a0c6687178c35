"""mount_ui: the built UI at "/", client routes falling back to index.html, and the API
left exactly as it was."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from cairn.server import create_app
from cairn.server.ui import mount_ui
from cairn.store.registry import create_tracking_store

INDEX = "<!doctype html><title>Cairn test build</title>"


@pytest.fixture
def build(tmp_path: Path) -> Path:
    static = tmp_path / "static"
    (static / "assets").mkdir(parents=True)
    (static / "index.html").write_text(INDEX)
    (static / "assets" / "app-1234.js").write_text("console.log('ui')")
    (tmp_path / "secret.txt").write_text("not for the web")
    return static


class Client:
    """Calls into the ASGI app in-process."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://cairn") as client:
                return await client.request(method, path, **kwargs)

        # in a thread of its own: Playwright's sync API keeps an event loop running in
        # the main thread once the browser tests of this package have started
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, go()).result()

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def head(self, path: str) -> httpx.Response:
        return self.request("HEAD", path)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)


def client_for(tmp_path: Path, static: Path) -> Client:
    store = create_tracking_store(f"sqlite:///{tmp_path / 'cairn.db'}")
    return Client(create_app(store, str(tmp_path / "artifacts"), ui_dir=static))


def test_index_and_assets_are_served(tmp_path: Path, build: Path) -> None:
    client = client_for(tmp_path, build)
    index = client.get("/")
    assert index.status_code == 200
    assert index.text == INDEX
    assert index.headers["content-type"].startswith("text/html")
    assert index.headers["cache-control"] == "no-cache"
    asset = client.get("/assets/app-1234.js")
    assert asset.text == "console.log('ui')"
    assert "immutable" in asset.headers["cache-control"]
    assert client.head("/").status_code == 200


@pytest.mark.parametrize("path", ["/experiments/1", "/runs/abc", "/compare", "/index.html"])
def test_client_routes_fall_back_to_index(tmp_path: Path, build: Path, path: str) -> None:
    response = client_for(tmp_path, build).get(path)
    assert response.status_code == 200
    assert response.text == INDEX


def test_a_missing_asset_is_a_404_not_the_index(tmp_path: Path, build: Path) -> None:
    response = client_for(tmp_path, build).get("/assets/gone-0000.js")
    assert response.status_code == 404
    assert response.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_the_api_is_left_alone(tmp_path: Path, build: Path) -> None:
    client = client_for(tmp_path, build)
    assert client.get("/health").text == "OK"
    assert "paths" in client.get("/openapi.json").json()
    search = client.get("/api/2.0/mlflow/experiments/search", params={"max_results": 5})
    assert search.status_code == 200
    assert [e["name"] for e in search.json()["experiments"]] == ["Default"]
    assert client.get("/ajax-api/2.0/mlflow/experiments/search").status_code == 200
    unknown = client.get("/api/2.0/mlflow/no-such-endpoint")
    assert unknown.status_code == 404
    assert unknown.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    # other methods on UI paths are not turned into "405 method not allowed"
    assert client.post("/experiments/1", json={}).status_code == 404


def test_paths_cannot_leave_the_build(tmp_path: Path, build: Path) -> None:
    (build / "link.txt").symlink_to(tmp_path / "secret.txt")
    client = client_for(tmp_path, build)
    for path in ("/..%2Fsecret.txt", "/link.txt", "/assets/..%2F..%2Fsecret.txt"):
        response = client.get(path)
        assert "not for the web" not in response.text, path


def test_a_missing_build_explains_how_to_build(tmp_path: Path) -> None:
    response = client_for(tmp_path, tmp_path / "no-build").get("/")
    assert response.status_code == 503
    assert "npm ci && npm run build" in response.text.replace("&amp;", "&")
    assert client_for(tmp_path, tmp_path / "no-build").get("/health").text == "OK"


def test_a_build_made_after_start_is_picked_up(tmp_path: Path) -> None:
    static = tmp_path / "later"
    client = client_for(tmp_path, static)
    assert client.get("/").status_code == 503
    static.mkdir()
    (static / "index.html").write_text(INDEX)
    assert client.get("/").text == INDEX


def test_mounting_twice_adds_one_route(tmp_path: Path, build: Path) -> None:
    store = create_tracking_store(f"sqlite:///{tmp_path / 'cairn.db'}")
    app = create_app(store, ui_dir=build)
    routes = len(app.router.routes)
    mount_ui(app, static_dir=build)
    assert len(app.router.routes) == routes
