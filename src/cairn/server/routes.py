"""Routes built from the endpoint table: one loop, one way to parse and render.

A request's message comes from the query string on GET (repeated keys fill list
fields: ``?experiment_ids=1&experiment_ids=2``) and from the JSON body otherwise. The
response message is rendered the way MLflow's protobuf printer does it
(``Message.to_wire``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, get_origin

from fastapi import FastAPI, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.responses import Response

from cairn.exceptions import BadRequest
from cairn.server import handlers
from cairn.server.context import ServerContext
from cairn.server.errors import PayloadTooLarge
from cairn.wire.endpoints import ENDPOINTS, Endpoint
from cairn.wire.messages import Message, invalid_message

# Tracking requests are small JSON documents; a log-batch at MLflow's own limits stays
# well under this. Bigger bodies are refused before they are read into memory.
MAX_JSON_BODY_BYTES = 16 * 1024 * 1024

Handler = Callable[[ServerContext, Any], Message]


def json_response(message: Message, status_code: int = 200) -> Response:
    return Response(
        json.dumps(message.to_wire()), status_code=status_code, media_type="application/json"
    )


async def read_body(request: Request, limit: int = MAX_JSON_BODY_BYTES) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body of {declared} bytes exceeds the {limit}-byte limit.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"Request body exceeds the {limit}-byte limit.")
    return bytes(body)


def _list_fields(model: type[Message]) -> set[str]:
    return {name for name, f in model.model_fields.items() if get_origin(f.annotation) is list}


def _from_query(params: QueryParams, model: type[Message]) -> dict[str, Any]:
    lists = _list_fields(model)
    return {key: params.getlist(key) if key in lists else params[key] for key in params}


async def parse_message(request: Request, model: type[Message]) -> Any:
    """The request's message, or an MLflow error saying what is wrong with it."""
    data: Any
    if request.method == "GET" and request.query_params:
        data = _from_query(request.query_params, model)
    else:
        # MLflow's own client has long sent GET parameters as a JSON body, too.
        body = await read_body(request)
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError as exc:
            raise BadRequest(f"Malformed JSON in request body: {exc}") from None
        if not isinstance(data, dict):
            raise BadRequest("The request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_message(exc) from None


def _route(endpoint: Endpoint, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def route(request: Request) -> Response:
        message = await parse_message(request, endpoint.request)
        context: ServerContext = request.app.state.context
        return json_response(await run_in_threadpool(handler, context, message))

    route.__name__ = endpoint.name
    route.__doc__ = f"MLflow REST call {endpoint.method} {endpoint.api_path}."
    return route


def add_tracking_routes(app: FastAPI) -> None:
    """Serve every endpoint of the table under ``/api`` and ``/ajax-api``."""
    for endpoint in ENDPOINTS.values():
        route = _route(endpoint, getattr(handlers, endpoint.name))
        for path in endpoint.served_paths():
            ajax = path.startswith("/ajax-api")
            for method in endpoint.methods:
                app.add_api_route(
                    path,
                    route,
                    methods=[method],
                    response_model=endpoint.response,
                    name=f"{endpoint.name}:{method}:{path}",
                    operation_id=f"{endpoint.name}_{method.lower()}{'_ajax' if ajax else ''}",
                    openapi_extra=_request_schema(endpoint, method),
                    tags=["tracking"],
                    include_in_schema=not ajax,
                )


def _request_schema(endpoint: Endpoint, method: str) -> dict[str, Any]:
    """Describe the request message in OpenAPI: query parameters on GET, else a JSON body
    (whose schema component ``cairn.server.openapi`` adds)."""
    model = endpoint.request
    if method == "GET":
        return {"parameters": query_parameters(model)}
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def query_parameters(model: type[Message]) -> list[dict[str, Any]]:
    """The OpenAPI query parameters a GET request's message is read from."""
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]
