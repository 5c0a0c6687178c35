"""Artifacts behind a tracking server's proxy: ``mlflow-artifacts:`` and ``http(s)`` URIs.

Accepted artifact URIs:
- ``mlflow-artifacts:/<path>``: resolved against the tracking server in effect (the
  ``tracking_uri`` argument, else ``CAIRN_TRACKING_URI`` / ``MLFLOW_TRACKING_URI``,
  which ``set_tracking_uri`` also sets);
- ``mlflow-artifacts://host:port/<path>``: that server, with the tracking URI's scheme
  (``http`` unless the tracking URI is ``https``);
- ``http(s)://host[:port][/prefix]/api/2.0/mlflow-artifacts/artifacts/<path>``: as is.

``resolve_proxy_uri`` turns the first two into the third, so a client that knows its
own tracking URI can resolve URIs itself before calling ``get_artifact_repository``.
"""

from __future__ import annotations

import io
import mimetypes
import os
import posixpath
import shutil
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any, BinaryIO
from urllib.parse import quote, urlparse

import requests

from cairn import env
from cairn.artifacts.local import clean_artifact_path, clean_file_path
from cairn.artifacts.repository import (
    CHUNK_SIZE,
    check_not_reserved,
    missing_artifact,
    prepare_download_destination,
)
from cairn.entities import FileInfo
from cairn.exceptions import InvalidParameterValue, ResourceDoesNotExist
from cairn.store.rest import HttpClient
from cairn.wire import convert
from cairn.wire import messages as m

PROXY_ROUTE = "/api/2.0/mlflow-artifacts/artifacts"
_PROXY_SCHEME = "mlflow-artifacts"


def resolve_proxy_uri(artifact_uri: str, tracking_uri: str | None = None) -> str:
    """The ``http(s)`` URL of an ``mlflow-artifacts:`` URI; other URIs come back unchanged."""
    parsed = urlparse(artifact_uri)
    if parsed.scheme != _PROXY_SCHEME:
        return artifact_uri
    tracking = tracking_uri or env.TRACKING_URI.get() or ""
    tracked = urlparse(tracking)
    if parsed.netloc:
        scheme = "https" if tracked.scheme == "https" else "http"
        server = f"{scheme}://{parsed.netloc}"
    elif tracked.scheme in ("http", "https"):
        server = tracking.rstrip("/")
    else:
        raise InvalidParameterValue(
            f"Artifact URI '{artifact_uri}' lives on a tracking server's artifact proxy, but "
            f"the tracking URI in effect ({tracking or 'none'}) is not an http(s) server URL. "
            "Set the tracking URI to the server that created the run."
        )
    return server + PROXY_ROUTE + "/" + parsed.path.lstrip("/")


class HttpArtifactRepository:
    """The ArtifactRepository of a tracking server's artifact proxy."""

    def __init__(self, artifact_uri: str, tracking_uri: str | None = None) -> None:
        self.artifact_uri = artifact_uri
        url = resolve_proxy_uri(artifact_uri, tracking_uri)
        server, found, root = url.partition("/mlflow-artifacts/artifacts")
        if not found or urlparse(server).scheme not in ("http", "https"):
            raise InvalidParameterValue(
                f"'{artifact_uri}' is not an artifact proxy URL (expected "
                f"http(s)://<server>{PROXY_ROUTE}/<path>)."
            )
        # ``server`` ends with /api/2.0; requests go to <server>/mlflow-artifacts/...
        self.http = HttpClient(server)
        self.root = clean_artifact_path(root.strip("/"))

    def __repr__(self) -> str:
        return f"HttpArtifactRepository({self.artifact_uri!r})"

    def _remote(self, path: str | None) -> str:
        return posixpath.join(self.root, clean_artifact_path(path)).strip("/")

    def _item_route(self, path: str | None) -> str:
        return "/mlflow-artifacts/artifacts/" + quote(self._remote(path), safe="/")

    # writing

    def log_artifact(self, local_file: str | Path, artifact_path: str | None = None) -> None:
        source = Path(local_file)
        check_not_reserved(source.name)
        target = posixpath.join(clean_artifact_path(artifact_path), source.name)
        self._put_file(source, target)

    def log_artifacts(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        source = Path(local_dir)
        if not source.is_dir():
            raise NotADirectoryError(f"Not a directory: '{source}'")
        base = clean_artifact_path(artifact_path)
        for dirpath, _dirnames, filenames in os.walk(source, followlinks=True):
            relative = Path(dirpath).relative_to(source).as_posix()
            for name in sorted(filenames):
                check_not_reserved(name)
                parts = [p for p in (base, "" if relative == "." else relative, name) if p]
                self._put_file(Path(dirpath, name), "/".join(parts))

    def _put_file(self, source: Path, target: str) -> None:
        clean_file_path(target)
        media_type = mimetypes.guess_type(source.name)[0] or "application/octet-stream"
        with ExitStack() as files:

            def body() -> IO[bytes]:  # opened afresh for each attempt, so a retry resends it all
                return files.enter_context(open(source, "rb"))

            self.http.request(
                "PUT", self._item_route(target), data=body, content_type=media_type
            ).close()

    def write_stream(self, artifact_path: str, chunks: Iterable[bytes]) -> int:
        clean_file_path(artifact_path)
        written = 0

        def counted() -> Iterator[bytes]:
            nonlocal written
            for chunk in chunks:
                written += len(chunk)
                yield chunk

        # a one-shot iterator cannot be replayed, so this request is not retried
        self.http.request("PUT", self._item_route(artifact_path), data=counted, retry=False).close()
        return written

    # reading

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        clean = clean_artifact_path(path)
        response = self.http.request(
            "GET", "/mlflow-artifacts/artifacts", params={"path": self._remote(clean)}
        )
        listing = m.ListProxiedArtifactsResponse.model_validate(response.json())
        files = [
            convert.file_info_from_wire(
                f.model_copy(update={"path": posixpath.join(clean, f.path)})
            )
            for f in listing.files
        ]
        return sorted(files, key=lambda f: f.path)

    def open_read(self, artifact_path: str) -> BinaryIO:
        clean = clean_file_path(artifact_path)
        response = self.http.request("GET", self._item_route(clean), stream=True)
        response.raw.decode_content = True
        return io.BufferedReader(_ResponseBody(response), CHUNK_SIZE)

    def download_artifacts(self, artifact_path: str, dst_path: str | Path | None = None) -> str:
        clean = clean_artifact_path(artifact_path)
        destination = prepare_download_destination(dst_path)
        target = destination.joinpath(*clean.split("/")) if clean else destination
        children = self.list_artifacts(clean)
        if children or not clean:
            target.mkdir(parents=True, exist_ok=True)
            for child in children:
                if child.is_dir:
                    self.download_artifacts(child.path, destination)
                else:
                    self._download_file(child.path, destination.joinpath(*child.path.split("/")))
            return str(target)
        self._download_file(clean, target)
        return str(target)

    def _download_file(self, path: str, target: Path) -> None:
        try:
            source = self.open_read(path)
        except ResourceDoesNotExist:
            raise missing_artifact(path) from None
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        with source, open(partial, "wb") as out:
            shutil.copyfileobj(source, out, CHUNK_SIZE)
        os.replace(partial, target)

    # deleting

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        self.http.request("DELETE", self._item_route(artifact_path)).close()


class _ResponseBody(io.RawIOBase):
    """A streamed response body as a raw binary stream; closing it ends the response."""

    def __init__(self, response: requests.Response) -> None:
        self._response = response

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._response.raw.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._response.close()
        super().close()
