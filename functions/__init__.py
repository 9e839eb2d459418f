"""ledgerbase's HTTP functions: thin, typed front doors to the ledger in Postgres.

One package per deployable function (`accounts`, `transfers`, `loans`, `admin`,
`health`), each with its routes, request models and response shapes; their
functions-framework entry points in `main`; the OpenAPI document, built from
the routes, in `openapi`; and the shared core in `core`.
"""
