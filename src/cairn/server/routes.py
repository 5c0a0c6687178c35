"""Routes built from the endpoint table: one lookup, one way to parse and render.

A request's message comes from the query string on GET (repeated keys fill list
fields: ``?experiment_ids=1&experiment_ids=2``) and from the JSON body otherwise. The
response is rendered the way MLflow's protobuf printer does it (``Message.to_wire``, or
``convert`` for responses carrying entities).

The whole table is one entry of the router (``TrackingRoutes``), which finds an endpoint
with a dictionary lookup and calls its handler directly. FastAPI's per-route machinery (a
regular expression tried per route, dependency solving, response models) cost more than
the store call behind a typical request, and the messages already validate themselves;
FastAPI still describes every endpoint in OpenAPI (``TrackingRoutes.openapi_routes``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, get_origin

import orjson
from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams, URLPath
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from cairn.exceptions import BadRequest, MlflowException
from cairn.server import handlers, idempotency
from cairn.server.context import ServerContext
from cairn.server.errors import PayloadTooLarge, mlflow_error_response
from cairn.wire.endpoints import ENDPOINTS, IDEMPOTENCY_HEADER, RESENT_HEADER, Endpoint
from cairn.wire.messages import Message, WireObject, invalid_message, parse_json

# Tracking requests are small JSON documents; a log-batch at MLflow's own limits stays
# well under this. Bigger bodies are refused before they are read into memory.
MAX_JSON_BODY_BYTES = 16 * 1024 * 1024

Handler = Callable[[ServerContext, Any], Message | WireObject]
RouteFunction = Callable[[Request], Awaitable[Response]]


def _route_path(scope: Scope) -> str:
    """The request path below the app's mount point (``root_path``), as routers match it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        return path[len(root) :]
    return path


def json_response(message: Message | WireObject, status_code: int = 200) -> Response:
    """``message`` as MLflow's JSON; a dict is taken as already rendered (``convert``)."""
    wire = message if isinstance(message, dict) else message.to_wire()
    return Response(orjson.dumps(wire), status_code=status_code, media_type="application/json")


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
    if request.method == "GET" and request.query_params:
        return _validated(model, _from_query(request.query_params, model))
    # MLflow's own client has long sent GET parameters as a JSON body, too.
    return message_from_body(await read_body(request), model)


def message_from_body(body: bytes, model: type[Message]) -> Any:
    """The message a JSON request body holds, or an MLflow error saying what is wrong."""
    try:
        data = parse_json(body) if body.strip() else {}
    except ValueError as exc:
        raise BadRequest(f"Malformed JSON in request body: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    return _validated(model, data)


def _validated(model: type[Message], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_message(exc) from None


def _route(endpoint: Endpoint, handler: Handler) -> RouteFunction:
    keyed = endpoint.changes_state  # reads never look for a key
    resent_handler = handlers.RESENT_HANDLERS.get(endpoint.name)

    async def route(request: Request) -> Response:
        context: ServerContext = request.app.state.context
        key = request.headers.get(IDEMPOTENCY_HEADER) if keyed else None
        if key is None:
            message = await parse_message(request, endpoint.request)
            return json_response(await run_in_threadpool(handler, context, message))
        body = await read_body(request)
        # with the key, the keeper makes sure no earlier attempt is still at work here
        does = resent_handler if resent_handler and request.headers.get(RESENT_HEADER) else handler

        async def work() -> Response:
            try:
                message = message_from_body(body, endpoint.request)
                return json_response(await run_in_threadpool(does, context, message))
            except MlflowException as exc:  # a refusal is an answer, kept like any other
                return mlflow_error_response(exc)

        request_print = idempotency.fingerprint(endpoint.name, body)
        return await context.answers.answer(key, request_print, work)

    route.__name__ = endpoint.name
    route.__doc__ = f"MLflow REST call {endpoint.method} {endpoint.api_path}."
    return route


class TrackingRoutes(BaseRoute):
    """Every endpoint of the table under ``/api`` and ``/ajax-api``, as one router entry."""

    def __init__(self) -> None:
        self._routes: dict[str, dict[str, RouteFunction]] = {}
        for endpoint in ENDPOINTS.values():
            route = _route(endpoint, getattr(handlers, endpoint.name))
            for path in endpoint.served_paths():
                self._routes[path] = dict.fromkeys(endpoint.methods, route)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http":
            methods = self._routes.get(_route_path(scope))
            if methods is not None:
                # a known path with another method is a partial match: the router then
                # answers 405 through handle() unless a later route takes the request
                return (Match.FULL if scope["method"] in methods else Match.PARTIAL), {}
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        methods = self._routes[_route_path(scope)]
        route = methods.get(scope["method"])
        if route is None:
            raise HTTPException(status_code=405, headers={"Allow": ", ".join(methods)})
        response = await route(Request(scope, receive))
        await response(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)

    def openapi_routes(self) -> list[BaseRoute]:
        """The ``/api`` endpoints as FastAPI routes, never served: OpenAPI is built from them
        (the ``/ajax-api`` mirror is left out of the document)."""
        return [
            APIRoute(
                endpoint.api_path,
                _route(endpoint, getattr(handlers, endpoint.name)),
                methods=[method],
                response_model=endpoint.response,
                name=f"{endpoint.name}:{method}:{endpoint.api_path}",
                operation_id=f"{endpoint.name}_{method.lower()}",
                openapi_extra=_request_schema(endpoint, method),
                tags=["tracking"],
            )
            for endpoint in ENDPOINTS.values()
            for method in endpoint.methods
        ]


def add_tracking_routes(app: FastAPI) -> None:
    """Serve every endpoint of the table under ``/api`` and ``/ajax-api``."""
    app.router.routes.append(TrackingRoutes())


def _request_schema(endpoint: Endpoint, method: str) -> dict[str, Any]:
    """Describe the request message in OpenAPI: query parameters on GET, else a JSON body
    (whose schema component ``cairn.server.openapi`` adds)."""
    model = endpoint.request
    if method == "GET":
        return {"parameters": query_parameters(model)}
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    schema: dict[str, Any] = {
        "requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}
    }
    if endpoint.changes_state:
        schema["parameters"] = [dict(IDEMPOTENCY_PARAMETER)]
    if endpoint.name in handlers.RESENT_HANDLERS:
        schema["parameters"].append(dict(RESENT_PARAMETER))
    return schema


IDEMPOTENCY_PARAMETER = {
    "name": IDEMPOTENCY_HEADER,
    "in": "header",
    "required": False,
    "description": "The same on every attempt of one request: a repeat gets the first "
    "answer, and the work is done once (answers are kept an hour).",
    "schema": {"type": "string", "maxLength": idempotency.MAX_KEY_LENGTH},
}

RESENT_PARAMETER = {
    "name": RESENT_HEADER,
    "in": "header",
    "required": False,
    "description": "With an Idempotency-Key the server has no answer for: an earlier attempt "
    "may have been applied in part, so only the points not yet stored are written.",
    "schema": {"type": "string", "enum": ["1"]},
}


def query_parameters(model: type[Message]) -> list[dict[str, Any]]:
    """The OpenAPI query parameters a GET request's message is read from."""
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]
