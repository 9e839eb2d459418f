"""The SQL schema files keep every function short enough to read at once."""

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
