"""The `holds` function: place a hold, read it, list an account's open holds, capture, void.

`POST /holds` needs an `Idempotency-Key` and answers like a transfer (201, a
replay with `Idempotent-Replayed: true`). Capture and void need no key: a hold
closes once, so a repeated capture or void is refused (409 invalid_state)
and never moves money twice. Reads go to the `holds` table with the caller's
token: row-level security shows a sender's holds to its owner and to admins,
and another user's hold is not found.
"""

from __future__ import annotations

from functions.core import Context, Reply, Route, json_reply, require_amount, route, visible_row

from ._models import HoldCapture, HoldCreate, HoldList, HoldPublic, HoldsQuery
from ._public import HOLD_COLUMNS, hold_public, hold_reply

__all__ = ["ROUTES"]

# An account's open holds are bounded by its funds and the rate limit; the
# bound keeps one answer small whatever happens.
MAX_HOLDS_LISTED = 200


async def place_hold(ctx: Context) -> Reply:
    key = ctx.idempotency_key()
    request = ctx.body(HoldCreate)
    await require_amount(ctx.runtime.currencies, request.amount, request.currency)
    args = {
        "p_from_account_id": str(request.from_account_id),
        "p_to_account_id": str(request.to_account_id),
        "p_amount": request.amount,
        "p_currency": request.currency,
        "p_idempotency_key": key,
        "p_description": request.description,
        "p_expires_in_seconds": request.expires_in_seconds,
    }
    result = await ctx.runtime.postgrest.rpc("place_hold", args, token=ctx.caller.token)
    return await hold_reply(ctx, 201, result)


async def get_hold(ctx: Context) -> Reply:
    row = await visible_row(ctx, "holds", ctx.uuid_param("hold_id"), HOLD_COLUMNS, noun="hold")
    return json_reply(200, await hold_public(row, ctx.runtime.currencies))


async def list_open_holds(ctx: Context) -> Reply:
    account_id = str(ctx.query(HoldsQuery).account_id)
    postgrest = ctx.runtime.postgrest
    query = (
        postgrest.table("holds", token=ctx.caller.token)
        .select(HOLD_COLUMNS)
        .eq("from_account_id", account_id)
        .eq("status", "pending")
        .eq("hold_status", "pending")  # not yet past its time
        .order("created_at")
        .order("id")
        .limit(MAX_HOLDS_LISTED)
    )
    rows = await postgrest.rows(query)
    currencies = ctx.runtime.currencies
    return json_reply(200, {"data": [await hold_public(row, currencies) for row in rows]})


async def capture_hold(ctx: Context) -> Reply:
    hold_id = ctx.uuid_param("hold_id")
    # No body (or `{}`) captures the whole hold.
    request = ctx.body(HoldCapture) if ctx.raw_body.strip() else HoldCapture()
    args = {"p_hold_id": hold_id, "p_amount": request.amount}
    result = await ctx.runtime.postgrest.rpc("capture_hold", args, token=ctx.caller.token)
    return await hold_reply(ctx, 200, result)


async def void_hold(ctx: Context) -> Reply:
    hold_id = ctx.uuid_param("hold_id")
    args = {"p_hold_id": hold_id}
    result = await ctx.runtime.postgrest.rpc("void_hold", args, token=ctx.caller.token)
    return await hold_reply(ctx, 200, result)


ROUTES: tuple[Route, ...] = (
    route("POST", "/holds", place_hold, summary="Reserve money on an account until it is "
          "captured, voided or expires", success=201, body=HoldCreate, response=HoldPublic,
          idempotent=True,
          errors=("not_found", "account_inactive", "insufficient_funds", "currency_mismatch",
                  "same_account", "limit_exceeded", "rate_limited")),
    route("GET", "/holds", list_open_holds, summary="An account's open holds, oldest first",
          query=HoldsQuery, response=HoldList),
    route("GET", "/holds/{hold_id}", get_hold, summary="A hold on one of the caller's accounts",
          response=HoldPublic),
    route("POST", "/holds/{hold_id}/capture", capture_hold,
          summary="Post a transfer of at most the held amount; the rest is released",
          body=HoldCapture, response=HoldPublic,
          errors=("not_found", "invalid_state", "account_inactive")),
    route("POST", "/holds/{hold_id}/void", void_hold, summary="Release the whole hold",
          response=HoldPublic, errors=("not_found", "invalid_state")),
)  # fmt: skip
