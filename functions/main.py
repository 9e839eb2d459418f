"""Entry points for functions-framework: one target per function, and `router` for local use.

Each target is deployable on its own and sees the full path, as PRODUCT.md
lists it (`functions-framework --target=accounts --source=functions/main.py`).
`router` serves every function on one origin by the first path segment, plus
`/openapi.json` (`functions-framework --target=router --source=functions/main.py
--port 8080`). A function's module is imported on its first request, so a
deployment of one function never loads the others.

The settings are read and the connection pool built at import: a deployment
with a missing or placeholder secret fails to start instead of failing its
first request, and the first request does not pay for the pool.
"""

from __future__ import annotations

import functools
import importlib

import flask
import functions_framework

from functions._core import Route, get_runtime, serve

get_runtime()

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


@functions_framework.http
def accounts(request: flask.Request) -> flask.Response:
    return serve(request, _routes("accounts"), "accounts")


@functions_framework.http
def transfers(request: flask.Request) -> flask.Response:
    return serve(request, _routes("transfers"), "transfers")


@functions_framework.http
def loans(request: flask.Request) -> flask.Response:
    return serve(request, _routes("loans"), "loans")


@functions_framework.http
def admin(request: flask.Request) -> flask.Response:
    return serve(request, _routes("admin"), "admin")


@functions_framework.http
def health(request: flask.Request) -> flask.Response:
    return serve(request, _routes("health"), "health")


@functions_framework.http
def router(request: flask.Request) -> flask.Response:
    """All functions on one origin, dispatched on the first path segment."""
    name = request.path.split("/", 2)[1]
    if name not in _MODULES:
        return serve(request, (), "router")
    return serve(request, _routes(name), name)
