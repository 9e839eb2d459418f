"""The `loans` function: a customer applies for a loan, reads it, repays it, withdraws it.

Every rule lives in the loan RPCs (docs/sql-contract.md, Loans): product
ranges, ownership, the lifecycle, the allocation of a repayment and its
idempotency. This layer checks the shape of each request for a friendly
per-field answer, calls PostgREST with the caller's own token and formats the
minor units it gets back. Reads go to the `loans` table with its installments
embedded, so row-level security decides what exists: another customer's loan
is simply not found.
"""

from __future__ import annotations

from functions.core import (
    Context,
    Reply,
    Route,
    json_reply,
    require_currency,
    route,
    to_minor,
    visible_row,
)

from ._models import (
    LoanCreate,
    LoanList,
    LoanPayoffQuery,
    LoanProductList,
    LoanPublic,
    PayoffPublic,
    RepaymentCreate,
    RepaymentPublic,
)
from ._public import (
    LOAN_PRODUCT_COLUMNS,
    LOAN_SELECT,
    loan_product_public,
    loan_public,
    payoff_public,
    repayment_public,
)

__all__ = ["ROUTES"]

# A customer has a handful of loans; the bound keeps one answer small whatever happens.
MAX_LOANS_LISTED = 100
# A product per currency and a few more; the bound keeps one answer small whatever happens.
MAX_PRODUCTS_LISTED = 200


async def apply(ctx: Context) -> Reply:
    request = ctx.body(LoanCreate)
    exponent = await require_currency(ctx.runtime.currencies, request.currency)
    to_minor(request.principal, exponent, field="principal", currency=request.currency)
    args = {
        "p_account_id": str(request.account_id),
        "p_principal": request.principal,  # the exact decimal string; PostgREST casts it
        "p_currency": request.currency,
        "p_term_months": request.term_months,
        "p_product_id": None if request.product_id is None else str(request.product_id),
        "p_purpose": request.purpose,
    }
    loan = await ctx.runtime.postgrest.rpc("loan_apply", args, token=ctx.caller.token)
    return json_reply(201, await loan_public(loan, ctx.runtime.currencies))


async def list_loans(ctx: Context) -> Reply:
    postgrest = ctx.runtime.postgrest
    query = (
        postgrest.table("loans", token=ctx.caller.token)
        .select(LOAN_SELECT)
        # Admins can read every loan; this list is the caller's own either way.
        .eq("borrower_id", ctx.caller.user_id)
        .order("created_at", desc=True)
        .order("id", desc=True)
        .limit(MAX_LOANS_LISTED)
    )
    rows = await postgrest.rows(query)
    currencies = ctx.runtime.currencies
    return json_reply(200, {"data": [await loan_public(row, currencies) for row in rows]})


async def list_products(ctx: Context) -> Reply:
    """The products an application may name: principal range, terms and rate per currency."""
    postgrest = ctx.runtime.postgrest
    query = (
        postgrest.table("loan_products", token=ctx.caller.token)
        .select(LOAN_PRODUCT_COLUMNS)
        .eq("active", "true")
        .order("currency")
        .order("name")
        .limit(MAX_PRODUCTS_LISTED)
    )
    rows = await postgrest.rows(query)
    currencies = ctx.runtime.currencies
    await currencies.ensure(*{row["currency"] for row in rows})
    return json_reply(200, {"data": [await loan_product_public(row, currencies) for row in rows]})


async def get_loan(ctx: Context) -> Reply:
    loan = await visible_row(ctx, "loans", ctx.uuid_param("loan_id"), LOAN_SELECT, noun="loan")
    return json_reply(200, await loan_public(loan, ctx.runtime.currencies))


async def repay(ctx: Context) -> Reply:
    loan_id = ctx.uuid_param("loan_id")
    key = ctx.idempotency_key()
    request = ctx.body(RepaymentCreate)
    args = {
        "p_loan_id": loan_id,
        "p_amount": request.amount,
        "p_from_account_id": str(request.from_account_id),
        "p_idempotency_key": key,
    }
    result = await ctx.runtime.postgrest.rpc("loan_repay", args, token=ctx.caller.token)
    headers = {"Idempotent-Replayed": "true"} if result.get("replayed") is True else {}
    return json_reply(201, await repayment_public(result, ctx.runtime.currencies), headers)


async def withdraw(ctx: Context) -> Reply:
    args = {"p_loan_id": ctx.uuid_param("loan_id")}
    loan = await ctx.runtime.postgrest.rpc("loan_withdraw", args, token=ctx.caller.token)
    return json_reply(200, await loan_public(loan, ctx.runtime.currencies))


async def payoff(ctx: Context) -> Reply:
    loan_id = ctx.uuid_param("loan_id")
    query = ctx.query(LoanPayoffQuery)
    args: dict[str, str] = {"p_loan_id": loan_id}
    if query.date is not None:
        args["p_date"] = query.date.isoformat()
    result = await ctx.runtime.postgrest.rpc("loan_payoff_quote", args, token=ctx.caller.token)
    return json_reply(200, await payoff_public(result, ctx.runtime.currencies))


ROUTES: tuple[Route, ...] = (
    route("POST", "/loans", apply, success=201, body=LoanCreate, response=LoanPublic,
          summary="Apply for a loan (pending, with the schedule it would have); without "
          "product_id, the currency's default product; at most 5 pending and 20 a day per "
          "borrower",
          errors=("not_found", "account_inactive", "invalid_state", "limit_exceeded",
                  "rate_limited")),
    route("GET", "/loans", list_loans, response=LoanList,
          summary="The caller's loans, newest first, each with its schedule"),
    # Before /loans/{loan_id}: Starlette tries routes in order, and "products" is no id.
    route("GET", "/loans/products", list_products, response=LoanProductList,
          summary="The active loan products: currency, principal range, terms, rate "
          "(signed-in callers)"),
    route("GET", "/loans/{loan_id}", get_loan, summary="One loan with its schedule",
          response=LoanPublic),
    route("POST", "/loans/{loan_id}/repayments", repay, success=201, body=RepaymentCreate,
          response=RepaymentPublic, idempotent=True,
          summary="Repay: past-due interest, past-due principal, the current installment, "
          "then prepayment of principal from the last installment (the term shortens); more "
          "than the payoff amount is refused (422 amount_exceeds_payoff); shares the "
          "per-user money-movement rate limit with transfers (429)",
          errors=("account_inactive", "invalid_state", "insufficient_funds",
                  "amount_exceeds_payoff", "rate_limited")),
    route("POST", "/loans/{loan_id}/withdraw", withdraw, response=LoanPublic,
          summary="Withdraw a pending application (409 invalid_state otherwise)",
          errors=("invalid_state",)),
    route("GET", "/loans/{loan_id}/payoff", payoff, query=LoanPayoffQuery,
          response=PayoffPublic,
          summary="What pays the loan off on a date: principal owed, interest due by then "
          "and the running month's interest accrued 30E/360",
          errors=("invalid_state",)),
)  # fmt: skip
