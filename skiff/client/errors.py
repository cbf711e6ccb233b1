"""The client's errors: the API's one hierarchy (see skiff.api.errors), re-exported here."""

from skiff.api.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Expired,
    Forbidden,
    InternalError,
    Invalid,
    NotFound,
    ServiceUnavailable,
    StatusError,
    TooManyRequests,
    Unauthorized,
)

__all__ = ["AlreadyExists", "BadRequest", "Conflict", "Expired", "Forbidden", "InternalError", "Invalid",
           "NotFound", "ServiceUnavailable", "StatusError", "TooManyRequests", "Unauthorized"]
