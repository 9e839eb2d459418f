"""Request and response models of the accounts paths (docs/product.md), in types.

Built from the field types of `functions.core`; the handlers answer plain dicts
(`_public`) that the unit tests check against the response models here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from functions.core import (
    REQUEST,
    CurrencyCode,
    Nickname,
    QueryDateTime,
    SignedAmount,
    words_for,
)

__all__ = [
    "AccountCreate",
    "AccountList",
    "AccountPublic",
    "AccountUpdate",
    "BalanceAtPublic",
    "BalanceAtQuery",
    "CurrencyList",
    "CurrencyPublic",
    "EntryPage",
    "EntryPublic",
    "StatementQuery",
    "TransactionsQuery",
]

_MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
_CURSOR = re.compile(r"[1-9][0-9]{0,18}")


class AccountCreate(BaseModel):
    model_config = REQUEST
    currency: CurrencyCode
    kind: Literal["checking", "savings"]
    nickname: Nickname | None = None


class AccountUpdate(BaseModel):
    model_config = REQUEST
    nickname: Nickname | None = Field(description="The new nickname; null clears it.")


class TransactionsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    limit: int = Field(default=50, ge=1, le=100, description="Entries per page.")
    cursor: Annotated[
        str | None,
        Field(pattern=r"^[1-9][0-9]{0,18}$", description="`next_cursor` of the last page."),
        words_for(_CURSOR, "must be the next_cursor of an earlier page (a positive integer)"),
    ] = None
    since: QueryDateTime | None = Field(default=None, description="Only entries at or after.")
    until: QueryDateTime | None = Field(default=None, description="Only entries before.")


class StatementQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    month: str = Field(
        pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$",
        examples=["2026-01"],
        description="A calendar month (UTC) that has begun: not after the current month, "
        "and not before the account was opened.",
    )

    @field_validator("month", mode="before")
    @classmethod
    def _a_month_that_has_begun(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        found = _MONTH.fullmatch(value)
        if found is None or found[1] == "0000":
            raise ValueError('must be a calendar month as YYYY-MM, such as "2026-01"')
        now = datetime.now(UTC)
        if (int(found[1]), int(found[2])) > (now.year, now.month):
            raise ValueError(f"must not be after the current month ({now:%Y-%m})")
        return value


class BalanceAtQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    at: QueryDateTime = Field(
        description="The moment, with its offset; not in the future and not before the "
        "account was opened."
    )

    @field_validator("at")
    @classmethod
    def _not_in_the_future(cls, value: datetime) -> datetime:
        if value > datetime.now(UTC):
            raise ValueError("must not be in the future")
        return value


class BalanceAtPublic(BaseModel):
    balance: SignedAmount = Field(
        description="The balance_after of the account's last entry at or before `at` (0 "
        "before its first entry): credits still pending settlement are not in it, and holds "
        "never lower a balance."
    )
    at: datetime
    as_of_entry_id: int | None = Field(description="That entry; null before the first.")


class AccountPublic(BaseModel):
    id: UUID
    account_number: str
    kind: str = Field(description="checking or savings; the bank's own accounts have others.")
    currency: str
    nickname: str | None
    status: str = Field(description="active, frozen or closed.")
    balance: SignedAmount
    available_balance: SignedAmount = Field(
        description="balance + overdraft_limit - what open holds reserve, for customer accounts."
    )
    overdraft_limit: SignedAmount
    created_at: datetime


class AccountList(BaseModel):
    data: list[AccountPublic]


class EntryPublic(BaseModel):
    id: int
    transfer_id: UUID
    account_id: UUID
    amount: SignedAmount = Field(description="Signed: negative leaves the account.")
    balance_after: SignedAmount
    description: str | None
    counterparty_account_id: UUID | None
    created_at: datetime


class EntryPage(BaseModel):
    data: list[EntryPublic]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next (older) page; null on the last page."
    )


class CurrencyPublic(BaseModel):
    code: str = Field(examples=["USD"])
    name: str
    exponent: int = Field(description="Decimals an amount in this currency may have.")
    max_transfer: SignedAmount = Field(
        description="The largest single transfer a customer may send."
    )
    daily_outgoing_limit: SignedAmount = Field(
        description="What one customer may send in this currency per UTC day."
    )
    transfers_per_minute: int = Field(
        description="Money movements one customer may start in this currency per minute."
    )


class CurrencyList(BaseModel):
    data: list[CurrencyPublic]
