"""Request and response models of the holds paths (docs/product.md), in types."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from functions.core import (
    REQUEST,
    AmountRequest,
    AmountText,
    CurrencyCode,
    Description,
    Id,
    SignedAmount,
)

__all__ = [
    "MAX_EXPIRES_IN_SECONDS",
    "HoldCapture",
    "HoldCreate",
    "HoldList",
    "HoldPublic",
    "HoldsQuery",
]

# Thirty days: the bound 45_holds.sql (private.hold_lifetime) enforces too.
MAX_EXPIRES_IN_SECONDS = 2_592_000


class HoldCreate(AmountRequest):
    model_config = REQUEST
    from_account_id: Id
    to_account_id: Id
    amount: AmountText
    currency: CurrencyCode
    description: Description | None = None
    expires_in_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_EXPIRES_IN_SECONDS,
        description="Seconds until the hold releases itself; default seven days, at most 30.",
    )


class HoldCapture(AmountRequest):
    model_config = REQUEST
    amount: AmountText | None = Field(
        default=None,
        description="At most the held amount; the rest is released. Default: all of it.",
    )


class HoldsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    account_id: Id = Field(description="The sending account whose open holds to list.")


class HoldPublic(BaseModel):
    id: UUID
    from_account_id: UUID
    to_account_id: UUID
    amount: SignedAmount
    currency: str
    description: str | None
    status: str = Field(description="pending, captured, voided or expired.")
    captured_amount: SignedAmount
    released_amount: SignedAmount
    capture_transfer_id: UUID | None = Field(description="The transfer a capture posted.")
    expires_at: datetime
    created_at: datetime
    closed_at: datetime | None


class HoldList(BaseModel):
    data: list[HoldPublic]
