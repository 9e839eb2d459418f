"""The SQL schema files keep every function short enough to read at once, and
keep regular expressions Postgres can run cheaply."""

import re
from pathlib import Path

SCHEMAS = Path(__file__).resolve().parents[2] / "supabase" / "schemas"
MAX_LINES = 70
START = re.compile(r"^create (or replace )?function (\S+?)\(", re.IGNORECASE)


def function_lengths(text: str) -> dict[str, int]:
    """Line count of each `create function ... $$;` statement, keyed by name."""
    lengths: dict[str, int] = {}
    name: str | None = None
    count = 0
    for line in text.splitlines():
        match = START.match(line)
        if match:
            name, count = match.group(2), 0
        if name is not None:
            count += 1
            if line.startswith("$$;"):
                lengths[name] = max(count, lengths.get(name, 0))
                name = None
    return lengths


def test_the_counter_counts_a_whole_statement() -> None:
    text = "create function private.f(p integer)\nreturns integer\nas $$\n  select 1\n$$;\n"
    assert function_lengths(text) == {"private.f": 5}


def test_no_schema_function_is_longer_than_the_house_limit() -> None:
    too_long = {
        f"{path.name}: {name}": lines
        for path in sorted(SCHEMAS.glob("*.sql"))
        for name, lines in function_lengths(path.read_text()).items()
        if lines > MAX_LINES
    }
    assert too_long == {}, f"functions over {MAX_LINES} lines: {too_long}"


# Postgres's regex engine unrolls a bounded repeat into one state per count, so
# `{1,255}` costs tens of microseconds per match where `+` and a separate
# char_length() check cost about one (supabase/schemas/30_ledger.sql,
# require_idempotency_key). Small fixed counts such as a uuid's {12} are cheap.
MAX_REPEAT = 32
BOUNDED_REPEAT = re.compile(r"\{(\d+)(?:,(\d*))?\}")


def large_repeats(text: str) -> list[str]:
    """Bounded repeats over MAX_REPEAT inside quoted patterns after a regex operator."""
    found = []
    for pattern in re.findall(r"!?~\*?\s*'([^']*)'", text):
        for low, high in BOUNDED_REPEAT.findall(pattern):
            if max(int(low), int(high or 0)) > MAX_REPEAT:
                found.append(pattern)
    return found


def test_the_repeat_scan_finds_a_large_bounded_repeat() -> None:
    assert large_repeats("if p_key !~ '^[a-z]{1,255}$' then") == ["^[a-z]{1,255}$"]
    assert large_repeats("check (code ~ '^[A-Z]{3}$')") == []


def test_no_schema_regex_has_a_large_bounded_repeat() -> None:
    offending = {
        path.name: found
        for path in sorted(SCHEMAS.glob("*.sql"))
        if (found := large_repeats(path.read_text()))
    }
    assert offending == {}, f"use + and char_length() instead: {offending}"
