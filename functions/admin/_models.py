"""Request models of the staff paths, and the page of loans staff decide on; the other
answers are the other functions' shapes."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from functions.core import (
    REQUEST,
    AmountRequest,
    AmountText,
    CurrencyCode,
    Id,
    Reference,
    words_for,
)
from functions.loans import LoanPublic

__all__ = ["AdminCashMovement", "AdminLoansQuery", "LoanPage", "decode_cursor", "encode_cursor"]

_CURSOR_TEXT = re.compile(r"[A-Za-z0-9_-]{8,200}")
# What a cursor holds once decoded: the last row's created_at and id.
_CURSOR_PARTS = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{8,15}(?:Z|[+-][0-9]{2}:[0-9]{2}))"
    r"~([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
)
_CURSOR_RULE = "must be the next_cursor of an earlier page"


class AdminCashMovement(AmountRequest):
    model_config = REQUEST
    account_id: Id
    amount: AmountText
    currency: CurrencyCode
    reference: Reference


class AdminLoansQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: Literal[
        "pending", "rejected", "withdrawn", "active", "overdue", "paid_off", "written_off"
    ] = Field(default="pending", description="Only loans in this status.")
    limit: int = Field(default=50, ge=1, le=100, description="Loans per page.")
    cursor: Annotated[
        str | None,
        Field(pattern=r"^[A-Za-z0-9_-]{8,200}$", description="`next_cursor` of the last page."),
        words_for(_CURSOR_TEXT, _CURSOR_RULE),
    ] = None


class LoanPage(BaseModel):
    data: list[LoanPublic] = Field(description="Oldest application first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


def encode_cursor(created_at: str, loan_id: str) -> str:
    """An opaque cursor: the last row's sort key, which clients pass back unread."""
    return base64.urlsafe_b64encode(f"{created_at}~{loan_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str] | None:
    """The (created_at, id) a cursor holds, or None when it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    found = _CURSOR_PARTS.fullmatch(text)
    return (found[1], found[2]) if found else None
