"""The `webhooks` function: a payment provider's signed events, applied to the ledger."""

from __future__ import annotations

from ._routes import ROUTES

__all__ = ["ROUTES"]
