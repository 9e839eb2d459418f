"""The `accounts` function: a customer's accounts, their entries and monthly statements.

Reads go straight to PostgREST tables with the caller's token, so row-level
security decides what exists: another user's account is simply not found
(404, never 403, so ids leak nothing). Writes go through the `open_account`
and `rename_account` RPCs.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from typing import Any

from functions.core import (
    Context,
    PostgrestError,
    Reply,
    Route,
    ValidationFailed,
    csv_reply,
    format_minor,
    json_reply,
    require_currency,
    route,
    visible_row,
)

from ._models import (
    AccountCreate,
    AccountList,
    AccountPublic,
    AccountUpdate,
    BalanceAtPublic,
    BalanceAtQuery,
    CurrencyList,
    EntryPage,
    StatementQuery,
    TransactionsQuery,
)
from ._public import (
    ACCOUNT_COLUMNS,
    CURRENCY_COLUMNS,
    ENTRY_COLUMNS,
    account_public,
    currency_public,
    entry_public,
)

__all__ = ["ROUTES"]

# A customer has a handful of accounts; the bound keeps one answer small whatever happens.
MAX_ACCOUNTS_LISTED = 200
# ISO 4217 has fewer than 200 codes; the bound keeps the answer small whatever the table holds.
MAX_CURRENCIES_LISTED = 300
_CSV_HEADER = (
    "row_type", "entry_id", "created_at", "transfer_id", "description",
    "counterparty_account_id", "amount", "balance_after",
)  # fmt: skip
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


async def list_accounts(ctx: Context) -> Reply:
    postgrest = ctx.runtime.postgrest
    query = (
        postgrest.table("accounts", token=ctx.caller.token)
        .select(ACCOUNT_COLUMNS)
        # Admins can read every account; this list is the caller's own either way.
        .eq("owner_id", ctx.caller.user_id)
        .order("created_at")
        .order("id")
        .limit(MAX_ACCOUNTS_LISTED)
    )
    rows = await postgrest.rows(query)
    currencies = ctx.runtime.currencies
    await currencies.ensure(*{row["currency"] for row in rows})
    data = [await account_public(row, currencies) for row in rows]
    return json_reply(200, {"data": data})


async def list_currencies(ctx: Context) -> Reply:
    """The currencies the bank holds accounts in, with each one's limits for a customer."""
    postgrest = ctx.runtime.postgrest
    query = (
        postgrest.table("currencies", token=ctx.caller.token)
        .select(CURRENCY_COLUMNS)
        .order("code")
        .limit(MAX_CURRENCIES_LISTED)
    )
    rows = await postgrest.rows(query)
    return json_reply(200, {"data": [currency_public(row) for row in rows]})


async def open_account(ctx: Context) -> Reply:
    request = ctx.body(AccountCreate)
    await require_currency(ctx.runtime.currencies, request.currency)
    args = {"p_currency": request.currency, "p_kind": request.kind, "p_nickname": request.nickname}
    row = await ctx.runtime.postgrest.rpc("open_account", args, token=ctx.caller.token)
    return json_reply(201, await account_public(row, ctx.runtime.currencies))


async def get_account(ctx: Context) -> Reply:
    row = await visible_row(
        ctx, "accounts", ctx.uuid_param("account_id"), ACCOUNT_COLUMNS, noun="account"
    )
    return json_reply(200, await account_public(row, ctx.runtime.currencies))


async def rename_account(ctx: Context) -> Reply:
    account_id = ctx.uuid_param("account_id")
    request = ctx.body(AccountUpdate)
    args = {"p_account_id": account_id, "p_nickname": request.nickname}
    row = await ctx.runtime.postgrest.rpc("rename_account", args, token=ctx.caller.token)
    return json_reply(200, await account_public(row, ctx.runtime.currencies))


async def list_transactions(ctx: Context) -> Reply:
    account_id = ctx.uuid_param("account_id")
    query = ctx.query(TransactionsQuery)
    account = await visible_row(ctx, "accounts", account_id, "id,currency", noun="account")
    exponent = await _exponent(ctx, account["currency"])
    postgrest = ctx.runtime.postgrest
    select = (
        postgrest.table("entries", token=ctx.caller.token)
        .select(ENTRY_COLUMNS)
        .eq("account_id", account_id)
        .order("id", desc=True)
        .limit(query.limit + 1)  # one more than asked says whether a next page exists
    )
    if query.cursor is not None:
        select = select.lt("id", query.cursor)
    if query.since is not None:
        select = select.gte("created_at", query.since.isoformat())
    if query.until is not None:
        select = select.lt("created_at", query.until.isoformat())
    rows = await postgrest.rows(select)
    page = rows[: query.limit]
    next_cursor = str(page[-1]["id"]) if len(rows) > query.limit else None
    data = [entry_public(row, exponent) for row in page]
    return json_reply(200, {"data": data, "next_cursor": next_cursor})


async def balance_at(ctx: Context) -> Reply:
    """The balance at a moment: one backward step of entries (account_id, created_at, version)."""
    account_id = ctx.uuid_param("account_id")
    at = ctx.query(BalanceAtQuery).at
    account = await visible_row(
        ctx, "accounts", account_id, "id,currency,created_at", noun="account"
    )
    exponent = await _exponent(ctx, account["currency"])
    opened = datetime.fromisoformat(str(account["created_at"]))
    if at < opened:
        raise ValidationFailed.field(
            "at", f"must not be before the account was opened ({opened.isoformat()})"
        )
    postgrest = ctx.runtime.postgrest
    query = (
        postgrest.table("entries", token=ctx.caller.token)
        .select("id,balance_after")
        .eq("account_id", account_id)
        .lte("created_at", at.isoformat())
        .order("created_at", desc=True)
        .order("account_version", desc=True)
        .limit(1)
    )
    rows = await postgrest.rows(query)
    balance = int(rows[0]["balance_after"]) if rows else 0
    payload = {
        "balance": format_minor(balance, exponent),
        "at": at.isoformat(),
        "as_of_entry_id": rows[0]["id"] if rows else None,
    }
    return json_reply(200, payload)


