"""Request and response models of the loan paths (docs/product.md, Loans), in types.

Built from the field types of `functions.core`: request models refuse unknown
fields and bound every field; amounts are decimal strings checked for shape
here and against the currency's exponent by the handler (principal) or by the
database (a repayment's currency is the loan's, which only the database knows).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from functions.core import (
    AmountText,
    CurrencyCode,
    Id,
    QueryDate,
    SignedAmount,
    check_amount_text,
)
from functions.transfers import TransferPublic

__all__ = [
    "MAX_TERM_MONTHS",
    "InstallmentPublic",
    "LoanCreate",
    "LoanDecision",
    "LoanList",
    "LoanPayoffQuery",
    "LoanProductList",
    "LoanProductPublic",
    "LoanPublic",
    "PayoffPublic",
    "RepaymentAllocation",
    "RepaymentCreate",
    "RepaymentPublic",
]

MAX_TERM_MONTHS = 480
_REQUEST = ConfigDict(extra="forbid")
Reason = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=500)]
LoanStatus = Literal[
    "pending", "rejected", "withdrawn", "active", "overdue", "paid_off", "written_off"
]


class LoanCreate(BaseModel):
    model_config = _REQUEST
    account_id: Id = Field(description="The caller's account the principal is paid into.")
    principal: AmountText
    currency: CurrencyCode
    term_months: int = Field(ge=1, le=MAX_TERM_MONTHS, strict=True)
    product_id: Id | None = Field(
        default=None, description="Without it, the currency's default loan product."
    )
    purpose: Reason | None = None

    @field_validator("principal", mode="before")
    @classmethod
    def _principal_is_decimal_text(cls, value: object) -> str:
        return check_amount_text(value)


class RepaymentCreate(BaseModel):
    model_config = _REQUEST
    amount: AmountText
    from_account_id: Id = Field(description="The caller's account the repayment comes from.")

    @field_validator("amount", mode="before")
    @classmethod
    def _amount_is_decimal_text(cls, value: object) -> str:
        return check_amount_text(value)


class LoanDecision(BaseModel):
    """The optional body of a staff rejection or write-off."""

    model_config = _REQUEST
    reason: Reason | None = None


class LoanPayoffQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    date: QueryDate | None = Field(
        default=None, description="YYYY-MM-DD; today (the database's date) when omitted."
    )


class InstallmentPublic(BaseModel):
    number: int
    due_date: dt.date
    principal: SignedAmount
    interest: SignedAmount
    total: SignedAmount
    paid: SignedAmount
    status: Literal["pending", "overdue", "paid", "written_off"]


class LoanPublic(BaseModel):
    id: UUID
    account_id: UUID
    product_id: UUID
    principal: SignedAmount
    currency: str
    term_months: int
    annual_rate_bps: int = Field(description="Annual interest rate in basis points (1% = 100).")
    status: LoanStatus
    outstanding_principal: SignedAmount
    schedule: list[InstallmentPublic] = Field(
        description="30/360: each installment's interest is one month of 30 days in a "
        "360-day year on the principal owed at its start; the last installment absorbs "
        "rounding."
    )
    created_at: dt.datetime


class LoanList(BaseModel):
    data: list[LoanPublic]


class RepaymentAllocation(BaseModel):
    interest: SignedAmount
    principal: SignedAmount
    past_due_interest: SignedAmount
    past_due_principal: SignedAmount
    current_interest: SignedAmount
    current_principal: SignedAmount
    prepaid_principal: SignedAmount = Field(
        description="Paid from the last installment backwards: the term shortens."
    )


class RepaymentPublic(BaseModel):
    transfer: TransferPublic
    allocation: RepaymentAllocation
    loan: LoanPublic


class PayoffPublic(BaseModel):
    amount: SignedAmount
    currency: str
    date: dt.date


class LoanProductPublic(BaseModel):
    id: UUID
    name: str
    currency: str
    min_principal: SignedAmount
    max_principal: SignedAmount
    min_term_months: int
    max_term_months: int
    annual_rate_bps: int = Field(description="Annual interest rate in basis points (1% = 100).")
    amortization_method: Literal["equal_installments", "equal_principal"]
    day_count: str = Field(examples=["30/360"])
    is_default: bool = Field(
        description="The currency's default product, used when an application names none."
    )


class LoanProductList(BaseModel):
    data: list[LoanProductPublic]
