"""The accounts function through functions-framework, PostgREST stubbed."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx
import pytest
import respx

from functions.accounts._models import AccountList, AccountPublic, EntryPage
from functions.core import reset_runtime
from tests.unit.conftest import (
    ACCOUNT_ID,
    ANON_KEY,
    REST,
    SERVICE_KEY,
    USER_ID,
    AppFactory,
    FunctionClient,
    account_row,
    auth,
    entry_row,
    error_of,
    hs256_token,
    money_headers,
)


def test_listing_accounts_returns_the_callers_accounts_with_formatted_amounts(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.get(f"{REST}/accounts").respond(json=[account_row()])
    response = client.get("/accounts", headers=auth())
    assert response.status_code == 200
    body = response.get_json()
    AccountList.model_validate(body)
    account = body["data"][0]
    assert account["balance"] == "1234.56"
    assert account["overdraft_limit"] == "50.00"
    assert account["available_balance"] == "1284.56"
    assert "owner_id" not in account
    assert "version" not in account
    params = route.calls.last.request.url.params
    assert params["owner_id"] == f"eq.{USER_ID}"


def test_the_accounts_function_deploys_alone_and_sees_the_full_path(
    app: AppFactory, upstream: respx.MockRouter
) -> None:
    upstream.get(f"{REST}/accounts").respond(json=[])
    response = app("accounts").get("/accounts", headers=auth())
    assert response.status_code == 200
    assert response.get_json() == {"data": []}


def test_upstream_calls_carry_the_callers_token_and_the_anon_key_never_the_service_key(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    token = hs256_token()
    route = upstream.get(f"{REST}/accounts").respond(json=[account_row()])
    client.get("/accounts", headers=auth(token))
    sent = route.calls.last.request.headers
    assert sent["authorization"] == f"Bearer {token}"
    assert sent["apikey"] == ANON_KEY
    for call in upstream.calls:
        assert SERVICE_KEY not in str(call.request.headers)
        assert SERVICE_KEY not in call.request.content.decode()


def test_opening_an_account_calls_open_account_and_answers_201(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{REST}/rpc/open_account").respond(
        json=account_row(balance=0, overdraft_limit=0, kind="savings")
    )
    response = client.post(
        "/accounts", headers=auth(), json={"currency": "USD", "kind": "savings", "nickname": "x"}
    )
    assert response.status_code == 201
    AccountPublic.model_validate(response.get_json())
    assert response.get_json()["available_balance"] == "0.00"
    assert json.loads(route.calls.last.request.content) == {
        "p_currency": "USD",
        "p_kind": "savings",
        "p_nickname": "x",
    }


def test_opening_an_account_in_an_unknown_currency_is_refused_before_postgrest(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{REST}/rpc/open_account")
    response = client.post(
        "/accounts", headers=auth(), json={"currency": "XXX", "kind": "checking"}
    )
    assert response.status_code == 422
    assert error_of(response)["details"] == [
        {"field": "currency", "message": "unknown currency XXX"}
    ]
    assert not route.called


def test_opening_an_account_of_an_unknown_kind_names_the_field(client: FunctionClient) -> None:
    response = client.post("/accounts", headers=auth(), json={"currency": "USD", "kind": "gold"})
    assert response.status_code == 422
    assert [problem["field"] for problem in error_of(response)["details"]] == ["kind"]


def test_getting_one_account(client: FunctionClient, upstream: respx.MockRouter) -> None:
    upstream.get(f"{REST}/accounts").respond(json=[account_row(currency="JPY", balance=500)])
    response = client.get(f"/accounts/{ACCOUNT_ID}", headers=auth())
    assert response.status_code == 200
    assert response.get_json()["balance"] == "500"


def test_another_users_account_is_not_found(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.get(f"{REST}/accounts").respond(json=[])  # RLS returns nothing
    response = client.get(f"/accounts/{ACCOUNT_ID}", headers=auth())
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_a_malformed_id_is_refused_alike_in_a_path_and_in_a_body(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    in_path = client.get("/accounts/not-a-uuid", headers=auth())
    body = {"from_account_id": "not-a-uuid", "to_account_id": ACCOUNT_ID, "amount": "1.00",
            "currency": "USD"}  # fmt: skip
    in_body = client.post("/transfers", headers=money_headers(), json=body)
    assert in_path.status_code == in_body.status_code == 422
    (path_problem,) = error_of(in_path)["details"]
    (body_problem,) = error_of(in_body)["details"]
    assert path_problem == {"field": "account_id", "message": body_problem["message"]}
    assert body_problem["field"] == "from_account_id"
    assert "UUID" in body_problem["message"]
    assert not upstream.routes["currencies"].called


def test_renaming_an_account_calls_rename_account(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{REST}/rpc/rename_account").respond(json=account_row(nickname="new"))
    response = client.patch(f"/accounts/{ACCOUNT_ID}", headers=auth(), json={"nickname": "new"})
    assert response.status_code == 200
    assert response.get_json()["nickname"] == "new"
    assert json.loads(route.calls.last.request.content) == {
        "p_account_id": ACCOUNT_ID,
        "p_nickname": "new",
    }


def test_renaming_with_an_overlong_nickname_is_refused(client: FunctionClient) -> None:
    response = client.patch(f"/accounts/{ACCOUNT_ID}", headers=auth(), json={"nickname": "n" * 65})
    assert response.status_code == 422
    assert error_of(response)["details"][0]["field"] == "nickname"


def test_transactions_page_newest_first_with_a_next_cursor(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.get(f"{REST}/accounts").respond(json=[{"id": ACCOUNT_ID, "currency": "USD"}])
    entries = upstream.get(f"{REST}/entries").respond(
        json=[entry_row(9), entry_row(8), entry_row(7)]
    )
    response = client.get(f"/accounts/{ACCOUNT_ID}/transactions?limit=2", headers=auth())
    assert response.status_code == 200
    body = response.get_json()
    EntryPage.model_validate(body)
    assert [entry["id"] for entry in body["data"]] == [9, 8]
    assert body["next_cursor"] == "8"
    assert body["data"][0]["amount"] == "-1.00"
    params = entries.calls.last.request.url.params
    assert params["limit"] == "3"
    assert params["order"] == "id.desc"
    assert params["account_id"] == f"eq.{ACCOUNT_ID}"


def test_the_last_page_of_transactions_has_no_next_cursor(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.get(f"{REST}/accounts").respond(json=[{"id": ACCOUNT_ID, "currency": "USD"}])
    entries = upstream.get(f"{REST}/entries").respond(json=[entry_row(1)])
    query = "cursor=2&since=2026-01-01T00:00:00Z&until=2026-02-01T00:00:00%2B00:00"
    response = client.get(f"/accounts/{ACCOUNT_ID}/transactions?{query}", headers=auth())
    assert response.status_code == 200
    assert response.get_json()["next_cursor"] is None
    sent = entries.calls.last.request.url.params
    assert sent["limit"] == "51"
    assert sent["id"] == "lt.2"
    assert sent.get_list("created_at") == [
        "gte.2026-01-01T00:00:00+00:00",
        "lt.2026-02-01T00:00:00+00:00",
    ]


def test_transactions_of_an_invisible_account_are_not_found(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.get(f"{REST}/accounts").respond(json=[])
    entries = upstream.get(f"{REST}/entries")
    response = client.get(f"/accounts/{ACCOUNT_ID}/transactions", headers=auth())
    assert response.status_code == 404
    assert not entries.called


def test_transaction_paging_parameters_are_bounded(client: FunctionClient) -> None:
    for query, field in (
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("cursor=-1", "cursor"),
        ("since=yesterday", "since"),
        ("until=2026-01-01T00:00:00", "until"),
    ):
        response = client.get(f"/accounts/{ACCOUNT_ID}/transactions?{query}", headers=auth())
        assert response.status_code == 422, query
        assert error_of(response)["details"][0]["field"] == field


OPENED = "2025-06-15T10:11:12.123456+00:00"


def statement_account(currency: str) -> dict[str, str]:
    return {"id": ACCOUNT_ID, "account_number": "LB-0001", "currency": currency,
            "created_at": OPENED}  # fmt: skip


def test_a_statement_is_csv_with_opening_entries_and_closing_balance(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.get(f"{REST}/accounts").respond(json=[statement_account("USD")])
    upstream.get(f"{REST}/entries", params={"limit": "1"}).respond(json=[{"balance_after": 5000}])
    month = upstream.get(f"{REST}/entries", params={"order": "id.asc"}).respond(
        json=[
            entry_row(1, amount=1000, balance_after=6000, description="salary"),
            entry_row(2, amount=-250, balance_after=5750, description="=HYPERLINK(1)"),
        ]
    )
    response = client.get(f"/accounts/{ACCOUNT_ID}/statement?month=2026-12", headers=auth())
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="statement-LB-0001-2026-12.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][0] == "row_type"
    assert rows[1] == ["opening_balance", "", "2026-12-01T00:00:00+00:00", "", "", "", "", "50.00"]
    assert rows[2][0] == "entry"
    assert rows[2][6:] == ["10.00", "60.00"]
    assert rows[3][4] == "'=HYPERLINK(1)"
    assert rows[4] == ["closing_balance", "", "2027-01-01T00:00:00+00:00", "", "", "", "", "57.50"]
    assert month.calls.last.request.url.params.get_list("created_at") == [
        "gte.2026-12-01T00:00:00+00:00",
        "lt.2027-01-01T00:00:00+00:00",
    ]


def test_a_statement_of_a_quiet_month_opens_and_closes_at_zero(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.get(f"{REST}/accounts").respond(json=[statement_account("JPY")])
    upstream.get(f"{REST}/entries").respond(json=[])
    response = client.get(f"/accounts/{ACCOUNT_ID}/statement?month=2026-03", headers=auth())
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert [row[0] for row in rows] == ["row_type", "opening_balance", "closing_balance"]
    assert rows[1][7] == rows[2][7] == "0"


def test_a_statement_needs_a_valid_month(client: FunctionClient) -> None:
    for query in ("", "month=2026-13", "month=26-01"):
        response = client.get(f"/accounts/{ACCOUNT_ID}/statement?{query}", headers=auth())
        assert response.status_code == 422
        assert error_of(response)["details"][0]["field"] == "month"


@pytest.mark.parametrize("month", ["0000-01", "9999-12"])
def test_a_statement_month_the_calendar_cannot_bound_is_a_422_not_a_500(
    client: FunctionClient, upstream: respx.MockRouter, month: str
) -> None:
    upstream.get(f"{REST}/accounts").respond(json=[statement_account("USD")])
    upstream.get(f"{REST}/entries").respond(json=[])
    response = client.get(f"/accounts/{ACCOUNT_ID}/statement?month={month}", headers=auth())
    assert response.status_code == 422
    assert error_of(response)["details"][0]["field"] == "month"


def test_a_statement_for_a_month_that_has_not_begun_is_refused(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.get(f"{REST}/accounts").respond(json=[statement_account("USD")])
    upstream.get(f"{REST}/entries").respond(json=[])
    now = datetime.now(UTC)
    following = f"{now.year + now.month // 12:04d}-{now.month % 12 + 1:02d}"
    response = client.get(f"/accounts/{ACCOUNT_ID}/statement?month={following}", headers=auth())
    assert response.status_code == 422
    assert error_of(response)["details"] == [
        {"field": "month", "message": f"must not be after the current month ({now:%Y-%m})"}
    ]


def test_a_statement_for_a_month_before_the_account_was_opened_is_refused(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.get(f"{REST}/accounts").respond(json=[statement_account("USD")])
    entries = upstream.get(f"{REST}/entries").respond(json=[])
    before = client.get(f"/accounts/{ACCOUNT_ID}/statement?month=2025-05", headers=auth())
    assert before.status_code == 422
    assert error_of(before)["details"] == [
        {"field": "month", "message": "must not be before the account was opened (2025-06)"}
    ]
    assert not entries.called
    opening_month = client.get(f"/accounts/{ACCOUNT_ID}/statement?month=2025-06", headers=auth())
    assert opening_month.status_code == 200


@pytest.mark.parametrize(
    ("path", "field", "body"),
    [
        (f"/accounts/{ACCOUNT_ID}/statement?month=26-01", "month", None),
        (f"/accounts/{ACCOUNT_ID}/transactions?cursor=-1", "cursor", None),
        ("/accounts", "currency", {"currency": "usd", "kind": "checking"}),
    ],
)
def test_a_validation_message_states_the_rule_in_words_not_as_a_regular_expression(
    client: FunctionClient, path: str, field: str, body: dict[str, str] | None
) -> None:
    if body is None:
        response = client.get(path, headers=auth())
    else:
        response = client.post(path, headers=auth(), json=body)
    assert response.status_code == 422
    [problem] = error_of(response)["details"]
    assert problem["field"] == field
    assert not set(problem["message"]) & set("^$[]{}\\"), problem["message"]
    assert "pattern" not in problem["message"]


def test_a_statement_with_too_many_entries_is_refused(
    client: FunctionClient, upstream: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATEMENT_MAX_ROWS", "2")
    reset_runtime()
    upstream.get(f"{REST}/accounts").respond(json=[statement_account("USD")])
    upstream.get(f"{REST}/entries", params={"limit": "1"}).respond(json=[])
    upstream.get(f"{REST}/entries", params={"limit": "3"}).respond(
        json=[entry_row(1), entry_row(2), entry_row(3)]
    )
    response = client.get(f"/accounts/{ACCOUNT_ID}/statement?month=2026-01", headers=auth())
    assert response.status_code == 422
    assert error_of(response)["code"] == "limit_exceeded"


def test_a_currency_postgrest_returns_but_the_table_lacks_is_an_internal_error(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.get(f"{REST}/accounts").respond(json=[account_row(currency="ZZZ")])
    response = client.get(f"/accounts/{ACCOUNT_ID}", headers=auth())
    assert response.status_code == 500
    assert error_of(response)["code"] == "internal"


def test_an_admin_lists_only_their_own_accounts(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.get(f"{REST}/accounts").mock(return_value=httpx.Response(200, json=[]))
    client.get("/accounts", headers=auth(hs256_token(app_metadata={"role": "admin"})))
    assert route.calls.last.request.url.params["owner_id"] == f"eq.{USER_ID}"


@pytest.mark.parametrize("field", ["since", "until"])
@pytest.mark.parametrize("value", ["0", "1700000000", "2026-01-01"])
def test_transaction_bounds_are_rfc_3339_date_times_not_unix_times(
    client: FunctionClient, upstream: respx.MockRouter, field: str, value: str
) -> None:
    upstream.get(f"{REST}/accounts").respond(json=[statement_account("USD")])
    entries = upstream.get(f"{REST}/entries").respond(json=[])
    path = f"/accounts/{ACCOUNT_ID}/transactions?{field}={value}"
    response = client.get(path, headers=auth())
    assert response.status_code == 422
    [problem] = error_of(response)["details"]
    assert problem["field"] == field
    assert problem["message"].startswith("must be an RFC 3339 date-time with its offset")
    assert not entries.called


def test_open_holds_lower_the_available_balance_not_the_balance(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.get(f"{REST}/accounts").respond(json=[account_row(held_minor_now=4000)])
    response = client.get(f"/accounts/{ACCOUNT_ID}", headers=auth())
    assert response.status_code == 200
    body = response.get_json()
    assert (body["balance"], body["available_balance"]) == ("1234.56", "1244.56")
    assert "held_minor_now" in route.calls.last.request.url.params["select"]


def test_the_balance_at_a_moment_is_the_last_entry_at_or_before_it(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.get(f"{REST}/accounts").respond(json=[statement_account("USD")])
    entries = upstream.get(f"{REST}/entries").respond(json=[{"id": 42, "balance_after": 9950}])
    at = "2026-01-01T12:00:00Z"
    response = client.get(f"/accounts/{ACCOUNT_ID}/balance?{urlencode({'at': at})}", headers=auth())
    assert response.status_code == 200
    assert response.get_json() == {
        "balance": "99.50", "at": "2026-01-01T12:00:00+00:00", "as_of_entry_id": 42,
    }  # fmt: skip
    params = entries.calls.last.request.url.params
    assert params["created_at"] == "lte.2026-01-01T12:00:00+00:00"
    assert params["order"] == "created_at.desc,account_version.desc"
    assert params["limit"] == "1"


def test_the_balance_before_the_first_entry_is_zero_as_of_no_entry(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.get(f"{REST}/accounts").respond(json=[statement_account("JPY")])
    upstream.get(f"{REST}/entries").respond(json=[])
    response = client.get(
        f"/accounts/{ACCOUNT_ID}/balance?{urlencode({'at': OPENED})}", headers=auth()
    )
    assert response.status_code == 200
    assert (response.get_json()["balance"], response.get_json()["as_of_entry_id"]) == ("0", None)


@pytest.mark.parametrize(
    ("at", "words"),
    [
        ("2026-01-01T00:00:00", "RFC 3339"),
        ("2026-01-01", "RFC 3339"),
        ("2999-01-01T00:00:00Z", "future"),
        ("2025-06-15T10:11:12Z", "before the account was opened"),
    ],
)
def test_a_balance_at_a_moment_that_cannot_have_one_is_refused(
    client: FunctionClient, upstream: respx.MockRouter, at: str, words: str
) -> None:
    upstream.get(f"{REST}/accounts").respond(json=[statement_account("USD")])
    entries = upstream.get(f"{REST}/entries").respond(json=[])
    response = client.get(f"/accounts/{ACCOUNT_ID}/balance?{urlencode({'at': at})}", headers=auth())
    assert response.status_code == 422
    error = error_of(response)
    assert error["details"][0]["field"] == "at"
    assert words in error["details"][0]["message"]
    assert not entries.called
