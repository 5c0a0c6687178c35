"""The OpenAPI document, generated from the same wire messages the routes use."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from cairn.exceptions import ErrorCode
from cairn.server.routes import TrackingRoutes, query_parameters
from cairn.wire.endpoints import ENDPOINTS
from cairn.wire.messages import ListProxiedArtifactsResponse

ERROR_SCHEMA_NAME = "ErrorResponse"


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document (paths, response schemas) plus the request message schemas."""
    if app.openapi_schema is None:
        routes = [
            documented
            for route in app.routes
            for documented in (
                route.openapi_routes() if isinstance(route, TrackingRoutes) else [route]
            )
        ]
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=routes
        )
        _put_back_exact_schemas(document)
        _describe_errors(document)
        app.openapi_schema = document
    return app.openapi_schema


def _put_back_exact_schemas(document: dict[str, Any]) -> None:
    """Every wire message's schema and every GET's parameters, as pydantic writes them.

    FastAPI passes its document through a model that stores bounds as floats, so the
    int64 bound 2**63 - 1 would come out as 2**63; the request messages, which no route
    declares to FastAPI, would be missing altogether. (A message has one schema for
    requests and responses alike, so a shared name such as Metric cannot clash.)
    """
    models = {m for e in ENDPOINTS.values() for m in (e.request, e.response)}
    models.add(ListProxiedArtifactsResponse)
    _, defs = models_json_schema(
        [(model, "validation") for model in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(defs.get("$defs", {}))
    paths = document.get("paths", {})
    for endpoint in ENDPOINTS.values():
        operation = paths.get(endpoint.api_path, {}).get("get")
        if operation is not None:
            exact = {p["name"]: p for p in query_parameters(endpoint.request)}
            operation["parameters"] = [
                exact.get(p["name"], p) for p in operation.get("parameters", [])
            ]


def _describe_errors(document: dict[str, Any]) -> None:
    """Every operation may answer with MLflow's error body (``cairn.server.errors``)."""
    document["components"]["schemas"][ERROR_SCHEMA_NAME] = {
        "title": ERROR_SCHEMA_NAME,
        "type": "object",
        "required": ["error_code", "message"],
        "properties": {
            "error_code": {"type": "string", "enum": [code.value for code in ErrorCode]},
            "message": {"type": "string"},
        },
    }
    error = {
        "description": "An MLflow error; the status follows from the error code.",
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}}
        },
    }
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            operation.setdefault("responses", {}).setdefault("default", error)
