"""What a signed-in caller can look up without reading code: the currencies, the loan
products, and (staff) the loans waiting for a decision, page by page."""

from __future__ import annotations

from typing import Any

import httpx
import respx

from functions.accounts._models import CurrencyList
from functions.admin._models import LoanPage, decode_cursor, encode_cursor
from functions.loans._models import LoanProductList
from tests.unit.conftest import (
    CURRENCIES,
    REST,
    AppFactory,
    FunctionClient,
    admin_token,
    auth,
    error_of,
)
from tests.unit.test_loans_http import LOAN_ID, PRODUCT_ID, _table_row

OTHER_LOAN_ID = "77777777-7777-4777-8777-777777777777"


def _currency_row(**overrides: Any) -> dict[str, Any]:
    row = {
        "code": "USD",
        "name": "US Dollar",
        "exponent": 2,
        "max_transfer_minor": 100_000_000,
        "daily_outgoing_limit_minor": 500_000_000,
        "transfers_per_minute": 600,
    }
    return row | overrides


def test_currencies_are_listed_with_their_limits_as_decimal_strings(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    rows = [_currency_row(), _currency_row(code="JPY", name="Yen", exponent=0)]
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        # The same table feeds the functions' exponent cache; answer the listing apart.
        if "max_transfer_minor" not in request.url.params.get("select", ""):
            return httpx.Response(200, json=CURRENCIES)
        calls.append(request)
        return httpx.Response(200, json=rows)

    table = upstream.routes["currencies"]
    table.side_effect = answer
    try:
        response = client.get("/currencies", headers=auth())
    finally:
        table.side_effect = None
    assert response.status_code == 200
    body = response.get_json()
    CurrencyList.model_validate(body)
    assert body["data"][0]["max_transfer"] == "1000000.00"
    assert body["data"][1]["daily_outgoing_limit"] == "500000000"
    assert [request.url.params["order"] for request in calls] == ["code.asc"]
    assert calls[0].headers["authorization"].startswith("Bearer ")


def test_currencies_need_a_signed_in_caller(client: FunctionClient) -> None:
    response = client.get("/currencies")
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"


def test_loan_products_give_their_ranges_in_the_currencys_units(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    product = {
        "id": PRODUCT_ID,
        "name": "Personal loan USD",
        "currency": "USD",
        "min_principal": 10_000,
        "max_principal": 10_000_000,
        "min_term_months": 1,
        "max_term_months": 360,
        "annual_rate_bps": 900,
        "amortization_method": "equal_installments",
        "day_count": "30/360",
        "is_default": True,
    }
    route = upstream.get(f"{REST}/loan_products").respond(json=[product])
    response = client.get("/loans/products", headers=auth())
    assert response.status_code == 200
    body = response.get_json()
    LoanProductList.model_validate(body)
    assert (body["data"][0]["min_principal"], body["data"][0]["max_principal"]) == (
        "100.00",
        "100000.00",
    )
    assert route.calls.last.request.url.params["active"] == "eq.true"


def test_pending_loans_are_paged_oldest_first_for_staff(
    app: AppFactory, upstream: respx.MockRouter
) -> None:
    older = _table_row(created_at="2026-11-23T10:00:00.123456+00:00")
    newer = _table_row(id=OTHER_LOAN_ID, created_at="2026-11-24T10:00:00+00:00")
    route = upstream.get(f"{REST}/loans").respond(json=[older, newer])
    admin = app("admin")
    first = admin.get("/admin/loans?limit=1", headers=auth(admin_token()))
    assert first.status_code == 200
    body = first.get_json()
    LoanPage.model_validate(body)
    assert [loan["id"] for loan in body["data"]] == [LOAN_ID]
    params = route.calls.last.request.url.params
    assert (params["status"], params["order"], params["limit"]) == (
        "eq.pending",
        "created_at.asc,id.asc",
        "2",
    )
    assert decode_cursor(body["next_cursor"]) == (older["created_at"], LOAN_ID)

    route.respond(json=[newer])
    cursor = body["next_cursor"]
    second = admin.get(f"/admin/loans?limit=1&cursor={cursor}", headers=auth(admin_token()))
    assert second.get_json()["next_cursor"] is None
    keyset = route.calls.last.request.url.params["or"]
    assert keyset == (
        '(created_at.gt."2026-11-23T10:00:00.123456+00:00",'
        f'and(created_at.eq."2026-11-23T10:00:00.123456+00:00",id.gt.{LOAN_ID}))'
    )


def test_a_cursor_that_is_not_one_of_ours_is_a_422_naming_it(
    app: AppFactory, upstream: respx.MockRouter
) -> None:
    forged = encode_cursor("2026-11-23T10:00:00+00:00", "not-a-uuid")
    for cursor in (forged, "!!", "bm90IGEgY3Vyc29y"):
        response = app("admin").get(f"/admin/loans?cursor={cursor}", headers=auth(admin_token()))
        assert response.status_code == 422, cursor
        assert error_of(response)["details"][0]["field"] == "cursor"
        assert "next_cursor" in error_of(response)["details"][0]["message"]


def test_the_loan_queue_is_for_staff_only(app: AppFactory, upstream: respx.MockRouter) -> None:
    response = app("admin").get("/admin/loans", headers=auth())
    assert response.status_code == 403


def test_an_unknown_status_is_refused_in_words(app: AppFactory, upstream: respx.MockRouter) -> None:
    response = app("admin").get("/admin/loans?status=lost", headers=auth(admin_token()))
    assert response.status_code == 422
    assert error_of(response)["details"][0]["field"] == "status"


def test_products_is_not_taken_for_a_loan_id(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.get(f"{REST}/loan_products").mock(return_value=httpx.Response(200, json=[]))
    assert client.get("/loans/products", headers=auth()).get_json() == {"data": []}
