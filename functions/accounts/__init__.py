"""The `accounts` function: a customer's accounts, their entries and monthly statements.

Its routes (`_routes`), request and response models (`_models`) and the shaping of
rows into answers (`_public`) live here; the `admin` function answers with the
same account shape, so it is re-exported.
"""

from __future__ import annotations

from ._models import AccountPublic
from ._public import account_public
from ._routes import ROUTES

__all__ = ["ROUTES", "AccountPublic", "account_public"]
