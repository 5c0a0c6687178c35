"""Serving the web UI: the files ``npm run build`` (in ``ui/``) writes to ``static/``.

Every GET outside the API is answered from the build: a file that exists is sent as
it is; any other path gets ``index.html``, so client-side routes survive a reload.
API paths are never touched, so an unknown API call still gets the server's JSON 404
rather than a web page. The build is looked up on every request, so a server started
before ``npm run build`` picks the UI up without a restart; until then ``/`` explains
how to build it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Match, Route
from starlette.types import Scope

STATIC_DIR = Path(__file__).resolve().parent / "static"

# First path segments that belong to the server, never to the UI.
RESERVED_SEGMENTS = frozenset(
    {"api", "ajax-api", "health", "version", "openapi.json", "get-artifact", "model-versions",
     "graphql", "v1", "docs", "redoc"}
)  # fmt: skip

# Vite names bundled assets by content hash, so a browser may keep them forever.
_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
# index.html names the current assets, so it must be revalidated on every visit.
_REVALIDATE = {"Cache-Control": "no-cache"}

MISSING_BUILD_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cairn: UI not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40em; margin: 3em auto">
<h1>Cairn's web UI has not been built</h1>
<p>The tracking API is running. To get the web UI, build it from a source checkout:</p>
<pre>cd ui &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>then reload this page (no server restart is needed).</p>
</body></html>
"""


def is_ui_path(path: str) -> bool:
    """Whether a request path may be answered by the UI (anything but the server's own)."""
    first = path.lstrip("/").split("/", 1)[0]
    return first not in RESERVED_SEGMENTS


class _UIRoute(Route):
    """Matches GET and HEAD on UI paths only. Other methods and API paths are left
    unmatched (not "method not allowed"), so they reach the API or its 404."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or not is_ui_path(scope["path"])
        ):
            return Match.NONE, {}
        return super().matches(scope)


def _file_in(root: Path, relative: str) -> Path | None:
    """The regular file ``relative`` names inside ``root``, or None; a path that would
    leave ``root`` (``..``, absolute, or through a symlink) is None too."""
    if not relative:
        return None
    root = root.resolve()
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


def mount_ui(app: FastAPI, static_dir: Path | None = None) -> None:
    """Serve the built UI at ``/`` of ``app``; call it after the API routes are added.

    Args:
        app: the server application.
        static_dir: the build directory; defaults to the package's ``static/``.
    """
    if any(isinstance(route, _UIRoute) for route in app.router.routes):
        return  # already mounted: a second catch-all would never be reached
    root = STATIC_DIR if static_dir is None else static_dir

    async def ui(request: Request) -> Response:
        index = root / "index.html"
        if not index.is_file():
            return HTMLResponse(MISSING_BUILD_PAGE, status_code=503)
        relative: str = request.path_params.get("path", "")
        found = _file_in(root, relative)
        if found is not None:
            immutable = found.parent.name == "assets"
            return FileResponse(found, headers=_IMMUTABLE if immutable else _REVALIDATE)
        if relative.startswith("assets/"):
            # a missing bundle file must fail loudly, not load index.html as script
            raise HTTPException(404)
        return FileResponse(index, headers=_REVALIDATE, media_type="text/html")

    app.router.routes.append(
        _UIRoute("/{path:path}", ui, methods=["GET", "HEAD"], include_in_schema=False)
    )
