"""The `transfers` function: move money between two accounts, and read a transfer back.

`POST /transfers` needs an `Idempotency-Key`; the `transfer_funds` RPC enforces
every rule (ownership, status, currency, funds, limits) and stores the outcome
under the key, so a retry returns the first answer and never moves money twice.
"""

from __future__ import annotations

from functions.core import Context, Reply, Route, json_reply, require_amount, route, visible_row

from ._models import TransferCreate, TransferPublic
from ._public import TRANSFER_COLUMNS, transfer_public, transfer_reply

__all__ = ["ROUTES"]


async def create_transfer(ctx: Context) -> Reply:
    key = ctx.idempotency_key()
    request = ctx.body(TransferCreate)
    await require_amount(ctx.runtime.currencies, request.amount, request.currency)
    args = {
        "p_from_account_id": str(request.from_account_id),
        "p_to_account_id": str(request.to_account_id),
        "p_amount": request.amount,  # the exact decimal string; PostgREST casts it to numeric
        "p_currency": request.currency,
        "p_idempotency_key": key,
        "p_description": request.description,
    }
    result = await ctx.runtime.postgrest.rpc("transfer_funds", args, token=ctx.caller.token)
    return await transfer_reply(ctx, result)


async def get_transfer(ctx: Context) -> Reply:
    transfer_id = ctx.uuid_param("transfer_id")
    transfer = await visible_row(ctx, "transfers", transfer_id, TRANSFER_COLUMNS, noun="transfer")
    return json_reply(200, await transfer_public(transfer, ctx.runtime.currencies))


ROUTES: tuple[Route, ...] = (
    route("POST", "/transfers", create_transfer, summary="Move money between two accounts",
          success=201, body=TransferCreate, response=TransferPublic, idempotent=True,
          errors=("not_found", "account_inactive", "insufficient_funds", "currency_mismatch",
                  "same_account", "limit_exceeded", "rate_limited")),
    route("GET", "/transfers/{transfer_id}", get_transfer,
          summary="A transfer the caller is a party to", response=TransferPublic),
)  # fmt: skip
