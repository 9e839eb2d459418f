"""Request and response models of the transfers paths (docs/product.md), in types."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from functions.core import (
    REQUEST,
    AmountRequest,
    AmountText,
    CurrencyCode,
    Description,
    Id,
    SignedAmount,
)

__all__ = ["TransferCreate", "TransferPublic"]


class TransferCreate(AmountRequest):
    model_config = REQUEST
    from_account_id: Id
    to_account_id: Id
    amount: AmountText
    currency: CurrencyCode
    description: Description | None = None


class TransferPublic(BaseModel):
    id: UUID
    from_account_id: UUID | None
    to_account_id: UUID | None
    amount: SignedAmount
    currency: str
    description: str | None
    status: str
    created_at: datetime
