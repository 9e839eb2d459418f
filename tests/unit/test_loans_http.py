"""The loans function and the admin loan paths, with PostgREST stubbed by respx.

What this layer owns: request shapes and bounds, which RPC or table it calls
with which arguments and whose token, how minor units come back as decimal
strings, and how the loan SQLSTATEs (BK011 invalid_state, BK012
amount_exceeds_payoff, ...) become the error envelope. The rules themselves are
the database's and are tested against the real stack.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import respx

from functions import admin, loans, openapi
from functions.loans import _models as _loan_models
from functions.loans._models import LoanList, LoanPublic, PayoffPublic, RepaymentPublic
from tests.unit.conftest import (
    ACCOUNT_ID,
    ANON_KEY,
    REST,
    SERVICE_KEY,
    TRANSFER_ID,
    USER_ID,
    AppFactory,
    FunctionClient,
    admin_token,
    auth,
    error_of,
    hs256_token,
    money_headers,
    transfer_row,
)

LOAN_ID = "55555555-5555-4555-8555-555555555555"
PRODUCT_ID = "66666666-6666-4666-8666-666666666666"


def installment(number: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "number": number,
        "due_date": f"2027-0{number}-15",
        "principal": 40_000,
        "interest": 1_200,
        "principal_paid": 0,
        "interest_paid": 0,
        "status": "pending",
    }
    row.update(overrides)
    return row


def loan_row(**overrides: Any) -> dict[str, Any]:
    """A loan as the RPCs return it (minor units, with bookkeeping the API hides)."""
    row: dict[str, Any] = {
        "id": LOAN_ID,
        "account_id": ACCOUNT_ID,
        "product_id": PRODUCT_ID,
        "principal": 120_000,
        "currency": "USD",
        "term_months": 3,
        "annual_rate_bps": 1200,
        "amortization_method": "equal_installments",
        "day_count": "30/360",
        "purpose": "a bicycle",
        "status": "pending",
        "outstanding_principal": 0,
        "disbursed_on": None,
        "disbursement_transfer_id": None,
        "write_off_transfer_id": None,
        "decision_reason": None,
        "created_at": "2026-11-23T10:00:00+00:00",
        "schedule": [installment(3), installment(1), installment(2)],
    }
    row.update(overrides)
    return row


def apply_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "account_id": ACCOUNT_ID,
        "principal": "1200.00",
        "currency": "USD",
        "term_months": 3,
    }
    body.update(overrides)
    return body


def refusal(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details, "hint": None}


# Apply ---------------------------------------------------------------------------
def test_applying_answers_201_with_the_loan_and_its_schedule_in_major_units(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{REST}/rpc/loan_apply").respond(json=loan_row())
    response = client.post("/loans", headers=auth(), json=apply_body(purpose="a bicycle"))
    assert response.status_code == 201
    body = response.get_json()
    LoanPublic.model_validate(body)
    assert body["principal"] == "1200.00"
    assert body["outstanding_principal"] == "0.00"
    assert [row["number"] for row in body["schedule"]] == [1, 2, 3]
    assert body["schedule"][0] == {
        "number": 1, "due_date": "2027-01-15", "principal": "400.00", "interest": "12.00",
        "total": "412.00", "paid": "0.00", "status": "pending",
    }  # fmt: skip
    assert "purpose" not in body
    assert "day_count" not in body
    assert json.loads(route.calls.last.request.content) == {
        "p_account_id": ACCOUNT_ID,
        "p_principal": "1200.00",
        "p_currency": "USD",
        "p_term_months": 3,
        "p_product_id": None,
        "p_purpose": "a bicycle",
    }


def test_the_loan_rpc_is_called_with_the_callers_token_and_the_anon_key_only(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{REST}/rpc/loan_apply").respond(json=loan_row())
    token = hs256_token()
    client.post("/loans", headers=auth(token), json=apply_body(product_id=PRODUCT_ID))
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {token}"
    assert sent.headers["apikey"] == ANON_KEY
    assert SERVICE_KEY not in str(sent.headers)
    assert json.loads(sent.content)["p_product_id"] == PRODUCT_ID


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"principal": "1.001"}, "principal"),
        ({"principal": "0"}, "principal"),
        ({"principal": 1200}, "principal"),
        ({"principal": "1e3"}, "principal"),
        ({"principal": "12.5", "currency": "JPY"}, "principal"),
        ({"currency": "XXX"}, "currency"),
        ({"term_months": 0}, "term_months"),
        ({"term_months": 481}, "term_months"),
        ({"term_months": "12"}, "term_months"),
        ({"purpose": "x" * 501}, "purpose"),
        ({"product_id": "not-a-uuid"}, "product_id"),
        ({"interest_free": True}, "interest_free"),
    ],
)
def test_an_invalid_application_is_refused_before_postgrest_naming_the_field(
    client: FunctionClient, upstream: respx.MockRouter, overrides: dict[str, Any], field: str
) -> None:
    response = client.post("/loans", headers=auth(), json=apply_body(**overrides))
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "validation_failed"
    assert [problem["field"] for problem in error["details"]] == [field]
    assert all("/rpc/" not in str(call.request.url) for call in upstream.calls)


def test_three_decimals_are_fine_for_kwd(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.post(f"{REST}/rpc/loan_apply").respond(
        json=loan_row(currency="KWD", principal=1_000_500, schedule=[installment(1)])
    )
    response = client.post(
        "/loans", headers=auth(), json=apply_body(principal="1000.500", currency="KWD")
    )
    assert response.status_code == 201
    assert response.get_json()["principal"] == "1000.500"
    assert response.get_json()["schedule"][0]["interest"] == "1.200"


@pytest.mark.parametrize(
    ("upstream_status", "body", "status", "code"),
    [
        (400, refusal("BK009", "principal (0.99 USD) is outside loan product range",
                      "principal"), 422, "validation_failed"),
        (404, refusal("BK005", f"account (id={ACCOUNT_ID}) not found"), 404, "not_found"),
        (400, refusal("BK002", "account is in EUR, the loan in USD"), 422, "currency_mismatch"),
        (409, refusal("BK004", "account is frozen"), 409, "account_inactive"),
        (400, refusal("BK007", "at most 5 loan applications can be pending at once",
                      "max_pending_applications"), 422, "limit_exceeded"),
        (400, refusal("BK008", "at most 20 loan applications in 24 hours", "3600"), 429,
         "rate_limited"),
    ],
)  # fmt: skip
def test_refused_applications_map_to_the_error_envelope(
    client: FunctionClient, upstream: respx.MockRouter, upstream_status: int, body: dict[str, Any],
    status: int, code: str,
) -> None:  # fmt: skip
    upstream.post(f"{REST}/rpc/loan_apply").respond(upstream_status, json=body)
    response = client.post("/loans", headers=auth(), json=apply_body())
    assert response.status_code == status
    error = error_of(response)
    assert error["code"] == code
    assert error["message"] == body["message"]
    if code == "validation_failed":
        assert error["details"] == [{"field": "principal", "message": body["message"]}]
    if code == "rate_limited":
        assert response.headers["Retry-After"] == "3600"


def test_applying_without_a_token_is_unauthorized(client: FunctionClient) -> None:
    response = client.post("/loans", json=apply_body())
    assert response.status_code == 401


# Reads ---------------------------------------------------------------------------------
def _table_row(**overrides: Any) -> dict[str, Any]:
    """A loan as PostgREST's read returns it: LOAN_SELECT's columns and aliases."""
    row = {key: value for key, value in loan_row(**overrides).items()
           if key in LoanPublic.model_fields}  # fmt: skip
    return row


def test_listing_loans_reads_the_callers_own_with_their_installments(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.get(f"{REST}/loans").respond(
        json=[_table_row(), _table_row(id=PRODUCT_ID, currency="JPY", principal=300_000)]
    )
    response = client.get("/loans", headers=auth())
    assert response.status_code == 200
    body = response.get_json()
    LoanList.model_validate(body)
    assert [loan["principal"] for loan in body["data"]] == ["1200.00", "300000"]
    assert body["data"][1]["schedule"][0]["interest"] == "1200"
    params = route.calls.last.request.url.params
    assert params["borrower_id"] == f"eq.{USER_ID}"
    assert "schedule:loan_installments(" in params["select"]
    assert params["limit"] == "100"


def test_getting_a_loan_formats_what_was_paid(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    paid = installment(1, principal_paid=40_000, interest_paid=1_200, status="paid")
    upstream.get(f"{REST}/loans").respond(
        json=[_table_row(status="active", outstanding_principal=80_000,
                         schedule=[paid, installment(2, interest_paid=50)])]
    )  # fmt: skip
    response = client.get(f"/loans/{LOAN_ID}", headers=auth())
    assert response.status_code == 200
    body = response.get_json()
    assert body["outstanding_principal"] == "800.00"
    assert [(row["paid"], row["status"]) for row in body["schedule"]] == [
        ("412.00", "paid"), ("0.50", "pending"),
    ]  # fmt: skip


def test_a_loan_the_caller_cannot_see_is_not_found(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.get(f"{REST}/loans").respond(json=[])
    response = client.get(f"/loans/{LOAN_ID}", headers=auth())
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_a_loan_id_that_is_not_a_uuid_is_refused_without_asking_postgrest(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    response = client.get("/loans/42", headers=auth())
    assert response.status_code == 422
    assert error_of(response)["details"][0]["field"] == "loan_id"
    assert all("/loans" not in str(call.request.url) for call in upstream.calls)


# Repay ----------------------------------------------------------------------------
ALLOCATION = {
    "amount": 41_200, "interest": 1_200, "principal": 40_000, "past_due_interest": 0,
    "past_due_principal": 0, "current_interest": 1_200, "current_principal": 40_000,
    "prepaid_principal": 0,
}  # fmt: skip


def repayment_result(**overrides: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "transfer": transfer_row(kind="loan_repayment", amount=41_200),
        "allocation": ALLOCATION,
        "loan": loan_row(status="active", outstanding_principal=80_000),
        "replayed": False,
    }
    result.update(overrides)
    return result


def test_a_repayment_answers_201_with_transfer_allocation_and_loan(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{REST}/rpc/loan_repay").respond(json=repayment_result())
    body = {"amount": "412.00", "from_account_id": ACCOUNT_ID}
    response = client.post(f"/loans/{LOAN_ID}/repayments", headers=money_headers("r-1"), json=body)
    assert response.status_code == 201
    answer = response.get_json()
    RepaymentPublic.model_validate(answer)
    assert answer["transfer"]["id"] == TRANSFER_ID
    assert answer["transfer"]["amount"] == "412.00"
    assert answer["allocation"]["current_interest"] == "12.00"
    assert answer["allocation"]["prepaid_principal"] == "0.00"
    assert "amount" not in answer["allocation"]
    assert answer["loan"]["outstanding_principal"] == "800.00"
    assert "Idempotent-Replayed" not in response.headers
    assert json.loads(route.calls.last.request.content) == {
        "p_loan_id": LOAN_ID,
        "p_amount": "412.00",
        "p_from_account_id": ACCOUNT_ID,
        "p_idempotency_key": "r-1",
    }


def test_a_replayed_repayment_is_marked(client: FunctionClient, upstream: respx.MockRouter) -> None:
    upstream.post(f"{REST}/rpc/loan_repay").respond(json=repayment_result(replayed=True))
    body = {"amount": "412.00", "from_account_id": ACCOUNT_ID}
    response = client.post(f"/loans/{LOAN_ID}/repayments", headers=money_headers("r-1"), json=body)
    assert response.status_code == 201
    assert response.headers["Idempotent-Replayed"] == "true"


def test_a_repayment_without_an_idempotency_key_is_refused(client: FunctionClient) -> None:
    body = {"amount": "412.00", "from_account_id": ACCOUNT_ID}
    response = client.post(f"/loans/{LOAN_ID}/repayments", headers=auth(), json=body)
    assert response.status_code == 400
    assert error_of(response)["code"] == "idempotency_key_required"


@pytest.mark.parametrize("amount", ["0", "-1", "NaN", 5, "1,5"])
def test_a_repayment_amount_that_is_not_a_positive_decimal_is_refused(
    client: FunctionClient, amount: Any
) -> None:
    body = {"amount": amount, "from_account_id": ACCOUNT_ID}
    response = client.post(f"/loans/{LOAN_ID}/repayments", headers=money_headers(), json=body)
    assert response.status_code == 422
    assert error_of(response)["details"][0]["field"] == "amount"


@pytest.mark.parametrize(
    ("upstream_status", "body", "status", "code"),
    [
        (422, refusal("BK012", "amount (6000.01 USD) exceeds the payoff amount "
                      "(6000.00 USD) of loan", "6000.00"), 422, "amount_exceeds_payoff"),
        (409, refusal("BK011", f"loan (id={LOAN_ID}) is pending, cannot repay"), 409,
         "invalid_state"),
        (422, refusal("BK001", "account has insufficient funds"), 422, "insufficient_funds"),
        (409, refusal("BK006", "idempotency key (r-1) was already used for a different request",
                      "r-1"), 409, "idempotency_key_reused"),
        (400, refusal("BK009", "amount (1.001) has more than 2 decimals for USD", "amount"), 422,
         "validation_failed"),
    ],
)  # fmt: skip
def test_refused_repayments_map_to_the_error_envelope(
    client: FunctionClient, upstream: respx.MockRouter, upstream_status: int, body: dict[str, Any],
    status: int, code: str,
) -> None:  # fmt: skip
    upstream.post(f"{REST}/rpc/loan_repay").respond(upstream_status, json=body)
    request = {"amount": "6000.01", "from_account_id": ACCOUNT_ID}
    response = client.post(
        f"/loans/{LOAN_ID}/repayments", headers=money_headers("r-1"), json=request
    )
    assert response.status_code == status
    assert error_of(response)["code"] == code
    assert error_of(response)["message"] == body["message"]


# Withdraw and payoff ------------------------------------------------------------------
def test_the_borrower_withdraws_a_pending_application(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{REST}/rpc/loan_withdraw").respond(json=loan_row(status="withdrawn"))
    response = client.post(f"/loans/{LOAN_ID}/withdraw", headers=auth())
    assert response.status_code == 200
    assert response.get_json()["status"] == "withdrawn"
    assert json.loads(route.calls.last.request.content) == {"p_loan_id": LOAN_ID}


def test_withdrawing_an_active_loan_is_invalid_state(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    message = f"loan (id={LOAN_ID}) is active, cannot withdraw"
    upstream.post(f"{REST}/rpc/loan_withdraw").respond(400, json=refusal("BK011", message))
    response = client.post(f"/loans/{LOAN_ID}/withdraw", headers=auth())
    assert response.status_code == 409
    assert error_of(response) | {"request_id": None} == {
        "code": "invalid_state", "message": message, "details": None, "request_id": None,
    }  # fmt: skip


def test_a_payoff_quote_for_a_date_passes_the_date(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{REST}/rpc/loan_payoff_quote").respond(
        json={"loan_id": LOAN_ID, "amount": 80_123, "currency": "USD", "date": "2027-02-01"}
    )
    response = client.get(f"/loans/{LOAN_ID}/payoff?date=2027-02-01", headers=auth())
    assert response.status_code == 200
    body = response.get_json()
    PayoffPublic.model_validate(body)
    assert body == {"amount": "801.23", "currency": "USD", "date": "2027-02-01"}
    assert json.loads(route.calls.last.request.content) == {
        "p_loan_id": LOAN_ID,
        "p_date": "2027-02-01",
    }


def test_a_payoff_quote_without_a_date_lets_the_database_use_today(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{REST}/rpc/loan_payoff_quote").respond(
        json={"loan_id": LOAN_ID, "amount": 5, "currency": "JPY", "date": "2026-11-23"}
    )
    response = client.get(f"/loans/{LOAN_ID}/payoff", headers=auth())
    assert response.get_json()["amount"] == "5"
    assert json.loads(route.calls.last.request.content) == {"p_loan_id": LOAN_ID}


@pytest.mark.parametrize("value", ["2027-13-01", "tomorrow", "2027-02-30", "0", "1800000000"])
def test_a_payoff_quote_for_a_malformed_date_is_refused(
    client: FunctionClient, upstream: respx.MockRouter, value: str
) -> None:
    response = client.get(f"/loans/{LOAN_ID}/payoff?date={value}", headers=auth())
    assert response.status_code == 422
    assert error_of(response)["details"][0]["field"] == "date"


def test_the_loans_function_deploys_alone(app: AppFactory, upstream: respx.MockRouter) -> None:
    upstream.get(f"{REST}/loans").respond(json=[])
    loans_only = app("loans")
    assert loans_only.get("/loans", headers=auth()).status_code == 200
    assert loans_only.get("/accounts", headers=auth()).status_code == 404


# Admin --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("action", "rpc", "status"),
    [
        ("approve", "admin_loan_approve", "active"),
        ("reject", "admin_loan_reject", "rejected"),
        ("write-off", "admin_loan_write_off", "written_off"),
    ],
)
def test_staff_decide_and_write_off_loans(
    app: AppFactory, upstream: respx.MockRouter, action: str, rpc: str, status: str
) -> None:
    route = upstream.post(f"{REST}/rpc/{rpc}").respond(json=loan_row(status=status))
    response = app("admin").post(f"/admin/loans/{LOAN_ID}/{action}", headers=auth(admin_token()))
    assert response.status_code == 200
    assert response.get_json()["status"] == status
    sent = json.loads(route.calls.last.request.content)
    expected: dict[str, Any] = {"p_loan_id": LOAN_ID}
    if action != "approve":
        expected["p_reason"] = None
    assert sent == expected


def test_a_rejection_carries_its_reason(client: FunctionClient, upstream: respx.MockRouter) -> None:
    route = upstream.post(f"{REST}/rpc/admin_loan_reject").respond(json=loan_row(status="rejected"))
    response = client.post(
        f"/admin/loans/{LOAN_ID}/reject", headers=auth(admin_token()),
        json={"reason": "income too low"},
    )  # fmt: skip
    assert response.status_code == 200
    assert json.loads(route.calls.last.request.content)["p_reason"] == "income too low"


@pytest.mark.parametrize("body", [{"reason": ""}, {"reason": "x" * 501}, {"why": "no"}])
def test_a_malformed_reason_is_refused(client: FunctionClient, body: dict[str, Any]) -> None:
    response = client.post(
        f"/admin/loans/{LOAN_ID}/write-off", headers=auth(admin_token()), json=body
    )
    assert response.status_code == 422


@pytest.mark.parametrize("action", ["approve", "reject", "write-off"])
def test_a_customer_calling_an_admin_loan_path_is_forbidden_before_postgrest(
    client: FunctionClient, upstream: respx.MockRouter, action: str
) -> None:
    response = client.post(f"/admin/loans/{LOAN_ID}/{action}", headers=auth())
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    assert all("/rpc/" not in str(call.request.url) for call in upstream.calls)


def test_approving_a_rejected_loan_is_invalid_state(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    message = f"loan (id={LOAN_ID}) is rejected, cannot approve"
    upstream.post(f"{REST}/rpc/admin_loan_approve").respond(400, json=refusal("BK011", message))
    response = client.post(f"/admin/loans/{LOAN_ID}/approve", headers=auth(admin_token()))
    assert response.status_code == 409
    assert error_of(response)["message"] == message


# OpenAPI ------------------------------------------------------------------------------
def test_the_document_covers_every_loan_route() -> None:
    document = openapi.build_document()
    routes = [*loans.ROUTES, *(each for each in admin.ROUTES if "/loans/" in each.template)]
    for route in routes:
        assert route.method.lower() in document["paths"][route.template], route.template
    repay = document["paths"]["/loans/{loan_id}/repayments"]["post"]
    assert "Idempotency-Key" in {parameter["name"] for parameter in repay["parameters"]}
    payoff = document["paths"]["/loans/{loan_id}/payoff"]["get"]
    assert "date" in {parameter["name"] for parameter in payoff["parameters"]}


def test_loan_request_models_refuse_extra_fields_and_bound_every_field() -> None:
    for model in (_loan_models.LoanCreate, _loan_models.RepaymentCreate,
                  _loan_models.LoanDecision):  # fmt: skip
        schema = model.model_json_schema()
        assert schema["additionalProperties"] is False
        for name, prop in schema["properties"].items():
            for option in prop.get("anyOf", [prop]):
                kind = option.get("type")
                if kind == "string" and option.get("format") != "uuid":
                    assert "maxLength" in option, (model.__name__, name)
                if kind == "integer":
                    assert "maximum" in option, (model.__name__, name)
