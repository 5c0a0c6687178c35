"""The one place where exceptions become MLflow's error JSON and an HTTP status.

Every error response has the body ``{"error_code": ..., "message": ...}``. Cairn's own
exceptions carry their code (and so their status); request mistakes caught by the
message parser become ``INVALID_PARAMETER_VALUE``; routing misses become
``ENDPOINT_NOT_FOUND``; anything unexpected becomes ``INTERNAL_ERROR`` (500) with no
traceback in the body (the traceback goes to the server log).
"""

from __future__ import annotations

import errno
import json
import logging

from fastapi import FastAPI, Request
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from cairn.exceptions import BadRequest, ErrorCode, MlflowException
from cairn.wire.messages import invalid_message

_logger = logging.getLogger("cairn.server")


class PayloadTooLarge(BadRequest):
    """A request body over the server's limit (sent as 413, not 400)."""

    def get_http_status_code(self) -> int:
        return 413


def error_response(code: ErrorCode | str, message: str, status: int | None = None) -> Response:
    """A JSON error response in MLflow's shape."""
    error_code = ErrorCode(str(code))
    body = json.dumps({"error_code": error_code.value, "message": message})
    return Response(
        body,
        status_code=status if status is not None else error_code.http_status,
        media_type="application/json",
    )


def mlflow_error_response(exc: MlflowException) -> Response:
    """The error response ``exc`` stands for; server failures are logged."""
    status = exc.get_http_status_code()
    if status >= 500:
        _logger.error("Request failed with %s: %s", exc.error_code.value, exc.message)
    return error_response(exc.error_code, exc.message, status)


async def _on_mlflow_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MlflowException)
    return mlflow_error_response(exc)


async def _on_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    return await _on_mlflow_exception(_request, invalid_message(exc))


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (404, 405):
        message = (
            f"No endpoint {request.method} {request.url.path}"
            if exc.status_code == 404
            else f"Method {request.method} is not allowed for {request.url.path}"
        )
        return error_response(ErrorCode.ENDPOINT_NOT_FOUND, message, exc.status_code)
    code = ErrorCode.BAD_REQUEST if exc.status_code < 500 else ErrorCode.INTERNAL_ERROR
    return error_response(code, str(exc.detail), exc.status_code)


async def _on_os_error(request: Request, exc: Exception) -> Response:
    """File-system refusals that a client's artifact path provokes are the client's
    mistake; any other OSError is the server's. The message leaves out the server's paths."""
    assert isinstance(exc, OSError)
    if exc.errno == errno.ENAMETOOLONG:
        return error_response(
            ErrorCode.INVALID_PARAMETER_VALUE,
            "The artifact path is too long for the artifact store: each of its parts may "
            "take at most 255 bytes.",
        )
    if exc.errno == errno.ENOTDIR:  # reading below a file: nothing lives there
        return error_response(
            ErrorCode.RESOURCE_DOES_NOT_EXIST, "No artifact at that path: a file is in the way."
        )
    return await _on_unexpected(request, exc)


async def _on_unexpected(_request: Request, exc: Exception) -> Response:
    _logger.error("Unhandled error in request", exc_info=exc)
    return error_response(
        ErrorCode.INTERNAL_ERROR,
        f"An internal error occurred while handling the request ({type(exc).__name__}). "
        "The server log has the details.",
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception a request can raise to the JSON error renderers above."""
    app.add_exception_handler(MlflowException, _on_mlflow_exception)
    app.add_exception_handler(ValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_exception)
    app.add_exception_handler(OSError, _on_os_error)
    app.add_exception_handler(Exception, _on_unexpected)
