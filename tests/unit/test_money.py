"""Amount parsing and formatting, and the currency table's cache."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.core import InternalError, ValidationFailed
from functions.core._money import (
    BIGINT_MAX,
    CurrencyTable,
    check_amount_text,
    format_minor,
    to_minor,
)


@pytest.mark.parametrize(
    ("minor", "exponent", "text"),
    [(12345, 2, "123.45"), (-5, 2, "-0.05"), (7, 0, "7"), (1, 3, "0.001"), (0, 2, "0.00"),
     (-BIGINT_MAX, 2, "-92233720368547758.07")],
)  # fmt: skip
def test_minor_units_format_with_the_currency_exponent(
    minor: int, exponent: int, text: str
) -> None:
    assert format_minor(minor, exponent) == text


# No deadline: the property is about values, and a stalled CI machine must not fail it.
@settings(deadline=None)
@given(st.integers(min_value=1, max_value=BIGINT_MAX), st.integers(min_value=0, max_value=4))
def test_formatting_then_parsing_gives_back_the_same_minor_units(minor: int, exponent: int) -> None:
    text = format_minor(minor, exponent)
    assert to_minor(check_amount_text(text), exponent) == minor


def test_the_largest_bigint_is_accepted_and_one_more_is_refused() -> None:
    assert to_minor("92233720368547758.07", 2) == BIGINT_MAX
    with pytest.raises(ValidationFailed):
        to_minor("92233720368547758.08", 2)


def test_trailing_zeros_within_the_exponent_are_fine() -> None:
    assert to_minor("1.10", 2) == 110
    assert to_minor("5", 3) == 5000


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_currency_table_is_cached_for_its_ttl() -> None:
    loads: list[int] = []

    async def load() -> dict[str, int]:
        loads.append(1)
        return {"USD": 2}

    async def scenario() -> None:
        clock = Clock()
        table = CurrencyTable(load, ttl_seconds=60, clock=clock)
        assert await table.exponent("USD") == 2
        clock.now = 59
        assert await table.exponent("USD") == 2
        assert len(loads) == 1
        clock.now = 61
        await table.exponent("USD")
        assert len(loads) == 2

    asyncio.run(scenario())


def test_a_missing_currency_reloads_the_table_but_not_on_every_miss() -> None:
    loads: list[int] = []

    async def load() -> dict[str, int]:
        loads.append(1)
        return {"USD": 2} if len(loads) < 3 else {"USD": 2, "CHF": 2}

    async def scenario() -> None:
        clock = Clock()
        table = CurrencyTable(load, ttl_seconds=600, clock=clock)
        assert await table.exponent("CHF") is None
        assert await table.exponent("CHF") is None
        assert len(loads) == 1
        clock.now = 6
        assert await table.exponent("CHF") is None
        clock.now = 12
        assert await table.exponent("CHF") == 2
        assert len(loads) == 3
        with pytest.raises(InternalError):
            table.known_exponent("XYZ")

    asyncio.run(scenario())


def test_a_code_the_database_hands_back_reloads_the_table_at_once() -> None:
    """A currency added since the last load: a row in it is formatted, never a 500."""
    tables = [{"USD": 2}, {"USD": 2, "CHF": 2}]
    loads: list[int] = []

    async def load() -> dict[str, int]:
        loads.append(1)
        return tables[min(len(loads), len(tables)) - 1]

    async def scenario() -> None:
        clock = Clock()
        table = CurrencyTable(load, ttl_seconds=600, clock=clock)
        assert await table.exponent("USD") == 2
        clock.now = 1  # well inside the few seconds a caller's miss waits
        await table.ensure("USD", "CHF")
        assert table.known_exponent("CHF") == 2
        assert len(loads) == 2
        await table.ensure("CHF")
        assert len(loads) == 2

    asyncio.run(scenario())
