"""The OpenAPI document, generated from the same wire messages the routes use."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from cairn.wire.endpoints import ENDPOINTS


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document (paths, response schemas) plus the request message schemas."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        requests = {e.request for e in ENDPOINTS.values()}
        _, defs = models_json_schema(
            [(model, "validation") for model in sorted(requests, key=lambda m: m.__name__)],
            ref_template="#/components/schemas/{model}",
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in defs.get("$defs", {}).items():
            schemas.setdefault(name, schema)
        app.openapi_schema = document
    return app.openapi_schema
