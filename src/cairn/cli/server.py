"""``cairn server`` and ``cairn ui``: run the tracking server (REST API and UI)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from cairn.store.registry import DEFAULT_TRACKING_URI

DEFAULT_ARTIFACTS_DESTINATION = "./mlartifacts"

_OPTIONS = [
    click.option(
        "--backend-store-uri",
        default=DEFAULT_TRACKING_URI,
        show_default=True,
        help="Where experiments and runs are stored: a local directory or a database URL "
        "(sqlite:///cairn.db, postgresql://..., mysql://...).",
    ),
    click.option(
        "--default-artifact-root",
        default=None,
        help="Where new experiments store artifacts. Defaults to the proxied "
        "mlflow-artifacts:/ location when artifacts are served, else the backend store's "
        "own default.",
    ),
    click.option(
        "--artifacts-destination",
        default=DEFAULT_ARTIFACTS_DESTINATION,
        show_default=True,
        help="Where the server keeps the artifacts it serves (a directory or fsspec URL).",
    ),
    click.option(
        "--serve-artifacts/--no-serve-artifacts",
        default=True,
        show_default=True,
        help="Proxy artifact uploads, downloads and listings through the server.",
    ),
    click.option(
        "--artifacts-only",
        is_flag=True,
        default=False,
        help="Serve only the artifact proxy, without the tracking API.",
    ),
    click.option("-h", "--host", default="127.0.0.1", show_default=True, help="Address to bind."),
    click.option("-p", "--port", type=click.IntRange(0, 65535), default=5000, show_default=True),
    click.option(
        "-w",
        "--workers",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="Number of server processes.",
    ),
    click.option(
        "--access-log/--no-access-log",
        default=False,
        show_default=True,
        help="Print a line for every request served.",
    ),
]


def _server_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def _serve(
    backend_store_uri: str,
    default_artifact_root: str | None,
    artifacts_destination: str | None,
    serve_artifacts: bool,
    artifacts_only: bool,
    host: str,
    port: int,
    workers: int,
    access_log: bool,
) -> None:
    if artifacts_only and not serve_artifacts:
        raise click.UsageError(
            "--artifacts-only needs artifact serving; drop --no-serve-artifacts."
        )
    # The server (FastAPI, uvicorn, the stores) loads only when a server is really started.
    from cairn.server import serve

    serve(
        backend_store_uri=backend_store_uri,
        default_artifact_root=default_artifact_root,
        artifacts_destination=artifacts_destination,
        serve_artifacts=serve_artifacts,
        artifacts_only=artifacts_only,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
    )


@click.command("server")
@_server_options
def server(**options: Any) -> None:
    """Run the tracking server (REST API, artifact proxy and UI)."""
    _serve(**options)


@click.command("ui")
@_server_options
def ui(**options: Any) -> None:
    """Run the tracking server to browse the local ./mlruns store."""
    _serve(**options)
