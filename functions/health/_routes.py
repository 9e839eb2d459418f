"""The `health` function: no auth; says whether PostgREST answers, within a short timeout.

503 when it does not, so a load balancer stops sending traffic; the body says
which dependency is down and nothing about where it lives.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from functions.core import Context, Reply, Route, UpstreamUnavailable, json_reply, route

__all__ = ["ROUTES", "HealthPublic"]


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    postgrest: Literal["up", "down"]


async def health(ctx: Context) -> Reply:
    if await ctx.runtime.postgrest.is_up():
        return json_reply(200, {"status": "ok", "postgrest": "up"})
    retry = {"Retry-After": str(ctx.runtime.settings.retry_after_seconds)}
    status = UpstreamUnavailable.status  # the same answer as any call that cannot reach it
    return json_reply(status, {"status": "degraded", "postgrest": "down"}, retry)


ROUTES: tuple[Route, ...] = (
    route("GET", "/health", health, auth="none", summary="Whether PostgREST answers",
          response=HealthPublic),
)  # fmt: skip
