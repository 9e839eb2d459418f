"""Request and response models of the transfers paths (docs/product.md), in types."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from functions.core import (
    REQUEST,
    AmountRequest,
    AmountText,
    CurrencyCode,
    Description,
    Id,
    Reference,
    SignedAmount,
)

__all__ = [
    "BATCH_MAX_TRANSFERS",
    "RefundCreate",
    "ReversalPublic",
    "TransferBatchCreate",
    "TransferBatchPublic",
    "TransferCreate",
    "TransferDetail",
    "TransferPublic",
]

# The most transfers one batch posts in its one transaction (the SQL checks the same).
BATCH_MAX_TRANSFERS = 100


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


class TransferDetail(TransferPublic):
    """A transfer read back: with its reversals, or the transfer it reverses."""

    original_transfer_id: UUID | None = Field(
        description="set when this transfer is a refund or reversal: the transfer it reverses"
    )
    reversed_amount: SignedAmount = Field(description="the sum of this transfer's reversals")
    reversal_ids: list[UUID] = Field(description="the refunds and reversals of this transfer")


class ReversalPublic(TransferPublic):
    """A refund or staff reversal: a new transfer the other way, linked to the original."""

    original_transfer_id: UUID


class RefundCreate(AmountRequest):
    """Without `amount`, everything of the transfer not reversed yet."""

    model_config = REQUEST
    amount: AmountText | None = None
    reason: Reference | None = None


class TransferBatchCreate(BaseModel):
    model_config = REQUEST
    transfers: list[TransferCreate] = Field(min_length=1, max_length=BATCH_MAX_TRANSFERS)


class TransferBatchPublic(BaseModel):
    id: UUID
    created_at: datetime
    transfers: list[TransferPublic]
