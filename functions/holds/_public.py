"""Hold rows from PostgREST, and the replies of the hold RPCs, in their public shape.

The RPCs answer the row with its status at this moment (`expired` for a
pending hold past its time); table reads select the same through the
`hold_status` computed column, so both paths say the same.
"""

from __future__ import annotations

from typing import Any

from functions.core import Context, CurrencyTable, Reply, format_minor, json_reply

__all__ = ["HOLD_COLUMNS", "hold_public", "hold_reply"]

HOLD_COLUMNS = (
    "id,from_account_id,to_account_id,amount,currency,description,status:hold_status,"
    "captured_amount,released_amount,capture_transfer_id,expires_at,created_at,closed_at"
)


async def hold_public(row: dict[str, Any], currencies: CurrencyTable) -> dict[str, Any]:
    await currencies.ensure(row["currency"])
    exponent = currencies.known_exponent(row["currency"])
    return {
        "id": row["id"],
        "from_account_id": row["from_account_id"],
        "to_account_id": row["to_account_id"],
        "amount": format_minor(int(row["amount"]), exponent),
        "currency": row["currency"],
        "description": row.get("description"),
        "status": row["status"],
        "captured_amount": format_minor(int(row["captured_amount"]), exponent),
        "released_amount": format_minor(int(row["released_amount"]), exponent),
        "capture_transfer_id": row.get("capture_transfer_id"),
        "expires_at": row["expires_at"],
        "created_at": row["created_at"],
        "closed_at": row.get("closed_at"),
    }


async def hold_reply(ctx: Context, status: int, result: dict[str, Any]) -> Reply:
    headers = {"Idempotent-Replayed": "true"} if result.get("replayed") is True else {}
    return json_reply(status, await hold_public(result, ctx.runtime.currencies), headers)
