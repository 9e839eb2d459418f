"""Account and entry rows from PostgREST turned into the public shapes of docs/product.md.

The database speaks minor units and its own column names; clients get decimal
strings formatted with the currency's exponent and only the documented fields
(no `owner_id`, `version` or idempotency bookkeeping).
"""

from __future__ import annotations

from typing import Any

from functions.core import CurrencyTable, format_minor

__all__ = [
    "ACCOUNT_COLUMNS",
    "CURRENCY_COLUMNS",
    "CUSTOMER_KINDS",
    "ENTRY_COLUMNS",
    "account_public",
    "currency_public",
    "entry_public",
]

# held_minor_now: what the account's unexpired pending holds reserve (45_holds.sql).
ACCOUNT_COLUMNS = (
    "id,account_number,kind,currency,nickname,status,balance,overdraft_limit,created_at,"
    "held_minor_now"
)
ENTRY_COLUMNS = (
    "id,transfer_id,account_id,amount,balance_after,description,counterparty_account_id,created_at"
)
CURRENCY_COLUMNS = (
    "code,name,exponent,max_transfer_minor,daily_outgoing_limit_minor,transfers_per_minute"
)
CUSTOMER_KINDS = frozenset({"checking", "savings"})


async def account_public(row: dict[str, Any], currencies: CurrencyTable) -> dict[str, Any]:
    await currencies.ensure(row["currency"])
    exponent = currencies.known_exponent(row["currency"])
    balance, overdraft = int(row["balance"]), int(row["overdraft_limit"])
    # RPC replies carry the stored column, table reads the computed one.
    held = int(row.get("held_minor_now", row.get("held_minor", 0)))
    available = balance + overdraft - held if row["kind"] in CUSTOMER_KINDS else balance
    return {
        "id": row["id"],
        "account_number": row["account_number"],
        "kind": row["kind"],
        "currency": row["currency"],
        "nickname": row.get("nickname"),
        "status": row["status"],
        "balance": format_minor(balance, exponent),
        "available_balance": format_minor(available, exponent),
        "overdraft_limit": format_minor(overdraft, exponent),
        "created_at": row["created_at"],
    }


def currency_public(row: dict[str, Any]) -> dict[str, Any]:
    exponent = int(row["exponent"])
    return {
        "code": row["code"],
        "name": row["name"],
        "exponent": exponent,
        "max_transfer": format_minor(int(row["max_transfer_minor"]), exponent),
        "daily_outgoing_limit": format_minor(int(row["daily_outgoing_limit_minor"]), exponent),
        "transfers_per_minute": int(row["transfers_per_minute"]),
    }


def entry_public(row: dict[str, Any], exponent: int) -> dict[str, Any]:
    return {
        "id": row["id"],
        "transfer_id": row["transfer_id"],
        "account_id": row["account_id"],
        "amount": format_minor(int(row["amount"]), exponent),
        "balance_after": format_minor(int(row["balance_after"]), exponent),
        "description": row.get("description"),
        "counterparty_account_id": row.get("counterparty_account_id"),
        "created_at": row["created_at"],
    }
