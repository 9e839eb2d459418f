"""Deployment entry point: `gcloud functions deploy <name> --source=. --entry-point=<name>`.

Cloud Run functions look for `main.py` at the root of the source; the targets
live in `functions/main.py` and are re-exported here unchanged.
"""

from functions.main import accounts, admin, health, holds, loans, router, transfers, webhooks

__all__ = ["accounts", "admin", "health", "holds", "loans", "router", "transfers", "webhooks"]
