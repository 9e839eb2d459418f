"""The `admin` function: staff post cash, freeze accounts, and decide and write off loans.

Every route requires a verified token whose `app_metadata.role` is `admin`
(checked before PostgREST is called; `user_metadata` is the user's own to edit
and never counts). The SQL functions check the same role again, so a staff
call that slipped past this layer would still be refused.
"""

from __future__ import annotations

from functions.accounts import AccountPublic, account_public
from functions.core import (
    Context,
    Reply,
    Route,
    ValidationFailed,
    json_reply,
    require_amount,
    route,
)
from functions.loans import LOAN_SELECT, LoanDecision, LoanPublic, loan_public
from functions.transfers import (
    RefundCreate,
    ReversalPublic,
    TransferPublic,
    reversal_reply,
    transfer_reply,
)

from ._models import (
    AdminCashMovement,
    AdminLoansQuery,
    LedgerVerification,
    LoanPage,
    PaymentEventPage,
    PaymentEventsQuery,
    decode_cursor,
    encode_cursor,
)

__all__ = ["ROUTES"]


async def _cash_movement(ctx: Context, rpc: str) -> Reply:
    key = ctx.idempotency_key()
    request = ctx.body(AdminCashMovement)
    await require_amount(ctx.runtime.currencies, request.amount, request.currency)
    args = {
        "p_account_id": str(request.account_id),
        "p_amount": request.amount,
        "p_currency": request.currency,
        "p_reference": request.reference,
        "p_idempotency_key": key,
    }
    result = await ctx.runtime.postgrest.rpc(rpc, args, token=ctx.caller.token)
    return await transfer_reply(ctx, result)


async def deposit(ctx: Context) -> Reply:
    return await _cash_movement(ctx, "admin_deposit")


async def withdraw(ctx: Context) -> Reply:
    return await _cash_movement(ctx, "admin_withdraw")


async def reverse_transfer(ctx: Context) -> Reply:
    """Staff reverse all (`{}`: no amount) or part of any posted transfer."""
    key = ctx.idempotency_key()
    transfer_id = ctx.uuid_param("transfer_id")
    request = ctx.body(RefundCreate)  # `{}` refunds all that is left
    args = {
        "p_transfer_id": transfer_id,
        "p_amount": request.amount,
        "p_reason": request.reason,
        "p_idempotency_key": key,
    }
    result = await ctx.runtime.postgrest.rpc("admin_reverse_transfer", args, token=ctx.caller.token)
    return await reversal_reply(ctx, result)


async def _set_frozen(ctx: Context, rpc: str) -> Reply:
    args = {"p_account_id": ctx.uuid_param("account_id")}
    row = await ctx.runtime.postgrest.rpc(rpc, args, token=ctx.caller.token)
    return json_reply(200, await account_public(row, ctx.runtime.currencies))


async def freeze(ctx: Context) -> Reply:
    return await _set_frozen(ctx, "admin_freeze_account")


async def unfreeze(ctx: Context) -> Reply:
    return await _set_frozen(ctx, "admin_unfreeze_account")


async def _decide_loan(ctx: Context, rpc: str, *, with_reason: bool) -> Reply:
    args: dict[str, str | None] = {"p_loan_id": ctx.uuid_param("loan_id")}
    if with_reason:
        args["p_reason"] = _optional_reason(ctx)
    loan = await ctx.runtime.postgrest.rpc(rpc, args, token=ctx.caller.token)
    return json_reply(200, await loan_public(loan, ctx.runtime.currencies))


def _optional_reason(ctx: Context) -> str | None:
    """The body `{"reason": ...}` is optional: no body at all means no reason."""
    if not ctx.raw_body:
        return None
    return ctx.body(LoanDecision).reason


async def list_loans(ctx: Context) -> Reply:
    """Loans in one status, oldest first, keyset-paged on (created_at, id)."""
    query = ctx.query(AdminLoansQuery)
    postgrest = ctx.runtime.postgrest
    select = (
        postgrest.table("loans", token=ctx.caller.token)
        .select(LOAN_SELECT)
        .eq("status", query.status)
        .order("created_at")
        .order("id")
        .limit(query.limit + 1)  # one more than asked says whether a next page exists
    )
    if query.cursor is not None:
        after = decode_cursor(query.cursor)
        if after is None:
            raise ValidationFailed.field("cursor", "must be the next_cursor of an earlier page")
        created_at, loan_id = after
        select = select.or_(
            f'created_at.gt."{created_at}",and(created_at.eq."{created_at}",id.gt.{loan_id})'
        )
    rows = await postgrest.rows(select)
    page = rows[: query.limit]
    last = page[-1] if len(rows) > query.limit else None
    next_cursor = encode_cursor(str(last["created_at"]), str(last["id"])) if last else None
    currencies = ctx.runtime.currencies
    data = [await loan_public(row, currencies) for row in page]
    return json_reply(200, {"data": data, "next_cursor": next_cursor})


