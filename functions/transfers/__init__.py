"""The `transfers` function: move money between two accounts, and read a transfer back.

Every call that moves money (a transfer, a staff cash movement, a loan's
disbursement and repayment) answers with the transfer shape defined here.
"""

from __future__ import annotations

from ._models import RefundCreate, ReversalPublic, TransferPublic
from ._public import TRANSFER_COLUMNS, reversal_reply, transfer_public, transfer_reply
from ._routes import ROUTES

__all__ = [
    "ROUTES",
    "TRANSFER_COLUMNS",
    "RefundCreate",
    "ReversalPublic",
    "TransferPublic",
    "reversal_reply",
    "transfer_public",
    "transfer_reply",
]
