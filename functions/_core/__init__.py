"""The shared core of every function: config, errors, JWT, PostgREST, HTTP plumbing, models.

The modules are private; this package re-exports what the function modules use.
"""

from __future__ import annotations

from ._config import ConfigError, Settings, get_settings, load_settings
from ._errors import (
    ApiError,
    BadRequest,
    Forbidden,
    InternalError,
    NotFound,
    PostgrestError,
    RateLimited,
    Unauthorized,
    UpstreamUnavailable,
    ValidationFailed,
)
from ._http import Context, Reply, Route, application, csv_reply, json_reply, route
from ._jwt_verifier import Caller
from ._runtime import Runtime, get_runtime, reset_runtime

__all__ = [
    "ApiError",
    "BadRequest",
    "Caller",
    "ConfigError",
    "Context",
    "Forbidden",
    "InternalError",
    "NotFound",
    "PostgrestError",
    "RateLimited",
    "Reply",
    "Route",
    "Runtime",
    "Settings",
    "Unauthorized",
    "UpstreamUnavailable",
    "ValidationFailed",
    "application",
    "csv_reply",
    "get_runtime",
    "get_settings",
    "json_reply",
    "load_settings",
    "reset_runtime",
    "route",
]
