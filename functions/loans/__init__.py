"""The `loans` function: a customer applies for a loan, reads it, repays it, withdraws it.

The loan's models and public shape live here; the `admin` function decides loans
and answers with the same shape, so it is re-exported.
"""

from __future__ import annotations

from ._models import LoanDecision, LoanPublic
from ._public import LOAN_SELECT, loan_public
from ._routes import ROUTES

__all__ = ["LOAN_SELECT", "ROUTES", "LoanDecision", "LoanPublic", "loan_public"]
