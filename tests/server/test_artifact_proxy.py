"""The mlflow-artifacts proxy of a live server, over raw HTTP and through HttpArtifactRepository."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import uuid
from pathlib import Path

import pytest
import requests

from cairn.artifacts.http import HttpArtifactRepository, resolve_proxy_uri
from cairn.exceptions import InvalidParameterValue, ResourceDoesNotExist
from server.live import LiveServer

pytestmark = pytest.mark.server


def _proxy(server: LiveServer, path: str = "") -> str:
    return f"{server.url}/api/2.0/mlflow-artifacts/artifacts" + (f"/{path}" if path else "")


@pytest.fixture
def area() -> str:
    """A fresh directory name under the destination, so tests do not see each other."""
    return f"t-{uuid.uuid4().hex[:10]}"


def test_upload_download_list_delete(live_server: LiveServer, area: str) -> None:
    assert (
        requests.put(_proxy(live_server, f"{area}/d/a.txt"), data=b"alpha", timeout=30).json() == {}
    )
    requests.put(_proxy(live_server, f"{area}/b.bin"), data=b"\x00\x01", timeout=30)
    stored = live_server.artifacts / area / "d" / "a.txt"
    assert stored.read_bytes() == b"alpha"

    download = requests.get(_proxy(live_server, f"{area}/d/a.txt"), timeout=30)
    assert download.content == b"alpha"
    assert download.headers["content-type"].startswith("text/plain")
    assert "a.txt" in download.headers["content-disposition"]

    listing = requests.get(_proxy(live_server), params={"path": area}, timeout=30).json()
    assert listing == {
        "files": [
            {"path": "b.bin", "is_dir": False, "file_size": 2},
            {"path": "d", "is_dir": True},
        ]
    }
    assert (
        requests.get(_proxy(live_server), params={"path": f"{area}/none"}, timeout=30).json() == {}
    )

    assert requests.delete(_proxy(live_server, f"{area}/d"), timeout=30).json() == {}
    assert not (live_server.artifacts / area / "d").exists()
    assert (live_server.artifacts / area / "b.bin").exists()


def test_missing_file_is_404(live_server: LiveServer, area: str) -> None:
    response = requests.get(_proxy(live_server, f"{area}/nothing.txt"), timeout=30)
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_large_upload_streams_through_intact(live_server: LiveServer, area: str) -> None:
    chunk = os.urandom(1024 * 1024)
    digest = hashlib.sha256()

    def body():  # type: ignore[no-untyped-def]
        for _ in range(12):
            digest.update(chunk)
            yield chunk

    # a generator body goes out chunked, with no Content-Length
    assert requests.put(_proxy(live_server, f"{area}/big.bin"), data=body(), timeout=60).ok
    received = hashlib.sha256()
    with requests.get(_proxy(live_server, f"{area}/big.bin"), stream=True, timeout=60) as response:
        for piece in response.iter_content(256 * 1024):
            received.update(piece)
    assert received.hexdigest() == digest.hexdigest()
    assert not [p for p in (live_server.artifacts / area).iterdir() if p.name != "big.bin"]


@pytest.mark.parametrize(
    "escape",
    ["..%2F..%2Fescaped.txt", "%2E%2E/%2E%2E/escaped.txt", "a/../../escaped.txt", "%2Fabs.txt"],
)
def test_paths_leaving_the_destination_are_refused(live_server: LiveServer, escape: str) -> None:
    before = sorted(p.name for p in live_server.root.iterdir())
    # http.client sends the path as written; requests would remove the dot segments
    host, port = live_server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request("PUT", "/api/2.0/mlflow-artifacts/artifacts/" + escape, body=b"owned")
    put = connection.getresponse()
    reply = json.loads(put.read())
    connection.close()
    assert put.status == 400, reply
    assert reply["error_code"] == "INVALID_PARAMETER_VALUE"
    assert sorted(p.name for p in live_server.root.iterdir()) == before
    assert not list(live_server.root.parent.glob("**/escaped.txt"))
    listing = requests.get(_proxy(live_server), params={"path": "../.."}, timeout=30)
    assert listing.status_code == 400


def test_symlink_out_of_the_destination_is_refused(live_server: LiveServer, area: str) -> None:
    outside = live_server.root / f"outside-{area}"
    outside.mkdir()
    (live_server.artifacts / area).mkdir(parents=True)
    (live_server.artifacts / area / "link").symlink_to(outside)
    put = requests.put(_proxy(live_server, f"{area}/link/x.txt"), data=b"owned", timeout=30)
    assert put.status_code == 400
    assert list(outside.iterdir()) == []


def test_http_repository_round_trip(
    live_server: LiveServer, area: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", live_server.url)
    repo = HttpArtifactRepository(f"mlflow-artifacts:/{area}/artifacts")
    source = tmp_path / "src"
    (source / "nested").mkdir(parents=True)
    (source / "top.txt").write_text("top")
    (source / "nested" / "deep.txt").write_text("deep")
    repo.log_artifacts(source, "tree")
    repo.log_artifact(source / "top.txt")
    assert repo.write_stream("streamed.txt", iter([b"a", b"b"])) == 2

    assert [(f.path, f.is_dir, f.file_size) for f in repo.list_artifacts()] == [
        ("streamed.txt", False, 2),
        ("top.txt", False, 3),
        ("tree", True, None),
    ]
    assert [f.path for f in repo.list_artifacts("tree")] == ["tree/nested", "tree/top.txt"]

    out = tmp_path / "out"
    out.mkdir()
    local = Path(repo.download_artifacts("tree", out))
    assert local == out / "tree"
    assert (local / "nested" / "deep.txt").read_text() == "deep"
    with repo.open_read("tree/nested/deep.txt") as stream:
        assert stream.read() == b"deep"
    with pytest.raises(ResourceDoesNotExist):
        repo.download_artifacts("nothing.txt", out)

    repo.delete_artifacts("tree")
    assert [f.path for f in repo.list_artifacts()] == ["streamed.txt", "top.txt"]
    assert (live_server.artifacts / area / "artifacts" / "top.txt").read_text() == "top"


def test_proxy_uris_resolve_against_the_tracking_server() -> None:
    route = "/api/2.0/mlflow-artifacts/artifacts"
    assert (
        resolve_proxy_uri("mlflow-artifacts:/1/r/artifacts", "https://host:5000/prefix")
        == f"https://host:5000/prefix{route}/1/r/artifacts"
    )
    assert (
        resolve_proxy_uri("mlflow-artifacts://other:81/1/r", "https://host")
        == f"https://other:81{route}/1/r"
    )
    assert resolve_proxy_uri("s3://bucket/x", "http://host") == "s3://bucket/x"
    with pytest.raises(InvalidParameterValue, match="tracking URI"):
        resolve_proxy_uri("mlflow-artifacts:/1", "sqlite:///db")
    with pytest.raises(InvalidParameterValue, match="not an artifact proxy URL"):
        HttpArtifactRepository("http://host/some/files")
