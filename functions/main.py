"""Entry points for functions-framework: one target per function, and `router` for local use.

Each target is deployable on its own and sees the full path, as PRODUCT.md
lists it (`functions-framework --target=accounts --source=functions/main.py
--asgi`). `router` serves every function on one origin by the first path
segment, plus `/openapi.json` (`functions-framework --target=router
--source=functions/main.py --asgi --port 8080`). The targets are ASGI
functions (`functions_framework.aio`): see `_core/_http.py` for why. A
function's module is imported on its first request, so a deployment of one
function never loads the others.

The settings are read and the connection pool built at import: a deployment
with a missing or placeholder secret fails to start instead of failing its
first request, and the first request does not pay for the pool.
"""

from __future__ import annotations

import functools
import importlib

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from functions._core import Route, get_settings, serve

# Fail closed at start: a deployment with a missing or placeholder secret never
# answers. (The connection pool belongs to the server's event loop, so it is
# built on the first request, not here.)
get_settings()

# First path segment → module defining ROUTES.
_MODULES = {
    "accounts": "functions.accounts",
    "transfers": "functions.transfers",
    "loans": "functions.loans",
    "admin": "functions.admin",
    "health": "functions.health",
    "openapi.json": "functions.openapi",
}


@functools.cache
def _routes(name: str) -> tuple[Route, ...]:
    routes: tuple[Route, ...] = importlib.import_module(_MODULES[name]).ROUTES
    return routes


@functions_framework.aio.http
async def accounts(request: Request) -> Response:
    return await serve(request, _routes("accounts"), "accounts")


@functions_framework.aio.http
async def transfers(request: Request) -> Response:
    return await serve(request, _routes("transfers"), "transfers")


@functions_framework.aio.http
async def loans(request: Request) -> Response:
    return await serve(request, _routes("loans"), "loans")


@functions_framework.aio.http
async def admin(request: Request) -> Response:
    return await serve(request, _routes("admin"), "admin")


@functions_framework.aio.http
async def health(request: Request) -> Response:
    return await serve(request, _routes("health"), "health")


@functions_framework.aio.http
async def router(request: Request) -> Response:
    """All functions on one origin, dispatched on the first path segment."""
    name = request.url.path.split("/", 2)[1]
    if name not in _MODULES:
        return await serve(request, (), "router")
    return await serve(request, _routes(name), name)
