"""What the hash chain costs transfer_funds: alternating runs with and without it.

Every entry carries sha256(previous entry's hash || its fields), computed in the
posting statement (private.post_transfer_with_entries, 40_transfers.sql): one
index probe for the previous hash and one digest per entry. Without the chain
the same statement writes a constant 32-byte hash instead, so the two runs
differ only in that computation (the column and its bytes stay). The variant
is made at run time from the migrated definition, replacing its
`pg_catalog.sha256(...)` call, and the migrated definition is put back
afterwards; the runs alternate (with, without, without, with, ...) at the top
concurrency, uniform pattern, and the ratio is the median of the per-pair tps
ratios, so a drift of a shared machine hits both sides of each pair alike.

The constant hashes break the chains of the accounts they were posted to, and
every entry posted after them chains onto them, so afterwards the entries posted
since the first run are chained again with private.entry_hash, in each account's
version order, as a superuser with the guard triggers off (the one way to
rewrite entries): verify_ledger() and sql/checks/09 hold again on the stack the
smoke test shares with every other test.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from bench import _database
from bench._latency import LoadResult

FUNCTION = "private.post_transfer_with_entries"
CONSTANT_HASH = "'\\x" + "00" * 32 + "'::bytea"


# Re-chains, in account and version order, every entry with an id above :first_id
# (psql does not expand variables inside the dollar-quoted block, hence the setting).
RECHAIN = """
set session_replication_role = replica;
select set_config('bench.first_id', :'first_id', false);
do $$
declare
  v_entry public.entries;
begin
  for v_entry in
    select * from public.entries where id > current_setting('bench.first_id')::bigint
     order by account_id, account_version
  loop
    update public.entries
       set hash = private.entry_hash(
             (select p.hash from public.entries as p
               where p.account_id = v_entry.account_id
                 and p.account_version = v_entry.account_version - 1),
             v_entry.transfer_id, v_entry.account_id, v_entry.account_version, v_entry.amount,
             v_entry.balance_after, v_entry.counterparty_account_id, v_entry.description,
             v_entry.created_at)
     where id = v_entry.id;
  end loop;
end;
$$;
"""


class ChainVariantError(Exception):
    """The posting function no longer has the expression this benchmark replaces."""


def without_chain(definition: str) -> str:
    """`definition` with its `pg_catalog.sha256(...)` call replaced by a constant."""
    start = definition.find("pg_catalog.sha256(")
    if start < 0:
        raise ChainVariantError(f"{FUNCTION} has no pg_catalog.sha256(...) call to replace")
    depth = 0
    for index in range(start + len("pg_catalog.sha256"), len(definition)):
        depth += {"(": 1, ")": -1}.get(definition[index], 0)
        if depth == 0:
            return definition[:start] + CONSTANT_HASH + definition[index + 1 :]
    raise ChainVariantError(f"{FUNCTION}'s sha256 call is not closed")


def measure(stack: Any, pairs: int, run_once: Callable[[str], LoadResult]) -> dict[str, Any]:
    """`pairs` alternating pairs of `run_once(side)`, side "with" or "without" the chain."""
    definition = _database.psql(stack, "-c", f"select pg_get_functiondef('{FUNCTION}'::regproc)")
    variant = without_chain(definition)
    first_id = int(_database.psql(stack, "-c", "select coalesce(max(id), 0) from public.entries"))
    rows: list[dict[str, float]] = []
    try:
        for number in range(pairs):
            sides = ("with", "without") if number % 2 == 0 else ("without", "with")
            row: dict[str, float] = {}
            for side in sides:
                _database.psql(stack, input=(definition if side == "with" else variant) + ";\n")
                result = run_once(side)
                row[side] = result.tps
                row[f"{side}_postgres_cpu_ms"] = result.cpu_ms_per_tx.get("postgres", 0.0)
            row["ratio"] = round(row["with"] / row["without"], 3) if row["without"] else 0.0
            rows.append(row)
    finally:
        _database.psql(stack, input=definition + ";\n")
        _database.psql(stack, input=RECHAIN, variables={"first_id": first_id})
    return {
        "pairs": rows,
        "median_ratio": round(statistics.median(row["ratio"] for row in rows), 3),
    }
