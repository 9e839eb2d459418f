"""Loan rows and RPC results turned into the public loan shapes of docs/product.md.

The database answers in minor units, in two forms: the loan RPCs return a
loan with `schedule`, and a PostgREST read embeds `loan_installments` under
the alias `schedule` (LOAN_SELECT). Both carry each installment's principal,
interest and the parts paid, so one function formats either.
"""

from __future__ import annotations

from typing import Any

from functions.core import CurrencyTable, format_minor
from functions.transfers import transfer_public

__all__ = [
    "LOAN_PRODUCT_COLUMNS",
    "LOAN_SELECT",
    "loan_product_public",
    "loan_public",
    "payoff_public",
    "repayment_public",
]

LOAN_PRODUCT_COLUMNS = (
    "id,name,currency,min_principal,max_principal,min_term_months,max_term_months,"
    "annual_rate_bps,amortization_method,day_count,is_default"
)

LOAN_SELECT = (
    "id,account_id,product_id,principal,currency,term_months,annual_rate_bps,status,"
    "outstanding_principal,created_at,"
    "schedule:loan_installments(number,due_date,principal:principal_due,"
    "interest:interest_due,principal_paid,interest_paid,status)"
)
_ALLOCATION_PARTS = (
    "interest", "principal", "past_due_interest", "past_due_principal",
    "current_interest", "current_principal", "prepaid_principal",
)  # fmt: skip


def _installment(row: dict[str, Any], exponent: int) -> dict[str, Any]:
    principal, interest = int(row["principal"]), int(row["interest"])
    paid = int(row["principal_paid"]) + int(row["interest_paid"])
    return {
        "number": row["number"],
        "due_date": row["due_date"],
        "principal": format_minor(principal, exponent),
        "interest": format_minor(interest, exponent),
        "total": format_minor(principal + interest, exponent),
        "paid": format_minor(paid, exponent),
        "status": row["status"],
    }


async def loan_public(row: dict[str, Any], currencies: CurrencyTable) -> dict[str, Any]:
    await currencies.ensure(row["currency"])
    exponent = currencies.known_exponent(row["currency"])
    schedule = sorted(row.get("schedule") or [], key=lambda each: int(each["number"]))
    return {
        "id": row["id"],
        "account_id": row["account_id"],
        "product_id": row["product_id"],
        "principal": format_minor(int(row["principal"]), exponent),
        "currency": row["currency"],
        "term_months": row["term_months"],
        "annual_rate_bps": row["annual_rate_bps"],
        "status": row["status"],
        "outstanding_principal": format_minor(int(row["outstanding_principal"]), exponent),
        "schedule": [_installment(each, exponent) for each in schedule],
        "created_at": row["created_at"],
    }


async def repayment_public(result: dict[str, Any], currencies: CurrencyTable) -> dict[str, Any]:
    loan = result["loan"]
    await currencies.ensure(loan["currency"])
    exponent = currencies.known_exponent(loan["currency"])
    allocation = result["allocation"]
    parts = {part: format_minor(int(allocation[part]), exponent) for part in _ALLOCATION_PARTS}
    return {
        "transfer": await transfer_public(result["transfer"], currencies),
        "allocation": parts,
        "loan": await loan_public(loan, currencies),
    }


async def payoff_public(result: dict[str, Any], currencies: CurrencyTable) -> dict[str, Any]:
    await currencies.ensure(result["currency"])
    exponent = currencies.known_exponent(result["currency"])
    return {
        "amount": format_minor(int(result["amount"]), exponent),
        "currency": result["currency"],
        "date": result["date"],
    }


async def loan_product_public(row: dict[str, Any], currencies: CurrencyTable) -> dict[str, Any]:
    await currencies.ensure(row["currency"])
    exponent = currencies.known_exponent(row["currency"])
    return {
        "id": row["id"],
        "name": row["name"],
        "currency": row["currency"],
        "min_principal": format_minor(int(row["min_principal"]), exponent),
        "max_principal": format_minor(int(row["max_principal"]), exponent),
        "min_term_months": int(row["min_term_months"]),
        "max_term_months": int(row["max_term_months"]),
        "annual_rate_bps": int(row["annual_rate_bps"]),
        "amortization_method": row["amortization_method"],
        "day_count": row["day_count"],
        "is_default": bool(row["is_default"]),
    }
