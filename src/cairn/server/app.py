"""The tracking server application: ``create_app`` assembles it, ``serve`` runs it.

Settings reach uvicorn's worker processes as one JSON environment variable
(``cairn.env.SERVER_CONFIG``), read back by the ``app_from_environment`` factory, so a
single worker and many workers start the same way.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.responses import PlainTextResponse

import cairn
from cairn import env
from cairn.server.artifacts import add_artifact_routes, add_run_artifact_route
from cairn.server.context import PROXY_SCHEME, ServerContext
from cairn.server.errors import install_error_handlers
from cairn.server.idempotency import AnswerKeeper, SharedAnswers
from cairn.server.openapi import build_openapi
from cairn.server.routes import add_tracking_routes
from cairn.server.ui import mount_ui
from cairn.server.ui_api import add_ui_routes
from cairn.store.registry import create_tracking_store, scheme_of
from cairn.store.tracking import TrackingStore

DEFAULT_ARTIFACTS_DESTINATION = "./mlartifacts"
PROXIED_ARTIFACT_ROOT = f"{PROXY_SCHEME}:/"


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``cairn server`` was told, in a form that survives a trip through JSON."""

    backend_store_uri: str
    default_artifact_root: str | None = None
    artifacts_destination: str | None = None
    serve_artifacts: bool = True
    artifacts_only: bool = False
    # with several worker processes: the file they keep answers to keyed writes in
    shared_answers_file: str | None = None

    def store_artifact_root(self) -> str | None:
        """The root new experiments' artifacts go under: the proxy's when serving artifacts
        and no explicit root was given, so clients upload through this server."""
        if self.default_artifact_root is None and self.serve_artifacts:
            return PROXIED_ARTIFACT_ROOT
        return self.default_artifact_root

    def destination(self) -> str | None:
        if not (self.serve_artifacts or self.artifacts_only):
            return None
        destination = self.artifacts_destination or DEFAULT_ARTIFACTS_DESTINATION
        # workers may start elsewhere; a relative directory means the one serve() ran in
        return os.path.abspath(destination) if scheme_of(destination) == "" else destination


def create_app(
    store: TrackingStore | None,
    artifacts_destination: str | None = None,
    ui_dir: Path | None = None,
    answers: AnswerKeeper | None = None,
) -> FastAPI:
    """The ASGI application over ``store``.

    Args:
        store: the tracking store; None serves the artifact proxy only (``--artifacts-only``),
            and tracking endpoints answer 404 ENDPOINT_NOT_FOUND.
        artifacts_destination: where the artifact proxy stores files; None turns the proxy off.
        ui_dir: the built web UI to serve (default: the build inside the package).
        answers: where answers to keyed writes are kept (default: this process's memory).
    """
    app = FastAPI(
        title="Cairn tracking server",
        version=cairn.__version__,
        description="MLflow-compatible tracking REST API.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.context = ServerContext(store, artifacts_destination, answers or AnswerKeeper())
    install_error_handlers(app)

    def openapi() -> dict[str, Any]:
        return build_openapi(app)

    app.openapi = openapi  # type: ignore[method-assign]

    # async: answering needs no worker thread
    @app.get("/health", response_class=PlainTextResponse, include_in_schema=False)
    async def health() -> str:
        return "OK"

    @app.get("/version", response_class=PlainTextResponse, include_in_schema=False)
    async def version() -> str:
        return cairn.__version__

    if store is not None:
        add_tracking_routes(app)
        add_run_artifact_route(app)
        add_ui_routes(app)
    if artifacts_destination is not None:
        add_artifact_routes(app)
    if store is not None:
        mount_ui(app, static_dir=ui_dir)  # last: its catch-all must not shadow the API
    return app


def create_app_from_config(config: ServerConfig) -> FastAPI:
    """The application ``config`` describes, with its store opened."""
    store = None
    if not config.artifacts_only:
        store = create_tracking_store(config.backend_store_uri, config.store_artifact_root())
    answers = None
    if config.shared_answers_file is not None:
        answers = AnswerKeeper(SharedAnswers(Path(config.shared_answers_file)))
    return create_app(store, config.destination(), answers=answers)


def app_from_environment() -> FastAPI:
    """uvicorn's app factory in each worker: the config ``serve`` left in the environment."""
    raw = env.SERVER_CONFIG.get()
    if raw is None:
        raise RuntimeError(f"{env.SERVER_CONFIG.name} is not set; start the server with serve().")
    return create_app_from_config(ServerConfig(**json.loads(raw)))


def serve(
    backend_store_uri: str,
    default_artifact_root: str | None,
    artifacts_destination: str | None,
    serve_artifacts: bool,
    artifacts_only: bool,
    host: str,
    port: int,
    workers: int,
    access_log: bool = False,
) -> None:
    """Run the tracking server in the foreground until interrupted.

    ``access_log`` prints a line per request (off by default, as under MLflow's gunicorn:
    a training fleet's logging calls would flood the terminal, and formatting the lines
    cost ~8% of the server's CPU under load).
    """
    import uvicorn

    with tempfile.TemporaryDirectory(prefix="cairn-server-") as scratch:
        config = ServerConfig(
            backend_store_uri=backend_store_uri,
            default_artifact_root=default_artifact_root,
            artifacts_destination=artifacts_destination,
            serve_artifacts=serve_artifacts,
            artifacts_only=artifacts_only,
            # a retry on a new connection may reach any worker: they share the answers
            shared_answers_file=str(Path(scratch) / "answers.sqlite") if workers > 1 else None,
        )
        # Open the store once here so a bad URI or database fails before workers start.
        create_app_from_config(config)
        os.environ[env.SERVER_CONFIG.name] = json.dumps(asdict(config))
        shown_host = f"[{host}]" if ":" in host else host
        print(f"Cairn tracking server listening at http://{shown_host}:{port}", flush=True)
        uvicorn.run(
            "cairn.server.app:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=max(1, workers),
            log_level="info",
            access_log=access_log,
        )
