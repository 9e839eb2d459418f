"""The `transfers` function: move money between accounts, refund it, and read a transfer back.

`POST /transfers` needs an `Idempotency-Key`; the `transfer_funds` RPC enforces
every rule (ownership, status, currency, funds, limits) and stores the outcome
under the key, so a retry returns the first answer and never moves money twice.
`POST /transfers/batch` does the same for up to 100 transfers posted all or none
(`transfer_funds_batch`), and `POST /transfers/{id}/refunds` sends back what the
caller received (`refund_transfer`), under the same key rules.
"""

from __future__ import annotations

import json
from typing import Any

from functions.core import (
    Context,
    PostgrestError,
    Reply,
    Route,
    ValidationFailed,
    format_minor,
    json_reply,
    require_amount,
    route,
    visible_row,
)

from ._models import (
    RefundCreate,
    ReversalPublic,
    TransferBatchCreate,
    TransferBatchPublic,
    TransferCreate,
    TransferDetail,
    TransferPublic,
)
from ._public import (
    TRANSFER_COLUMNS,
    reversal_reply,
    transfer_public,
    transfer_reply,
)

__all__ = ["ROUTES"]

# A transfer with its reversals and, for a reversal, the transfer it reverses
# (PostgREST embeds both through transfer_reversals' two foreign keys).
_DETAIL_SELECT = (
    f"{TRANSFER_COLUMNS},"
    "reversals:transfer_reversals!transfer_reversals_original_transfer_id_fkey"
    "(reversal_transfer_id,amount),"
    "reverses:transfer_reversals!transfer_reversals_reversal_transfer_id_fkey(original_transfer_id)"
)

_MONEY_ERRORS = ("not_found", "account_inactive", "insufficient_funds", "currency_mismatch",
                 "same_account", "limit_exceeded", "rate_limited")  # fmt: skip


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


async def create_batch(ctx: Context) -> Reply:
    key = ctx.idempotency_key()
    request = ctx.body(TransferBatchCreate)
    for index, item in enumerate(request.transfers):
        try:
            await require_amount(ctx.runtime.currencies, item.amount, item.currency)
        except ValidationFailed as error:
            problems = [{**p, "field": f"transfers.{index}.{p['field']}"} for p in error.details]
            raise ValidationFailed(problems) from None
    args = {
        "p_transfers": [item.model_dump(mode="json") for item in request.transfers],
        "p_idempotency_key": key,
    }
    try:
        result = await ctx.runtime.postgrest.rpc(
            "transfer_funds_batch", args, token=ctx.caller.token
        )
    except PostgrestError as error:
        _name_the_item(error)
        raise
    currencies = ctx.runtime.currencies
    body = {
        "id": result["id"],
        "created_at": result["created_at"],
        "transfers": [await transfer_public(row, currencies) for row in result["transfers"]],
    }
    headers = {"Idempotent-Replayed": "true"} if result.get("replayed") is True else {}
    return json_reply(201, body, headers)


def _name_the_item(error: PostgrestError) -> None:
    """An item's refusal: details {"index", "code", "details"} (the SQL sends index and
    details as JSON text; the code is the error's own, in the API's words)."""
    if not isinstance(error.details, str) or not error.details.startswith("{"):
        return
    try:
        item: Any = json.loads(error.details)
    except ValueError:
        return
    if isinstance(item, dict) and "index" in item:
        error.details = {"index": item["index"], "code": error.code, "details": item.get("details")}


async def refund(ctx: Context) -> Reply:
    key = ctx.idempotency_key()
    transfer_id = ctx.uuid_param("transfer_id")
    request = ctx.body(RefundCreate)  # `{}` refunds all that is left
    args = {
        "p_transfer_id": transfer_id,
        "p_amount": request.amount,
        "p_reason": request.reason,
        "p_idempotency_key": key,
    }
    result = await ctx.runtime.postgrest.rpc("refund_transfer", args, token=ctx.caller.token)
    return await reversal_reply(ctx, result)


async def get_transfer(ctx: Context) -> Reply:
    transfer_id = ctx.uuid_param("transfer_id")
    row = await visible_row(ctx, "transfers", transfer_id, _DETAIL_SELECT, noun="transfer")
    currencies = ctx.runtime.currencies
    body = await transfer_public(row, currencies)
    reversals = row.get("reversals") or []
    reverses = row.get("reverses")
    if isinstance(reverses, list):
        reverses = reverses[0] if reverses else None
    exponent = currencies.known_exponent(row["currency"])
    body["original_transfer_id"] = reverses["original_transfer_id"] if reverses else None
    body["reversed_amount"] = format_minor(sum(int(r["amount"]) for r in reversals), exponent)
    body["reversal_ids"] = [r["reversal_transfer_id"] for r in reversals]
    return json_reply(200, body)


ROUTES: tuple[Route, ...] = (
    route("POST", "/transfers", create_transfer, summary="Move money between two accounts",
          success=201, body=TransferCreate, response=TransferPublic, idempotent=True,
          errors=_MONEY_ERRORS),
    route("POST", "/transfers/batch", create_batch,
          summary="Post up to 100 transfers all or none; a refusal names the item's index "
          "(details: {index, code, details})",
          success=201, body=TransferBatchCreate, response=TransferBatchPublic, idempotent=True,
          errors=(*_MONEY_ERRORS, "validation_failed")),
    route("POST", "/transfers/{transfer_id}/refunds", refund,
          summary="Send back all or part of a transfer the caller received",
          success=201, body=RefundCreate, response=ReversalPublic, idempotent=True,
          errors=("not_found", "account_inactive", "insufficient_funds", "limit_exceeded",
                  "invalid_state", "rate_limited")),
    route("GET", "/transfers/{transfer_id}", get_transfer,
          summary="A transfer the caller is a party to, with its reversals",
          response=TransferDetail),
)  # fmt: skip