async def statement(ctx: Context) -> Reply:
    """CSV for one calendar month (UTC): opening balance, entries oldest first, closing balance."""
    account_id = ctx.uuid_param("account_id")
    month = ctx.query(StatementQuery).month
    account = await visible_row(
        ctx, "accounts", account_id, "id,account_number,currency,created_at", noun="account"
    )
    exponent = await _exponent(ctx, account["currency"])
    start, end = _month_bounds(month)
    opened = datetime.fromisoformat(str(account["created_at"]))
    if end <= opened:
        raise ValidationFailed.field(
            "month", f"must not be before the account was opened ({opened:%Y-%m})"
        )
    opening = await _balance_before(ctx, account_id, start)
    entries = await _entries_between(ctx, account_id, start, end)
    closing = int(entries[-1]["balance_after"]) if entries else opening
    text = _statement_csv(entries, exponent, opening, closing, start, end)
    number = re.sub(r"[^A-Za-z0-9-]", "", str(account["account_number"])) or "account"
    return csv_reply(text, f"statement-{number}-{month}.csv")


async def _exponent(ctx: Context, code: str) -> int:
    await ctx.runtime.currencies.ensure(code)
    return ctx.runtime.currencies.known_exponent(code)


def _month_bounds(month: str) -> tuple[datetime, datetime]:
    year, number = int(month[:4]), int(month[5:])
    start = datetime(year, number, 1, tzinfo=UTC)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
    return start, end


async def _balance_before(ctx: Context, account_id: str, start: datetime) -> int:
    postgrest = ctx.runtime.postgrest
    query = (
        postgrest.table("entries", token=ctx.caller.token)
        .select("balance_after")
        .eq("account_id", account_id)
        .lt("created_at", start.isoformat())
        .order("id", desc=True)
        .limit(1)
    )
    rows = await postgrest.rows(query)
    return int(rows[0]["balance_after"]) if rows else 0


async def _entries_between(
    ctx: Context, account_id: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    limit = ctx.runtime.settings.statement_max_rows
    postgrest = ctx.runtime.postgrest
    query = (
        postgrest.table("entries", token=ctx.caller.token)
        .select(ENTRY_COLUMNS)
        .eq("account_id", account_id)
        .gte("created_at", start.isoformat())
        .lt("created_at", end.isoformat())
        .order("id")
        .limit(limit + 1)
    )
    rows = await postgrest.rows(query)
    if len(rows) > limit:
        raise PostgrestError(
            f"a statement holds at most {limit} entries; page through "
            "/transactions with since and until instead",
            code="limit_exceeded",
        )
    return rows


def _statement_csv(
    entries: list[dict[str, Any]],
    exponent: int,
    opening: int,
    closing: int,
    start: datetime,
    end: datetime,
) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_CSV_HEADER)
    writer.writerow(
        ("opening_balance", "", start.isoformat(), "", "", "", "", format_minor(opening, exponent))
    )
    writer.writerows(_csv_row(entry, exponent) for entry in entries)
    writer.writerow(
        ("closing_balance", "", end.isoformat(), "", "", "", "", format_minor(closing, exponent))
    )
    return out.getvalue()


def _csv_row(entry: dict[str, Any], exponent: int) -> tuple[str, ...]:
    description = entry.get("description") or ""
    if description.startswith(_FORMULA_PREFIXES):
        description = "'" + description  # spreadsheets must not run a description as a formula
    return (
        "entry",
        str(entry["id"]),
        str(entry["created_at"]),
        str(entry["transfer_id"]),
        description,
        str(entry.get("counterparty_account_id") or ""),
        format_minor(int(entry["amount"]), exponent),
        format_minor(int(entry["balance_after"]), exponent),
    )


ROUTES: tuple[Route, ...] = (
    route("GET", "/currencies", list_currencies, response=CurrencyList,
          summary="The currencies accounts can be opened in, with each one's exponent and "
          "per-customer limits (signed-in callers)"),
    route("GET", "/accounts", list_accounts, summary="The caller's accounts",
          response=AccountList),
    route("POST", "/accounts", open_account, summary="Open an account", success=201,
          body=AccountCreate, response=AccountPublic, errors=("rate_limited",)),
    route("GET", "/accounts/{account_id}", get_account, summary="One account",
          response=AccountPublic),
    route("PATCH", "/accounts/{account_id}", rename_account, summary="Rename an account",
          body=AccountUpdate, response=AccountPublic, errors=("account_inactive",)),
    route("GET", "/accounts/{account_id}/transactions", list_transactions,
          summary="Entries, newest first, keyset-paged", query=TransactionsQuery,
          response=EntryPage),
    route("GET", "/accounts/{account_id}/balance", balance_at,
          summary="The balance at a moment (RFC 3339 `at`): the last entry's balance_after "
          "at or before it", query=BalanceAtQuery, response=BalanceAtPublic),
    route("GET", "/accounts/{account_id}/statement", statement,
          summary="Monthly CSV statement (UTC month): opening balance, entries oldest first, "
          "closing balance; at most 10,000 entries (422 limit_exceeded beyond)",
          query=StatementQuery, response="csv", errors=("limit_exceeded",)),
)  # fmt: skip
