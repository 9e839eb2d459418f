"""The shared core of every function: settings, errors and the error table, JWT,
PostgREST, HTTP plumbing, money formatting and the field types models are built from.

The modules are private; this package is the surface the functions import from.
"""

from __future__ import annotations

from ._config import ConfigError, Settings, get_settings, load_settings
from ._error_table import ERROR_TABLE, SQL_PATH, ErrorKind, kind_of, render_doc, render_sql
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
from ._fields import (
    IDEMPOTENCY_KEY_PATTERN,
    REQUEST,
    AmountRequest,
    AmountText,
    CurrencyCode,
    Description,
    ErrorBody,
    ErrorDetail,
    FieldError,
    Id,
    Nickname,
    QueryDate,
    QueryDateTime,
    Reference,
    SignedAmount,
    words_for,
)
from ._http import Context, Reply, Route, application, csv_reply, json_reply, route
from ._jwt_verifier import Caller
from ._money import (
    CurrencyTable,
    check_amount_text,
    format_minor,
    require_amount,
    require_currency,
    to_minor,
)
from ._runtime import Runtime, get_runtime, reset_runtime

__all__ = [
    "ERROR_TABLE",
    "IDEMPOTENCY_KEY_PATTERN",
    "REQUEST",
    "SQL_PATH",
    "AmountRequest",
    "AmountText",
    "ApiError",
    "BadRequest",
    "Caller",
    "ConfigError",
    "Context",
    "CurrencyCode",
    "CurrencyTable",
    "Description",
    "ErrorBody",
    "ErrorDetail",
    "ErrorKind",
    "FieldError",
    "Forbidden",
    "Id",
    "InternalError",
    "Nickname",
    "NotFound",
    "PostgrestError",
    "QueryDate",
    "QueryDateTime",
    "RateLimited",
    "Reference",
    "Reply",
    "Route",
    "Runtime",
    "Settings",
    "SignedAmount",
    "Unauthorized",
    "UpstreamUnavailable",
    "ValidationFailed",
    "application",
    "check_amount_text",
    "csv_reply",
    "format_minor",
    "get_runtime",
    "get_settings",
    "json_reply",
    "kind_of",
    "load_settings",
    "render_doc",
    "render_sql",
    "require_amount",
    "require_currency",
    "reset_runtime",
    "route",
    "to_minor",
    "words_for",
]
