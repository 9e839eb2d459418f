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

__all__ = [
    "AdminCashMovement",
    "AdminLoansQuery",
    "LedgerBreak",
    "LedgerVerification",
    "LoanPage",
    "PaymentEventPage",
    "PaymentEventRow",
    "PaymentEventsQuery",
    "decode_cursor",
    "encode_cursor",
]

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


class LedgerBreak(BaseModel):
    account_id: str
    entry_id: int | None = Field(
        description="The entry where the chain breaks; null when the account has no entries left."
    )
    account_version: int
    problem: Literal["entry_altered", "entries_missing", "head_mismatch"]
    detail: str


class LedgerVerification(BaseModel):
    ok: bool = Field(description="true when every account's hash chain is whole.")
    breaks: list[LedgerBreak] = Field(description="Every break, by account and version.")
    truncated: bool = Field(description="true when there are more breaks than listed.")


class PaymentEventsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: Literal["unapplied", "applied", "ignored"] = Field(
        default="unapplied", description="Only events in this status."
    )
    limit: int = Field(default=50, ge=1, le=100, description="Events per page.")
    cursor: Annotated[
        str | None,
        # 18 digits: any such number is a bigint, so the filter can never overflow.
        Field(pattern=r"^[0-9]{1,18}$", description="`next_cursor` of the last page."),
    ] = None


class PaymentEventRow(BaseModel):
    id: int
    event_id: str
    event_type: str
    livemode: bool
    status: Literal["applied", "unapplied", "ignored"]
    reason: str | None
    payment_intent_id: str | None
    account_id: str | None
    amount_minor: int | None = Field(description="As the provider sent it, in minor units.")
    currency: str | None
    transfer_id: str | None
    received_at: str


class PaymentEventPage(BaseModel):
    data: list[PaymentEventRow] = Field(description="Oldest event first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )
