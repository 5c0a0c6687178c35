"""The OpenAPI document, generated from the same wire messages the routes use."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from cairn.exceptions import ErrorCode
from cairn.wire.endpoints import ENDPOINTS

ERROR_SCHEMA_NAME = "ErrorResponse"


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
        _describe_errors(document)
        app.openapi_schema = document
    return app.openapi_schema


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
