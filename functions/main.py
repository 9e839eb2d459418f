"""Entry points for functions-framework: one target per function, and `router` for local use.

Each target is deployable on its own and sees the full path, as docs/product.md
lists it (`functions-framework --target=accounts --source=functions/main.py
--asgi`). `router` serves every function on one origin, plus `/openapi.json`
(`functions-framework --target=router --source=functions/main.py --asgi
--port 8080`). functions-framework's ASGI mode is Starlette: it routes every
path of a target to the target's function, which hands the request on to that
function's own Starlette app (`core/_http.py`: routing, 405, CORS, errors). A
function's module is imported on its first request, so a deployment of one
function never loads the others.
"""

from __future__ import annotations

import functools
import importlib

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from functions.core import Route, application, get_settings

# Fail closed at start: a deployment with a missing or placeholder secret never
# answers. (The connection pool belongs to the server's event loop, so it is
# built on the first request, not here.)
get_settings()

# Function name → module defining its ROUTES.
_MODULES = {
    "accounts": "functions.accounts",
    "transfers": "functions.transfers",
    "holds": "functions.holds",
    "loans": "functions.loans",
    "admin": "functions.admin",
    "health": "functions.health",
    "webhooks": "functions.webhooks",
    "openapi": "functions.openapi",
}


def _routes(name: str) -> tuple[Route, ...]:
    routes: tuple[Route, ...] = importlib.import_module(_MODULES[name]).ROUTES
    return routes


@functools.cache
def _app(name: str) -> ASGIApp:
    if name == "router":
        return application({each: _routes(each) for each in _MODULES}, "router")
    return application({name: _routes(name)}, name)


class _Forward(Response):
    """The answer of a target: its function's Starlette app, run on the same request.

    functions-framework awaits a target's return value as an ASGI app with the
    request's own scope, receive and send, so nothing is buffered or copied.
    """

    def __init__(self, app: ASGIApp) -> None:  # no body of its own: the app answers
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


@functions_framework.aio.http
async def accounts(request: Request) -> Response:
    return _Forward(_app("accounts"))


@functions_framework.aio.http
async def transfers(request: Request) -> Response:
    return _Forward(_app("transfers"))


@functions_framework.aio.http
async def holds(request: Request) -> Response:
    return _Forward(_app("holds"))


@functions_framework.aio.http
async def loans(request: Request) -> Response:
    return _Forward(_app("loans"))


@functions_framework.aio.http
async def admin(request: Request) -> Response:
    return _Forward(_app("admin"))


@functions_framework.aio.http
async def health(request: Request) -> Response:
    return _Forward(_app("health"))


@functions_framework.aio.http
async def webhooks(request: Request) -> Response:
    return _Forward(_app("webhooks"))


@functions_framework.aio.http
async def router(request: Request) -> Response:
    """All functions on one origin, each at the paths it has when deployed alone."""
    return _Forward(_app("router"))
