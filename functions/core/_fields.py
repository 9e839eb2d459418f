"""The field types every function's models are built from, and the error body's shape.

Each function defines its own request and response models beside its routes
(`functions/<function>/_models.py`) from these types. Request models refuse
unknown fields and bound every field. Amount fields take strings only and are
checked for shape here; the currency's exponent is checked by the handler,
which knows the currency table. A refusal names the field and states the rule
in words, with an example: where a field has a pattern, the pattern is for the
OpenAPI document, and a before-validator (`words_for`) refuses first so no
message shows a regular expression. Public models (`...Public`) describe what
the functions answer; handlers build those answers as plain dicts for speed,
and the unit tests check them against those models, which also generate
`functions/openapi.json`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from ._money import AMOUNT_PATTERN, check_amount_text

__all__ = [
    "ID",
    "IDEMPOTENCY_KEY",
    "IDEMPOTENCY_KEY_PATTERN",
    "ID_RULE",
    "REQUEST",
    "AmountRequest",
    "AmountText",
    "CurrencyCode",
    "Description",
    "ErrorBody",
    "ErrorDetail",
    "FieldError",
    "Id",
    "Nickname",
    "QueryDate",
    "QueryDateTime",
    "Reference",
    "SignedAmount",
    "words_for",
]

IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_.:-]{1,255}$"
IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)

_CURRENCY = re.compile(r"[A-Z]{3}")
# RFC 3339 as the API documents it; pydantic alone would also take "0" (a Unix time).
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def words_for(pattern: re.Pattern[str], message: str) -> Any:
    """A before-validator that refuses a string not matching `pattern` with `message`.

    The pattern stays in the field's JSON schema for clients and fuzzers; this check
    runs first so a client reads the rule in words, never the regular expression.
    Values that are not strings are left to pydantic's own type message.
    """

    def check(value: object) -> object:
        if isinstance(value, str) and not pattern.fullmatch(value):
            raise ValueError(message)
        return value

    return BeforeValidator(check)


# The one form of an id, in a body or in a path (`Context.uuid_param`): no braces, URNs
# or bare hex; refused with one wording and one status wherever it appears.
ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
ID_RULE = 'must be a UUID such as "6ba7b810-9dad-11d1-80b4-00c04fd430c8"'
Id = Annotated[UUID, words_for(ID, ID_RULE)]
QueryDate = Annotated[
    dt.date, words_for(_DATE, 'must be a date as YYYY-MM-DD, such as "2026-01-31"')
]
QueryDateTime = Annotated[
    AwareDatetime,
    words_for(
        _DATE_TIME,
        'must be an RFC 3339 date-time with its offset, such as "2026-01-31T23:59:59Z"',
    ),
]

CurrencyCode = Annotated[
    str,
    StringConstraints(strict=True, pattern=r"^[A-Z]{3}$", min_length=3, max_length=3),
    words_for(_CURRENCY, 'must be a three-letter ISO 4217 code in capitals, such as "USD"'),
]
Nickname = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)]
Description = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=280)]
Reference = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=280)]
AmountText = Annotated[
    str,
    Field(
        max_length=24,
        # Documented, and checked in words by `check_amount_text` and `to_minor`.
        json_schema_extra={"pattern": AMOUNT_PATTERN},
        description='A positive decimal string in major units, e.g. "12.34"; '
        "no more decimals than the currency's exponent.",
        examples=["12.34"],
    ),
]
SignedAmount = Annotated[
    str, Field(description='A decimal string in major units, e.g. "-12.34".', max_length=26)
]

REQUEST = ConfigDict(extra="forbid", str_strip_whitespace=False)


class AmountRequest(BaseModel):
    @field_validator("amount", mode="before", check_fields=False)
    @classmethod
    def _amount_is_decimal_text(cls, value: object) -> str:
        return check_amount_text(value)


class FieldError(BaseModel):
    field: str
    message: str


class ErrorDetail(BaseModel):
    code: str = Field(examples=["insufficient_funds"])
    message: str
    details: list[FieldError] | Any = Field(
        description="validation_failed: a list of {field, message}; rate_limited: seconds "
        "to wait; otherwise whatever helps, or null."
    )
    request_id: str


class ErrorBody(BaseModel):
    error: ErrorDetail
