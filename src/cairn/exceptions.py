"""Cairn's errors, carrying MLflow's error codes and HTTP statuses.

The tree::

    MlflowException                      INTERNAL_ERROR            500
    ├── InvalidParameterValue            INVALID_PARAMETER_VALUE   400
    ├── BadRequest                       BAD_REQUEST               400
    ├── ResourceAlreadyExists            RESOURCE_ALREADY_EXISTS   400
    ├── ResourceDoesNotExist             RESOURCE_DOES_NOT_EXIST   404
    ├── EndpointNotFound                 ENDPOINT_NOT_FOUND        404
    ├── PermissionDenied                 PERMISSION_DENIED         403
    ├── Unauthenticated                  UNAUTHENTICATED           401
    ├── InvalidState                     INVALID_STATE             500
    ├── RequestLimitExceeded             REQUEST_LIMIT_EXCEEDED    429
    ├── NotImplementedByStore            NOT_IMPLEMENTED           501
    └── TemporarilyUnavailable           TEMPORARILY_UNAVAILABLE   503

Each class carries its code as class data; the code knows its HTTP status. This
module is the only place where either fact lives.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Any


class ErrorCode(str, Enum):
    """MLflow's error codes (databricks.proto), compared equal to their names."""

    INTERNAL_ERROR = "INTERNAL_ERROR"
    TEMPORARILY_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"
    IO_ERROR = "IO_ERROR"
    BAD_REQUEST = "BAD_REQUEST"
    INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
    ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
    MALFORMED_REQUEST = "MALFORMED_REQUEST"
    INVALID_STATE = "INVALID_STATE"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    FEATURE_DISABLED = "FEATURE_DISABLED"
    CUSTOMER_UNAUTHORIZED = "CUSTOMER_UNAUTHORIZED"
    REQUEST_LIMIT_EXCEEDED = "REQUEST_LIMIT_EXCEEDED"
    RESOURCE_CONFLICT = "RESOURCE_CONFLICT"
    NOT_IMPLEMENTED = "NOT_IMPLEMENTED"
    DATA_LOSS = "DATA_LOSS"
    RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
    RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    ABORTED = "ABORTED"
    CANCELLED = "CANCELLED"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"

    def __str__(self) -> str:
        return self.value

    @property
    def http_status(self) -> int:
        """The HTTP status MLflow's server sends with this code."""
        return _HTTP_STATUS.get(self, 500)


_HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_PARAMETER_VALUE: 400,
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.MALFORMED_REQUEST: 400,
    ErrorCode.RESOURCE_ALREADY_EXISTS: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.CUSTOMER_UNAUTHORIZED: 401,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.RESOURCE_DOES_NOT_EXIST: 404,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.ENDPOINT_NOT_FOUND: 404,
    ErrorCode.ABORTED: 409,
    ErrorCode.ALREADY_EXISTS: 409,
    ErrorCode.RESOURCE_CONFLICT: 409,
    ErrorCode.RESOURCE_EXHAUSTED: 429,
    ErrorCode.REQUEST_LIMIT_EXCEEDED: 429,
    ErrorCode.CANCELLED: 499,
    ErrorCode.NOT_IMPLEMENTED: 501,
    ErrorCode.TEMPORARILY_UNAVAILABLE: 503,
    ErrorCode.DEADLINE_EXCEEDED: 504,
}


class MlflowException(Exception):
    """Base of every error Cairn raises on purpose.

    ``MlflowException("msg", error_code="INVALID_PARAMETER_VALUE")`` works as in MLflow;
    raising a subclass is the idiomatic way inside Cairn.
    """

    error_code: ErrorCode = ErrorCode.INTERNAL_ERROR

    def __init__(
        self, message: object, error_code: ErrorCode | str | None = None, **kwargs: Any
    ) -> None:
        self.message = str(message)
        if error_code is not None:
            self.error_code = _as_code(error_code)
        self.json_kwargs = kwargs
        super().__init__(self.message)

    def get_http_status_code(self) -> int:
        return self.error_code.http_status

    def serialize_as_json(self) -> str:
        return json.dumps(
            {"error_code": self.error_code.value, "message": self.message, **self.json_kwargs}
        )

    @classmethod
    def invalid_parameter_value(cls, message: str, **kwargs: Any) -> MlflowException:
        return InvalidParameterValue(message, **kwargs)

    @staticmethod
    def from_code(error_code: ErrorCode | str, message: str) -> MlflowException:
        """The most specific exception class for a code received over the wire."""
        code = _as_code(error_code)
        for cls in _all_subclasses(MlflowException):
            # only this module's classes: subclasses elsewhere may take other arguments
            if cls.error_code is code and cls.__module__ == __name__:
                return cls(message)
        return MlflowException(message, error_code=code)


def _as_code(error_code: ErrorCode | str) -> ErrorCode:
    try:
        return ErrorCode(str(error_code))
    except ValueError:
        return ErrorCode.INTERNAL_ERROR


def _all_subclasses(cls: type[MlflowException]) -> list[type[MlflowException]]:
    found: list[type[MlflowException]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


class InvalidParameterValue(MlflowException):
    error_code = ErrorCode.INVALID_PARAMETER_VALUE


class BadRequest(MlflowException):
    error_code = ErrorCode.BAD_REQUEST


class ResourceAlreadyExists(MlflowException):
    error_code = ErrorCode.RESOURCE_ALREADY_EXISTS


class ResourceDoesNotExist(MlflowException):
    error_code = ErrorCode.RESOURCE_DOES_NOT_EXIST


class EndpointNotFound(MlflowException):
    error_code = ErrorCode.ENDPOINT_NOT_FOUND


class PermissionDenied(MlflowException):
    error_code = ErrorCode.PERMISSION_DENIED


class Unauthenticated(MlflowException):
    error_code = ErrorCode.UNAUTHENTICATED


class InvalidState(MlflowException):
    error_code = ErrorCode.INVALID_STATE


class RequestLimitExceeded(MlflowException):
    error_code = ErrorCode.REQUEST_LIMIT_EXCEEDED


class NotImplementedByStore(MlflowException):
    error_code = ErrorCode.NOT_IMPLEMENTED


class TemporarilyUnavailable(MlflowException):
    error_code = ErrorCode.TEMPORARILY_UNAVAILABLE


# MLflow's module-level code names, for code that does `error_code=INVALID_PARAMETER_VALUE`.
INTERNAL_ERROR = ErrorCode.INTERNAL_ERROR
INVALID_PARAMETER_VALUE = ErrorCode.INVALID_PARAMETER_VALUE
RESOURCE_ALREADY_EXISTS = ErrorCode.RESOURCE_ALREADY_EXISTS
RESOURCE_DOES_NOT_EXIST = ErrorCode.RESOURCE_DOES_NOT_EXIST
INVALID_STATE = ErrorCode.INVALID_STATE
BAD_REQUEST = ErrorCode.BAD_REQUEST
