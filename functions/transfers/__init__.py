"""The `transfers` function: move money between two accounts, and read a transfer back.

Every call that moves money (a transfer, a staff cash movement, a loan's
disbursement and repayment) answers with the transfer shape defined here.
"""

from __future__ import annotations

from ._models import TransferPublic
from ._public import TRANSFER_COLUMNS, transfer_public, transfer_reply
from ._routes import ROUTES

__all__ = ["ROUTES", "TRANSFER_COLUMNS", "TransferPublic", "transfer_public", "transfer_reply"]
