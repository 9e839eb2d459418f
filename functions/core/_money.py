"""Amounts at the API edge: decimal strings in, decimal strings out, integers inside.

The database stores minor units (`bigint`) and is the authority on every rule;
this module gives the caller a friendly, per-field answer before a call is
made: a plain positive decimal string (no sign, exponent, NaN or Infinity,
never a JSON number), with no more decimals than the currency's exponent, and
small enough for a bigint of minor units. It also formats minor units back, and
caches the `currencies` table (code → exponent) that both need.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from ._errors import InternalError, ValidationFailed

__all__ = [
    "AMOUNT_PATTERN",
    "BIGINT_MAX",
    "MAX_DECIMALS",
    "TOO_LARGE",
    "CurrencyTable",
    "check_amount_text",
    "format_minor",
    "require_amount",
    "require_currency",
    "to_minor",
    "too_many_decimals",
]

BIGINT_MAX = 2**63 - 1
# The most decimals any ISO 4217 currency has (CLF, UYW), and the most digits before the
# point a bigint of minor units can need (a currency with no decimals).
MAX_DECIMALS = 4
MAX_WHOLE_DIGITS = 19
AMOUNT_PATTERN = rf"^(0|[1-9][0-9]{{0,{MAX_WHOLE_DIGITS - 1}}})(\.[0-9]{{1,{MAX_DECIMALS}}})?$"
_AMOUNT_SHAPE = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]+)?")
_AMOUNT_EXAMPLE = '"12.34"'
TOO_LARGE = "is larger than the largest amount the ledger can hold"
_CURRENCY_MISS_REFRESH_SECONDS = 5.0


def check_amount_text(value: object) -> str:
    """The shape check pydantic runs on every amount field; raises ValueError with the why.

    One message per kind of mistake, naming the rule in words: the type, the shape,
    zero, too large. The decimals are left to `to_minor`, which knows the currency and
    so can say how many it allows (for a repayment, whose currency is the loan's, the
    database says it).
    """
    if not isinstance(value, str):
        raise ValueError(
            f"must be a decimal string such as {_AMOUNT_EXAMPLE}, not a JSON {_json_kind(value)}"
        )
    found = _AMOUNT_SHAPE.fullmatch(value)
    if found is None:
        raise ValueError(
            f"must be a positive decimal string such as {_AMOUNT_EXAMPLE}: digits with an "
            "optional point and decimals, no sign, exponent, spaces or leading zeros"
        )
    if len(found[1]) > MAX_WHOLE_DIGITS:
        raise ValueError(TOO_LARGE)
    if set(value) <= {"0", "."}:
        raise ValueError("must be greater than zero")
    return value


def too_many_decimals(currency: str | None, places: int) -> str:
    """The one wording for an amount with more decimals than its currency allows."""
    allowed = "none" if places == 0 else f"at most {places}"
    return f"has more decimals than {currency or 'its currency'} allows ({allowed})"


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else type(value).__name__.replace("dict", "object")


def to_minor(
    text: str, exponent: int, *, field: str = "amount", currency: str | None = None
) -> int:
    """Minor units of a shape-checked amount, refusing extra decimals and bigint overflow."""
    whole, _, fraction = text.partition(".")
    if len(fraction) > exponent:
        raise ValidationFailed.field(field, too_many_decimals(currency, exponent))
    minor: int = int(whole) * 10**exponent + int(fraction.ljust(exponent, "0") or "0")
    if minor > BIGINT_MAX:
        raise ValidationFailed.field(field, TOO_LARGE)
    return minor


def format_minor(minor: int, exponent: int) -> str:
    """12345, 2 → "123.45"; -5, 2 → "-0.05"; 7, 0 → "7"."""
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**exponent)
    if exponent == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:0{exponent}d}"


class CurrencySource(Protocol):
    def __call__(self) -> Awaitable[dict[str, int]]: ...


class CurrencyTable:
    """code → exponent, read from PostgREST `currencies` and kept for a TTL.

    `ensure` (async) refreshes the table when it is stale or lacks a code; the
    lookups after it are plain dictionary reads, so formatting a page of rows
    costs nothing more. Only one refresh runs at a time.
    """

    def __init__(
        self,
        load: CurrencySource,
        *,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl_seconds = ttl_seconds
        self._clock = clock
        self._exponents: dict[str, int] = {}
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    async def ensure(self, *codes: str) -> None:
        """Make sure the table is fresh and holds every code in `codes`.

        For codes the database handed back: it knows every one of them, so a
        miss is a currency added since the last load and always reloads.
        """
        await self._refresh_if(lambda: self._stale() or self._lacks(codes))

    async def exponent(self, code: str) -> int | None:
        """The exponent of a code a caller sent, or None for one the ledger does not know.

        A miss may be a currency added since the last load, so it reloads, but
        at most once in a few seconds: made-up codes cannot make every request
        read the table.
        """
        await self._refresh_if(
            lambda: (
                self._stale()
                or (self._lacks((code,)) and self._age() >= _CURRENCY_MISS_REFRESH_SECONDS)
            )
        )
        return self._exponents.get(code)

    async def _refresh_if(self, needed: Callable[[], bool]) -> None:
        if not needed():
            return
        async with self._lock:
            if needed():
                self._exponents = await self._load()
                self._loaded_at = self._clock()

    def _age(self) -> float:
        return float("inf") if self._loaded_at is None else self._clock() - self._loaded_at

    def _stale(self) -> bool:
        return self._age() >= self._ttl_seconds

    def _lacks(self, codes: tuple[str, ...]) -> bool:
        return any(code not in self._exponents for code in codes)

    def known_exponent(self, code: str) -> int:
        """After `ensure`: for currencies the database handed back, an unknown one is our bug."""
        exponent = self._exponents.get(code)
        if exponent is None:
            raise InternalError()
        return exponent


async def require_amount(currencies: CurrencyTable, text: str, code: str) -> int:
    """Minor units of `text` in currency `code`; 422 naming the field that is wrong."""
    return to_minor(text, await require_currency(currencies, code), currency=code)


async def require_currency(currencies: CurrencyTable, code: str) -> int:
    exponent = await currencies.exponent(code)
    if exponent is None:
        raise ValidationFailed.field("currency", f"unknown currency {code}")
    return exponent
