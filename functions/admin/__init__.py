"""The `admin` function: staff post cash, freeze accounts, and decide and write off loans."""

from __future__ import annotations

from ._routes import ROUTES

__all__ = ["ROUTES"]