async def approve_loan(ctx: Context) -> Reply:
    """Approval disburses the principal into the borrower's account, exactly once."""
    return await _decide_loan(ctx, "admin_loan_approve", with_reason=False)


async def reject_loan(ctx: Context) -> Reply:
    return await _decide_loan(ctx, "admin_loan_reject", with_reason=True)


async def write_off_loan(ctx: Context) -> Reply:
    return await _decide_loan(ctx, "admin_loan_write_off", with_reason=True)


# verify_ledger answers every break; a ledger edited wholesale could have millions.
_MAX_BREAKS = 1_000
_PAYMENT_EVENT_COLUMNS = (
    "id,event_id,event_type,livemode,status,reason,payment_intent_id,account_id,amount_minor,"
    "currency,transfer_id,received_at"
)


async def verify_ledger(ctx: Context) -> Reply:
    """Recompute every account's hash chain (verify_ledger(), as the caller) and list breaks."""
    rows = await ctx.runtime.postgrest.rpc_rows(
        "verify_ledger", {}, token=ctx.caller.token, limit=_MAX_BREAKS + 1
    )
    breaks = rows[:_MAX_BREAKS]
    return json_reply(200, {
        "ok": not rows, "breaks": breaks, "truncated": len(rows) > _MAX_BREAKS,
    })  # fmt: skip


async def list_payment_events(ctx: Context) -> Reply:
    """Payment events in one status, oldest first, keyset-paged on their id."""
    query = ctx.query(PaymentEventsQuery)
    postgrest = ctx.runtime.postgrest
    select = (
        postgrest.table("payment_events", token=ctx.caller.token)
        .select(_PAYMENT_EVENT_COLUMNS)
        .eq("status", query.status)
        .order("id")
        .limit(query.limit + 1)  # one more than asked says whether a next page exists
    )
    if query.cursor is not None:
        select = select.gt("id", query.cursor)
    rows = await postgrest.rows(select)
    page = rows[: query.limit]
    next_cursor = str(page[-1]["id"]) if len(rows) > query.limit else None
    return json_reply(200, {"data": page, "next_cursor": next_cursor})


_CASH_ERRORS = (
    "not_found",
    "account_inactive",
    "insufficient_funds",
    "currency_mismatch",
    "rate_limited",
)

ROUTES: tuple[Route, ...] = (
    route("POST", "/admin/deposits", deposit, auth="admin", summary="Cash in (staff)",
          success=201, body=AdminCashMovement, response=TransferPublic, idempotent=True,
          errors=_CASH_ERRORS),
    route("POST", "/admin/withdrawals", withdraw, auth="admin", summary="Cash out (staff)",
          success=201, body=AdminCashMovement, response=TransferPublic, idempotent=True,
          errors=_CASH_ERRORS),
    route("POST", "/admin/transfers/{transfer_id}/reversals", reverse_transfer, auth="admin",
          summary="Reverse all or part of any posted transfer but a loan's or a reversal (staff)",
          success=201, body=RefundCreate, response=ReversalPublic, idempotent=True,
          errors=("not_found", "account_inactive", "insufficient_funds", "limit_exceeded",
                  "invalid_state")),
    route("POST", "/admin/accounts/{account_id}/freeze", freeze, auth="admin",
          summary="Freeze an account (staff)", response=AccountPublic,
          errors=("invalid_state",)),
    route("POST", "/admin/accounts/{account_id}/unfreeze", unfreeze, auth="admin",
          summary="Unfreeze an account (staff)", response=AccountPublic,
          errors=("invalid_state",)),
    route("GET", "/admin/loans", list_loans, auth="admin", query=AdminLoansQuery,
          response=LoanPage,
          summary="Loans in one status (default pending: the applications to decide on), "
          "oldest first, keyset-paged (staff)"),
    route("POST", "/admin/loans/{loan_id}/approve", approve_loan, auth="admin",
          summary="Approve a pending loan and disburse its principal (staff; exactly once)",
          response=LoanPublic, errors=("invalid_state", "validation_failed")),
    route("POST", "/admin/loans/{loan_id}/reject", reject_loan, auth="admin",
          summary="Reject a pending loan, with an optional reason (staff)",
          body=LoanDecision, response=LoanPublic, errors=("invalid_state",)),
    route("POST", "/admin/loans/{loan_id}/write-off", write_off_loan, auth="admin",
          summary="Write off an active or overdue loan's principal as a loss (staff)",
          body=LoanDecision, response=LoanPublic, errors=("invalid_state",)),
    route("GET", "/admin/ledger/verify", verify_ledger, auth="admin",
          response=LedgerVerification,
          summary="Recompute every account's entry hash chain and list each break (staff)"),
    route("GET", "/admin/payments/events", list_payment_events, auth="admin",
          query=PaymentEventsQuery, response=PaymentEventPage,
          summary="Payment webhook events in one status (default unapplied: those staff must "
          "resolve), oldest first, keyset-paged (staff)"),
)  # fmt: skip
