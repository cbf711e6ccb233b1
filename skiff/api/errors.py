"""The one small error hierarchy of the API, and the one table that maps it to gRPC codes.

Server and client share it: the apiserver raises these, the gRPC layer turns them into status
codes with :data:`GRPC_CODES`, and the client turns a status code back into the same class with
:func:`from_grpc`. Messages are Kubernetes' messages, e.g.
``Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0``.
"""

from __future__ import annotations

import json

import grpc


class StatusError(Exception):
    """An API error with a Kubernetes reason (NotFound, Conflict, ...) and HTTP-style code."""

    reason: str = "InternalError"
    code: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadRequest(StatusError):
    reason, code = "BadRequest", 400


class Unauthorized(StatusError):
    reason, code = "Unauthorized", 401


class Forbidden(StatusError):
    reason, code = "Forbidden", 403


class NotFound(StatusError):
    reason, code = "NotFound", 404


class MethodNotAllowed(StatusError):
    reason, code = "MethodNotAllowed", 405


class AlreadyExists(StatusError):
    reason, code = "AlreadyExists", 409


class Conflict(StatusError):
    reason, code = "Conflict", 409


class Expired(StatusError):
    reason, code = "Expired", 410


class Invalid(StatusError):
    """An object that fails validation; ``kind``, ``name`` and ``causes`` (``field: message``) are
    Kubernetes' status details, which clients print from (``The Deployment "web" is invalid: ...``)."""

    reason, code = "Invalid", 422

    def __init__(self, message: str, *, kind: str = "", name: str = "", causes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.kind = kind
        self.name = name
        self.causes = causes

    def details(self) -> bytes:
        """The details as sent beside the message (:data:`INVALID_DETAILS_KEY`)."""
        return json.dumps({"kind": self.kind, "name": self.name, "causes": list(self.causes)}).encode()

    @classmethod
    def with_details(cls, message: str, details: bytes) -> Invalid:
        try:
            data = json.loads(details)
            return cls(message, kind=str(data["kind"]), name=str(data["name"]),
                       causes=tuple(str(c) for c in data["causes"]))
        except (ValueError, KeyError, TypeError):
            return cls(message)


class TooManyRequests(StatusError):
    reason, code = "TooManyRequests", 429


class InternalError(StatusError):
    reason, code = "InternalError", 500


class ServiceUnavailable(StatusError):
    reason, code = "ServiceUnavailable", 503


# The one table: error class <-> gRPC status code. Two classes share ALREADY_EXISTS/ABORTED
# codes with others, so the reverse direction also looks at the reason carried in the details.
GRPC_CODES: dict[type[StatusError], grpc.StatusCode] = {
    BadRequest: grpc.StatusCode.INVALID_ARGUMENT,
    Invalid: grpc.StatusCode.INVALID_ARGUMENT,
    Unauthorized: grpc.StatusCode.UNAUTHENTICATED,
    Forbidden: grpc.StatusCode.PERMISSION_DENIED,
    NotFound: grpc.StatusCode.NOT_FOUND,
    MethodNotAllowed: grpc.StatusCode.UNIMPLEMENTED,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    Conflict: grpc.StatusCode.ABORTED,
    Expired: grpc.StatusCode.OUT_OF_RANGE,
    TooManyRequests: grpc.StatusCode.RESOURCE_EXHAUSTED,
    InternalError: grpc.StatusCode.INTERNAL,
    ServiceUnavailable: grpc.StatusCode.UNAVAILABLE,
}

_BY_REASON: dict[str, type[StatusError]] = {cls.reason: cls for cls in GRPC_CODES}
_BY_CODE: dict[grpc.StatusCode, type[StatusError]] = {}
for _cls, _code in GRPC_CODES.items():
    _BY_CODE.setdefault(_code, _cls)

REASON_METADATA_KEY = "skiff-reason"
INVALID_DETAILS_KEY = "skiff-invalid-details-bin"
"""Trailing metadata of an Invalid error: its kind, name and causes as JSON."""


def from_grpc(code: grpc.StatusCode, message: str, reason: str | None = None) -> StatusError:
    """The StatusError for a gRPC status (the reason trailer, when sent, picks the exact class)."""
    cls = _BY_REASON.get(reason or "") or _BY_CODE.get(code)
    if cls is None:
        cls = ServiceUnavailable if code == grpc.StatusCode.DEADLINE_EXCEEDED else InternalError
    return cls(message)
