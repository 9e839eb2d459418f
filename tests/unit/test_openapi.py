"""The committed OpenAPI document is what the models generate."""

from __future__ import annotations

from functions import openapi
from functions.accounts._models import AccountCreate, AccountUpdate
from functions.admin._models import AdminCashMovement
from functions.transfers._models import TransferCreate


def test_the_committed_openapi_document_is_up_to_date() -> None:
    committed = openapi.DOCUMENT_PATH.read_text()
    assert committed == openapi.render(), (
        "functions/openapi.json is stale: regenerate it with "
        "`make openapi` (python -m functions.openapi > functions/openapi.json)"
    )


def test_the_document_lists_exactly_the_routes_the_functions_declare() -> None:
    from functions import accounts, admin, health, loans, transfers, webhooks

    document = openapi.build_document()
    assert document["openapi"] == "3.1.0"
    declared = {
        (route.method.lower(), route.template)
        for module in (accounts, admin, health, loans, transfers, webhooks, openapi)
        for route in module.ROUTES
    }
    documented = {
        (method, path) for path, operations in document["paths"].items() for method in operations
    }
    assert documented == declared


def test_money_calls_document_the_idempotency_key_and_the_error_envelope() -> None:
    document = openapi.build_document()
    operation = document["paths"]["/transfers"]["post"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert "Idempotency-Key" in names
    assert "Idempotent-Replayed" in operation["responses"]["201"]["headers"]
    assert "Retry-After" in operation["responses"]["503"]["headers"]
    assert document["components"]["schemas"]["ErrorBody"]["properties"]["error"]
    amount = document["components"]["schemas"]["TransferCreate"]["properties"]["amount"]
    assert amount["type"] == "string"


def test_request_models_refuse_extra_fields_and_bound_every_string() -> None:
    for model in (
        AccountCreate,
        AccountUpdate,
        TransferCreate,
        AdminCashMovement,
    ):
        schema = model.model_json_schema()
        assert schema["additionalProperties"] is False
        for name, prop in schema["properties"].items():
            options = prop.get("anyOf", [prop])
            for option in options:
                if option.get("type") == "string" and option.get("format") != "uuid":
                    assert "maxLength" in option or "enum" in option, (model.__name__, name)


def test_the_document_accepts_any_request_id_because_a_malformed_one_is_replaced() -> None:
    # The functions never refuse an X-Request-Id (a malformed one is replaced by a new id),
    # so a pattern here would promise a 4xx the API never gives.
    document = openapi.build_document()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "X-Request-Id":
                    assert "pattern" not in parameter["schema"], (method, path)


def test_repayments_document_the_rate_limit_they_share_with_transfers() -> None:
    operation = openapi.build_document()["paths"]["/loans/{loan_id}/repayments"]["post"]
    assert "Retry-After" in operation["responses"]["429"]["headers"]
