"""The `admin` function: bank staff post cash in and out, and freeze or unfreeze accounts.

Every route requires a verified token whose `app_metadata.role` is `admin`
(checked before PostgREST is called; `user_metadata` is the user's own to edit
and never counts). The SQL functions check the same role again, so a staff
call that slipped past this layer would still be refused.
"""

from __future__ import annotations

from functions._core import Context, Reply, Route, json_reply, route
from functions._core._models import AdminCashMovement
from functions._core._money import require_amount
from functions._core._money_calls import transfer_reply
from functions._core._public import account_public

__all__ = ["ROUTES"]


def _cash_movement(ctx: Context, rpc: str) -> Reply:
    key = ctx.idempotency_key()
    request = ctx.body(AdminCashMovement)
    require_amount(ctx.runtime.currencies, request.amount, request.currency)
    args = {
        "p_account_id": str(request.account_id),
        "p_amount": request.amount,
        "p_currency": request.currency,
        "p_reference": request.reference,
        "p_idempotency_key": key,
    }
    return transfer_reply(ctx, ctx.runtime.postgrest.rpc(rpc, args, token=ctx.caller.token))


def deposit(ctx: Context) -> Reply:
    return _cash_movement(ctx, "admin_deposit")


def withdraw(ctx: Context) -> Reply:
    return _cash_movement(ctx, "admin_withdraw")


def _set_frozen(ctx: Context, rpc: str) -> Reply:
    args = {"p_account_id": ctx.uuid_param("account_id")}
    row = ctx.runtime.postgrest.rpc(rpc, args, token=ctx.caller.token)
    return json_reply(200, account_public(row, ctx.runtime.currencies))


def freeze(ctx: Context) -> Reply:
    return _set_frozen(ctx, "admin_freeze_account")


def unfreeze(ctx: Context) -> Reply:
    return _set_frozen(ctx, "admin_unfreeze_account")


ROUTES: tuple[Route, ...] = (
    route("POST", "/admin/deposits", deposit, auth="admin"),
    route("POST", "/admin/withdrawals", withdraw, auth="admin"),
    route("POST", "/admin/accounts/{account_id}/freeze", freeze, auth="admin"),
    route("POST", "/admin/accounts/{account_id}/unfreeze", unfreeze, auth="admin"),
)
