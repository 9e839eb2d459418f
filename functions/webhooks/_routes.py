"""The `webhooks` function: `POST /webhooks/payments`, Stripe's signed events.

The provider is the caller, so there is no user token: the request is
authenticated by the `Stripe-Signature` header, verified by the `stripe`
package's own `WebhookSignature.verify_header` against each configured secret
(several during a rotation) with a 300 s tolerance on its timestamp. A missing,
wrong or stale signature answers 400 `invalid_signature` and reaches nothing.
A verified event goes to one RPC, `apply_payment_event`, which only the
service_role may execute, sent with the service-role key from the settings:
the one call in the functions that is not a user's action. The event id is the
idempotency key there. Every verified event answers 200 with its recorded
outcome, including one that could not be applied (recorded for staff), so the
provider stops retrying; only a failure to record it (503) makes it retry.
Without a secret or a service-role key configured, the webhook fails closed
with 503: the provider keeps the events and retries them for days.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from functions.core import (
    ApiError,
    BadRequest,
    Context,
    Reply,
    Route,
    Settings,
    json_reply,
    route,
    validation_problems,
)

from ._models import PaymentEventPublic, StripeEvent, event_fields

__all__ = ["ROUTES"]

_log = logging.getLogger("functions.webhooks")


def _not_configured(settings: Settings) -> ApiError:
    return ApiError(
        "the payments webhook is not configured",
        code="upstream_unavailable",
        headers={"Retry-After": str(max(settings.retry_after_seconds, 60))},
    )


def _verified_payload(ctx: Context) -> str:
    """The body as the provider signed it, or 400 when no configured secret verifies it."""
    settings = ctx.runtime.settings
    header = ctx.request.headers.get("stripe-signature")
    try:
        payload = ctx.raw_body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8", code="invalid_signature") from None
    if not header:
        raise BadRequest("the Stripe-Signature header is missing", code="invalid_signature")
    # Imported on the first delivery: the stripe package takes 1.5 s to import on the
    # benchmark machine, which no other function, nor the router's other paths, should pay.
    from stripe import SignatureVerificationError, WebhookSignature

    tolerance = settings.stripe_webhook_tolerance_seconds
    for secret in settings.webhook_secrets:
        try:
            WebhookSignature.verify_header(payload, header, secret, tolerance)
        except SignatureVerificationError:
            continue
        return payload
    raise BadRequest(code="invalid_signature")


async def payment_event(ctx: Context) -> Reply:
    settings = ctx.runtime.settings
    if not settings.webhook_secrets or not settings.supabase_service_role_key:
        _log.warning("payments webhook called without STRIPE_WEBHOOK_SECRETS or service key")
        raise _not_configured(settings)
    payload = _verified_payload(ctx)
    try:
        event = StripeEvent.model_validate_json(payload)
    except ValidationError as error:
        raise BadRequest(details=validation_problems(error)) from None
    fields = event_fields(event)
    args = {
        "p_event_id": event.id,
        "p_event_type": event.type,
        "p_livemode": event.livemode,
        # Live events belong to production, test-mode events to every other deployment.
        "p_expected_livemode": settings.environment == "production",
        "p_payment_intent_id": fields.payment_intent_id,
        "p_account_id": fields.account_id,
        "p_amount": fields.amount,
        "p_currency": fields.currency,
    }
    row = await ctx.runtime.postgrest.rpc(
        "apply_payment_event", args, token=settings.supabase_service_role_key
    )
    return json_reply(200, _public(row))


def _public(row: dict[str, object]) -> dict[str, object]:
    transfer_id = row.get("transfer_id")
    return {
        "event_id": row["event_id"],
        "event_type": row["event_type"],
        "status": row["status"],
        "reason": row.get("reason"),
        "transfer_id": str(transfer_id) if transfer_id is not None else None,
        "replayed": row.get("replayed") is True,
    }


ROUTES: tuple[Route, ...] = (
    route("POST", "/webhooks/payments", payment_event, auth="none", webhook=True,
          summary="Stripe-signed payment events (payment_intent.succeeded, charge.refunded); "
          "the event id is the idempotency key",
          body=StripeEvent, response=PaymentEventPublic,
          errors=("invalid_signature", "invalid_json")),
)  # fmt: skip
