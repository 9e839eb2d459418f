"""The `holds` function: reserve money on an account, then capture, void or let it expire.

A hold lowers the sender's `available_balance` at once and its `balance` only
when captured; the SQL functions of supabase/schemas/45_holds.sql enforce
every rule and settle every race, so this package validates, calls them and
shapes their answers.
"""

from __future__ import annotations

from ._models import HoldPublic
from ._routes import ROUTES

__all__ = ["ROUTES", "HoldPublic"]
