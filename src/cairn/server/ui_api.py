"""Endpoints the web UI needs beyond MLflow's API, under ``/api/2.0/cairn/`` and
``/ajax-api/2.0/cairn/`` (a namespace of Cairn's own, so they never collide with a
future MLflow endpoint):

``GET .../cairn/metrics/get-history-downsampled?run_id=&metric_key=&max_points=&start_step=&end_step=``
    One metric of one run as at most ``max_points`` (default 1000, at most 10000)
    buckets of equal step width over ``[start_step, end_step]`` (both optional), each
    with its point count, step and timestamp range, and minimum and maximum value, so
    no spike is lost however long the history. A range with no more distinct steps
    than buckets comes back point by point. NaN and infinite values are counted in
    ``non_finite`` and left out of the buckets.

``GET .../cairn/artifacts/download-zip?run_id=&path=``
    Every file under the artifact directory ``path`` (default: the whole run) as a zip
    archive, streamed; member names are relative to ``path``.

Errors use MLflow's JSON shape and codes like every other endpoint.
"""

from __future__ import annotations

import posixpath
from dataclasses import asdict
from typing import Annotated

from fastapi import FastAPI, Query, Request
from pydantic import BaseModel
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.responses import Response, StreamingResponse

from cairn.exceptions import InvalidParameterValue
from cairn.server import artifact_zip
from cairn.server.context import ServerContext
from cairn.store import downsample
from cairn.validation import check_run_id

PREFIXES = ("/api/2.0/cairn", "/ajax-api/2.0/cairn")


class HistoryBucket(BaseModel):
    """The points of one step interval: how many, their step and time span, extremes."""

    count: int
    step_min: int
    step_max: int
    timestamp_min: int
    timestamp_max: int
    value_min: float
    value_max: float


class DownsampledHistoryResponse(BaseModel):
    """A metric history as min/max buckets, in step order."""

    run_id: str
    metric_key: str
    total_points: int
    non_finite: int
    start_step: int | None = None
    end_step: int | None = None
    max_points: int
    buckets: list[HistoryBucket]


def _context(request: Request) -> ServerContext:
    context: ServerContext = request.app.state.context
    return context


# Query parameters are taken as text and checked here, so a malformed one gets MLflow's
# INVALID_PARAMETER_VALUE rather than the framework's own validation error shape.
def _required(name: str, value: str | None) -> str:
    if not value:
        raise InvalidParameterValue(f"Missing value for required parameter '{name}'.")
    return value


def _integer(name: str, value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidParameterValue(
            f"Invalid value '{value}' for parameter '{name}': an integer is required."
        ) from None


async def get_history_downsampled(
    request: Request,
    run_id: Annotated[str | None, Query(description="The run's ID (required).")] = None,
    metric_key: Annotated[str | None, Query(description="The metric's name (required).")] = None,
    max_points: Annotated[
        str | None, Query(description="How many buckets at most: an integer, 1-10000 (1000).")
    ] = None,
    start_step: Annotated[str | None, Query(description="First step (integer).")] = None,
    end_step: Annotated[str | None, Query(description="Last step (integer).")] = None,
) -> DownsampledHistoryResponse:
    """A metric's history downsampled to min/max buckets, extremes kept."""
    run = _required("run_id", run_id)
    key = _required("metric_key", metric_key)
    points = _integer("max_points", max_points)
    start = _integer("start_step", start_step)
    end = _integer("end_step", end_step)
    store = _context(request).tracking_store()
    history = await run_in_threadpool(
        downsample.downsample_history, store, run, key, points, start, end
    )
    return DownsampledHistoryResponse(
        run_id=run,
        metric_key=key,
        total_points=history.total_points,
        non_finite=history.non_finite,
        start_step=history.start_step,
        end_step=history.end_step,
        max_points=downsample.check_request(points, start, end),
        buckets=[HistoryBucket(**asdict(b)) for b in history.buckets],
    )


async def download_zip(
    request: Request,
    run_id: Annotated[str | None, Query(description="The run's ID (required).")] = None,
    path: Annotated[
        str | None, Query(description="Artifact directory to pack (default: all).")
    ] = None,
) -> Response:
    """A directory of a run's artifacts as a zip archive, streamed."""
    run_id = check_run_id(_required("run_id", run_id))
    context = _context(request)
    run = await run_in_threadpool(context.tracking_store().get_run, run_id)
    repository = context.run_artifact_repository(run.info.artifact_uri or "")
    directory, files = await run_in_threadpool(artifact_zip.plan_zip, repository, path)
    base = posixpath.basename(directory) or "artifacts"
    name = f"{run_id}-{base}.zip"
    return StreamingResponse(
        iterate_in_threadpool(artifact_zip.zip_chunks(repository, directory, files)),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def add_ui_routes(app: FastAPI) -> None:
    """Serve the UI support endpoints (needs a tracking store)."""
    for prefix in PREFIXES:
        schema = prefix.startswith("/api/")
        app.add_api_route(
            f"{prefix}/metrics/get-history-downsampled",
            get_history_downsampled,
            methods=["GET"],
            response_model=DownsampledHistoryResponse,
            include_in_schema=schema,
            tags=["cairn"],
            name=f"get_history_downsampled:{prefix}",
        )
        app.add_api_route(
            f"{prefix}/artifacts/download-zip",
            download_zip,
            methods=["GET"],
            include_in_schema=schema,
            tags=["cairn"],
            name=f"download_zip:{prefix}",
            responses={200: {"content": {"application/zip": {}}, "description": "The archive."}},
        )
