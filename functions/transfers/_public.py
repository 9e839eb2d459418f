"""A transfer's public shape, and the answer of every call that moves money.

`transfer_funds`, `admin_deposit` and `admin_withdraw` all answer with the
transfer and `"replayed": true` when the idempotency key was seen before with
the same request; the first answer was 201, so the replay is 201 too, with the
same body and `Idempotent-Replayed: true`.
"""

from __future__ import annotations

from typing import Any

from functions.core import Context, CurrencyTable, Reply, format_minor, json_reply

__all__ = ["TRANSFER_COLUMNS", "reversal_reply", "transfer_public", "transfer_reply"]

TRANSFER_COLUMNS = "id,from_account_id,to_account_id,amount,currency,description,status,created_at"


async def transfer_public(row: dict[str, Any], currencies: CurrencyTable) -> dict[str, Any]:
    await currencies.ensure(row["currency"])
    exponent = currencies.known_exponent(row["currency"])
    return {
        "id": row["id"],
        "from_account_id": row.get("from_account_id"),
        "to_account_id": row.get("to_account_id"),
        "amount": format_minor(int(row["amount"]), exponent),
        "currency": row["currency"],
        "description": row.get("description"),
        "status": row["status"],
        "created_at": row["created_at"],
    }


async def transfer_reply(ctx: Context, result: dict[str, Any]) -> Reply:
    headers = {"Idempotent-Replayed": "true"} if result.get("replayed") is True else {}
    return json_reply(201, await transfer_public(result, ctx.runtime.currencies), headers)


async def reversal_reply(ctx: Context, result: dict[str, Any]) -> Reply:
    """A refund's or staff reversal's answer: the new transfer and the one it reverses."""
    headers = {"Idempotent-Replayed": "true"} if result.get("replayed") is True else {}
    body = await transfer_public(result, ctx.runtime.currencies)
    body["original_transfer_id"] = result["original_transfer_id"]
    return json_reply(201, body, headers)
