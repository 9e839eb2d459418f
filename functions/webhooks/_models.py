"""What the payments webhook reads of a Stripe event, and what it answers.

Only the envelope is validated strictly (id, type, livemode, data.object): a
signed event without them is not an event. The fields the ledger needs are read
leniently (`event_fields`): a signed event whose object lacks one, or holds
something unexpected, is still recorded, as unapplied with the reason, so that
staff see it and the provider stops retrying.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EventFields", "PaymentEventPublic", "StripeEvent", "event_fields"]

_MAX_TEXT = 255


class StripeEventData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    object: dict[str, Any] = Field(description="The payment intent or charge the event is about.")


class StripeEvent(BaseModel):
    """A Stripe event as delivered to a webhook endpoint (the fields read here)."""

    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=_MAX_TEXT, description="The event id (`evt_...`).")
    type: str = Field(min_length=1, max_length=100, description="e.g. `payment_intent.succeeded`.")
    livemode: bool
    data: StripeEventData


class PaymentEventPublic(BaseModel):
    """The recorded outcome of one event (the first delivery's, on a redelivery)."""

    event_id: str
    event_type: str
    status: Literal["applied", "unapplied", "ignored"]
    reason: str | None = Field(description="Why the event was not applied; null when it was.")
    transfer_id: str | None = Field(description="The deposit or refund posted, if any.")
    replayed: bool = Field(description="true when this event was recorded by an earlier delivery.")


class EventFields(BaseModel):
    """The arguments of `apply_payment_event` an event's object gives."""

    payment_intent_id: str | None = None
    account_id: str | None = None
    amount: int | None = None
    currency: str | None = None


def _text(value: Any) -> str | None:
    return value[:_MAX_TEXT] if isinstance(value, str) and value else None


def _integer(value: Any) -> int | None:
    # bool is an int in Python; JSON's true is not an amount.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def event_fields(event: StripeEvent) -> EventFields:
    """The payment, account, amount and currency of the event's object, where present."""
    item = event.data.object
    if event.type == "payment_intent.succeeded":
        metadata = item.get("metadata")
        account = metadata.get("account_id") if isinstance(metadata, dict) else None
        return EventFields(
            payment_intent_id=_text(item.get("id")),
            account_id=_text(account),
            amount=_integer(item.get("amount_received")),
            currency=_text(item.get("currency")),
        )
    if event.type == "charge.refunded":
        intent = item.get("payment_intent")
        if isinstance(intent, dict):  # expanded by the endpoint's API version
            intent = intent.get("id")
        return EventFields(
            payment_intent_id=_text(intent),
            amount=_integer(item.get("amount_refunded")),
            currency=_text(item.get("currency")),
        )
    return EventFields()
