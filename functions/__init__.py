"""ledgerbase's HTTP functions: thin, typed front doors to the ledger in Postgres.

One module per deployable function (`accounts`, `transfers`, `admin`, `health`),
their functions-framework entry points in `main`, the OpenAPI document in
`openapi`, and the shared core in `_core`.
"""
