"""The artifact proxy (``mlflow-artifacts``): clients read and write run artifacts through
the server, which stores them under ``--artifacts-destination``.

Uploads and downloads are streamed in chunks, never held whole in memory; an upload
becomes visible only once complete (the repository writes a temporary file and renames
it). Paths are checked before anything is touched: one that would leave the
destination is refused with INVALID_PARAMETER_VALUE.
"""

from __future__ import annotations

import mimetypes
import posixpath
from collections.abc import AsyncIterator, Iterator
from typing import Any, BinaryIO

import anyio.from_thread
from fastapi import FastAPI, Request
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.responses import JSONResponse, Response, StreamingResponse

from cairn.artifacts.local import clean_artifact_path, local_path_of_uri, safe_join
from cairn.artifacts.repository import CHUNK_SIZE
from cairn.exceptions import InvalidParameterValue
from cairn.server.context import ServerContext
from cairn.server.routes import json_response, parse_message
from cairn.store.registry import scheme_of
from cairn.wire import convert
from cairn.wire import messages as m

PROXY_PATHS = tuple(f"{prefix}/2.0/mlflow-artifacts/artifacts" for prefix in ("/api", "/ajax-api"))


def _context(request: Request) -> ServerContext:
    context: ServerContext = request.app.state.context
    return context


def _checked_path(context: ServerContext, path: str | None) -> str:
    """``path`` normalised, after making sure it stays inside the destination."""
    clean = clean_artifact_path(path)
    destination = context.artifacts_destination
    if destination is not None and scheme_of(destination) in ("", "file"):
        safe_join(local_path_of_uri(destination), clean)  # also follows symlinks
    return clean


async def list_proxied(request: Request) -> Response:
    """GET ``...?path=``: the direct children of a directory, by base name."""
    context = _context(request)
    message: m.ListProxiedArtifacts = await parse_message(request, m.ListProxiedArtifacts)
    path = _checked_path(context, message.path)
    repository = context.destination_repository()
    files = await run_in_threadpool(repository.list_artifacts, path or None)
    return json_response(
        m.wire_object(
            files=[convert.file_info_to_wire(f, posixpath.basename(f.path)) for f in files]
        )
    )


async def download(request: Request) -> Response:
    """GET ``.../<path>``: the file's bytes, streamed."""
    context = _context(request)
    path = _checked_path(context, request.path_params["artifact_path"])
    stream = await run_in_threadpool(context.destination_repository().open_read, path)
    name = posixpath.basename(path)
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return StreamingResponse(
        iterate_in_threadpool(_chunks_of(stream)),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def download_run_artifact(request: Request) -> Response:
    """GET ``/get-artifact?path=&run_uuid=``: one file of a run, wherever its artifacts live
    (MLflow's route, which the web UI uses for previews and downloads)."""
    context = _context(request)
    run_id = request.query_params.get("run_uuid") or request.query_params.get("run_id")
    if not run_id:
        raise InvalidParameterValue("Missing value for required parameter 'run_uuid'.")
    path = clean_artifact_path(request.query_params.get("path"))
    if not path:
        raise InvalidParameterValue("Missing value for required parameter 'path'.")
    run = await run_in_threadpool(context.tracking_store().get_run, run_id)
    repository = context.run_artifact_repository(run.info.artifact_uri or "")
    stream = await run_in_threadpool(repository.open_read, path)
    name = posixpath.basename(path)
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return StreamingResponse(
        iterate_in_threadpool(_chunks_of(stream)),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _chunks_of(stream: BinaryIO) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(CHUNK_SIZE):
            yield chunk


async def upload(request: Request) -> Response:
    """PUT ``.../<path>``: store the raw body as that file."""
    context = _context(request)
    path = _checked_path(context, request.path_params["artifact_path"])
    repository = context.destination_repository()
    body = request.stream()
    await run_in_threadpool(repository.write_stream, path, _pull_from_loop(body))
    return json_response(m.Empty())


def _pull_from_loop(body: AsyncIterator[bytes]) -> Iterator[bytes]:
    """The request body as a plain iterator for a worker thread, each chunk fetched from
    the event loop on demand, so the body streams without being buffered."""

    async def next_chunk() -> bytes | None:
        try:
            return await body.__anext__()
        except StopAsyncIteration:
            return None

    while (chunk := anyio.from_thread.run(next_chunk)) is not None:
        if chunk:
            yield chunk


async def delete(request: Request) -> Response:
    """DELETE ``.../<path>``: remove a file or a directory tree."""
    context = _context(request)
    path = _checked_path(context, request.path_params["artifact_path"])
    await run_in_threadpool(context.destination_repository().delete_artifacts, path)
    return json_response(m.Empty())


# The routes read the raw request, so FastAPI cannot see their inputs: describe them here.
_BYTES = {"type": "string", "format": "binary"}
_PATH_PARAMETER = {
    "name": "artifact_path",
    "in": "path",
    "required": True,
    "description": "The file's path under the artifact destination.",
    "schema": {"type": "string"},
}
_OPENAPI: dict[str, dict[str, Any]] = {
    "list": {
        "parameters": [
            {"name": "path", "in": "query", "required": False, "schema": {"type": "string"}}
        ]
    },
    "GET": {
        "parameters": [_PATH_PARAMETER],
        "responses": {"200": {"content": {"*/*": {"schema": _BYTES}}}},
    },
    "PUT": {
        "parameters": [_PATH_PARAMETER],
        "requestBody": {"content": {"application/octet-stream": {"schema": _BYTES}}},
    },
    "DELETE": {"parameters": [_PATH_PARAMETER]},
}


def add_artifact_routes(app: FastAPI) -> None:
    """Serve the proxy under ``/api`` and ``/ajax-api``."""
    for base in PROXY_PATHS:
        schema = not base.startswith("/ajax-api")
        app.add_api_route(
            base,
            list_proxied,
            methods=["GET"],
            response_model=m.ListProxiedArtifactsResponse,
            include_in_schema=schema,
            tags=["artifacts"],
            openapi_extra=_OPENAPI["list"],
        )
        item = base + "/{artifact_path:path}"
        for method, route in (("GET", download), ("PUT", upload), ("DELETE", delete)):
            app.add_api_route(
                item,
                route,
                methods=[method],
                # a download's type depends on the file, so only PUT and DELETE answer JSON
                response_class=Response if method == "GET" else JSONResponse,
                response_model=None if method == "GET" else m.Empty,
                include_in_schema=schema,
                tags=["artifacts"],
                name=f"{route.__name__}:{base}",
                openapi_extra=_OPENAPI[method],
            )


def add_run_artifact_route(app: FastAPI) -> None:
    """``/get-artifact``: needs the tracking store, not the proxy."""
    app.add_api_route(
        "/get-artifact", download_run_artifact, methods=["GET"], include_in_schema=False
    )
