"""Request models of the staff paths; their answers are the other functions' shapes."""

from __future__ import annotations

from functions.core import REQUEST, AmountRequest, AmountText, CurrencyCode, Id, Reference

__all__ = ["AdminCashMovement"]


class AdminCashMovement(AmountRequest):
    model_config = REQUEST
    account_id: Id
    amount: AmountText
    currency: CurrencyCode
    reference: Reference
