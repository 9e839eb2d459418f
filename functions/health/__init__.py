"""The `health` function: whether PostgREST answers, for a load balancer."""

from __future__ import annotations

from ._routes import ROUTES, HealthPublic

__all__ = ["ROUTES", "HealthPublic"]
