"""The entries' hash chains (supabase/schemas/30_ledger.sql, 60_audit_and_guards.sql).

Every entry carries sha256 of its account's previous entry's hash and its own
fields, written by the posting code on every path that inserts entries:
transfers, deposits, deferred credits settled later, loan postings.
`verify_ledger()` recomputes the chains. These tests post through each path
and find the chains whole, then play a superuser who gets past the guards
(`session_replication_role = replica` turns the triggers off) and edits or
deletes an entry, and find the break named by account and entry. Each
tampering runs in a transaction that is rolled back, so the shared ledger
stays whole for the other tests and sql/checks.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from scripts import schema_diff
from tests.conftest import ROOT
from tests.conftest import TestUser as User
from tests.integration.loans_support import (
    RestFactory,
    deposit,
    make_product,
    open_account,
    rpc,
    rpc_ok,
)

pytestmark = pytest.mark.integration

CHAIN_MIGRATION = "hash_chained_entries"
# One bench-style transfer (sql/bench/transfer_funds.sql) between fixture accounts.
FIXTURE_TRANSFER = (
    "select public.transfer_funds(s.account_id, d.account_id, 0.01, 'XTS',"
    " gen_random_uuid()::text)"
    "  from bench_fixture.accounts as s join bench_fixture.accounts as d on d.n = {dst}"
    "  cross join lateral (select set_config('request.jwt.claims', s.claims, true),"
    "                             set_config('role', 'authenticated', true) offset 0) as c"
    " where s.n = {src}"
)
VERIFY = "select account_id::text, entry_id, account_version, problem from public.verify_ledger()"


def _breaks(pg: psycopg.Connection[Any]) -> list[tuple[str, int | None, int, str]]:
    return [tuple(row) for row in pg.execute(VERIFY).fetchall()]  # type: ignore[misc]


def _breaks_of(pg: psycopg.Connection[Any], accounts: list[str]) -> list[Any]:
    return [row for row in _breaks(pg) if row[0] in accounts]


def _transfer(rest: RestFactory, user: User, src: str, dst: str, amount: str) -> Any:
    return rpc_ok(
        rest(user.token), "transfer_funds", p_from_account_id=src, p_to_account_id=dst,
        p_amount=amount, p_currency="USD", p_idempotency_key=str(uuid.uuid4()),
    )  # fmt: skip


def _entries(pg: psycopg.Connection[Any], account_id: str) -> list[tuple[int, int]]:
    rows = pg.execute(
        "select id, account_version from public.entries where account_id = %s"
        " order by account_version",
        [account_id],
    ).fetchall()
    return [(int(r[0]), int(r[1])) for r in rows]


@contextmanager
def _as_superuser_past_the_guards(pg: psycopg.Connection[Any]) -> Iterator[None]:
    """Triggers off, as a superuser can; rolled back so the ledger stays whole."""
    with pg.transaction():
        pg.execute("set local session_replication_role = replica")
        yield
        raise psycopg.Rollback()


@pytest.fixture
def two_customers(
    pg: psycopg.Connection[Any], make_user: Callable[..., User]
) -> tuple[User, str, User, str]:
    alice, bob = make_user(), make_user()
    alice_account, bob_account = open_account(pg, alice.id), open_account(pg, bob.id)
    deposit(pg, alice_account, 50_000)
    return alice, alice_account, bob, bob_account


def test_chains_hold_after_transfers_and_deposits(
    pg: psycopg.Connection[Any], rest: RestFactory, two_customers: tuple[User, str, User, str]
) -> None:
    alice, alice_account, bob, bob_account = two_customers
    for amount in ("10.00", "0.01", "99.99"):
        _transfer(rest, alice, alice_account, bob_account, amount)
    _transfer(rest, bob, bob_account, alice_account, "5.00")
    assert len(_entries(pg, alice_account)) == 5
    assert _breaks(pg) == []


def test_each_entry_hash_chains_to_the_previous_entry_of_its_account(
    pg: psycopg.Connection[Any], rest: RestFactory, two_customers: tuple[User, str, User, str]
) -> None:
    alice, alice_account, _, bob_account = two_customers
    _transfer(rest, alice, alice_account, bob_account, "1.00")
    rows = pg.execute(
        "select e.hash = private.entry_hash(p.hash, e.transfer_id, e.account_id,"
        "         e.account_version, e.amount, e.balance_after, e.counterparty_account_id,"
        "         e.description, e.created_at),"
        "       p.hash is null, length(e.hash)"
        "  from public.entries as e"
        "  left join public.entries as p"
        "    on p.account_id = e.account_id and p.account_version = e.account_version - 1"
        " where e.account_id = %s order by e.account_version",
        [alice_account],
    ).fetchall()
    assert rows == [(True, True, 32), (True, False, 32)]


def test_posting_statement_hashes_as_entry_hash_does_for_every_kind_of_entry(
    pg: psycopg.Connection[Any], rest: RestFactory, two_customers: tuple[User, str, User, str]
) -> None:
    """The posting statement writes the hash expression out (so Postgres evaluates it in
    the statement); private.entry_hash, which verify_ledger uses, must agree with it on
    every field: with and without a description (multi-byte UTF-8 too), both sides of
    a transfer, a deferred receiver's sender entry and a staff deposit."""
    alice, alice_account, bob, bob_account = two_customers
    for description in (None, "rent", "café ☕ 東京"):
        rpc_ok(
            rest(alice.token), "transfer_funds", p_from_account_id=alice_account,
            p_to_account_id=bob_account, p_amount="1.25", p_currency="USD",
            p_idempotency_key=str(uuid.uuid4()), p_description=description,
        )  # fmt: skip
    pg.execute("update public.accounts set deferred_credits = true where id = %s", [bob_account])
    _transfer(rest, alice, alice_account, bob_account, "2.00")
    _transfer(rest, bob, bob_account, alice_account, "1.00")  # settles bob's credit first
    deposit(pg, bob_account, 700)
    rows = pg.execute(
        "select e.account_id = %s, e.description,"
        "       e.hash = private.entry_hash(p.hash, e.transfer_id, e.account_id,"
        "         e.account_version, e.amount, e.balance_after, e.counterparty_account_id,"
        "         e.description, e.created_at)"
        "  from public.entries as e"
        "  left join public.entries as p"
        "    on p.account_id = e.account_id and p.account_version = e.account_version - 1"
        " where e.account_id in (%s, %s) order by e.id",
        [alice_account, alice_account, bob_account],
    ).fetchall()
    assert {row[1] for row in rows} >= {None, "rent", "café ☕ 東京"}
    # Alice's deposit, three transfers, the deferred debit, Bob's settled credit, his
    # transfer back and his deposit.
    assert len(rows) == 1 + 2 * 3 + 1 + 1 + 2 + 1
    assert all(row[2] for row in rows), rows
    assert _breaks_of(pg, [alice_account, bob_account]) == []


def test_chains_hold_after_deferred_credits_are_settled(
    pg: psycopg.Connection[Any], rest: RestFactory, two_customers: tuple[User, str, User, str]
) -> None:
    alice, alice_account, bob, bob_account = two_customers
    _transfer(rest, alice, alice_account, bob_account, "1.00")  # bob's chain has a head
    pg.execute("update public.accounts set deferred_credits = true where id = %s", [bob_account])
    for amount in ("2.00", "3.00", "4.00"):
        _transfer(rest, alice, alice_account, bob_account, amount)
    pending = pg.execute(
        "select count(*) from public.pending_credits where account_id = %s", [bob_account]
    ).fetchone()
    assert pending == (3,)
    assert pg.execute("select public.settle_pending_credits(%s)", [bob_account]).fetchone() == (3,)
    _transfer(rest, alice, alice_account, bob_account, "5.00")
    # A debit of a deferred account settles it first, then posts its own entry.
    _transfer(rest, bob, bob_account, alice_account, "1.50")
    assert [v for _, v in _entries(pg, bob_account)] == [1, 2, 3, 4, 5, 6]
    assert _breaks(pg) == []


def test_chains_hold_after_loan_postings(
    pg: psycopg.Connection[Any], rest: RestFactory, make_user: Callable[..., User]
) -> None:
    borrower, admin = make_user(), make_user(role="admin")
    account = open_account(pg, borrower.id)
    deposit(pg, account, 100_000)
    product = make_product(pg, "USD", annual_rate_bps=1200)
    loan = rpc_ok(
        rest(borrower.token), "loan_apply", p_account_id=account, p_principal="6000",
        p_currency="USD", p_term_months=6, p_product_id=product,
    )  # fmt: skip
    rpc_ok(rest(admin.token), "admin_loan_approve", p_loan_id=loan["id"])
    rpc_ok(
        rest(borrower.token), "loan_repay", p_loan_id=loan["id"], p_amount="1500",
        p_from_account_id=account, p_idempotency_key=str(uuid.uuid4()),
    )  # fmt: skip
    kinds = pg.execute(
        "select distinct t.kind from public.entries as e"
        "  join public.transfers as t on t.id = e.transfer_id where e.account_id = %s",
        [account],
    ).fetchall()
    assert {k for (k,) in kinds} >= {"deposit", "loan_disbursement", "loan_repayment"}
    assert _breaks(pg) == []


def test_superuser_edit_with_triggers_off_is_named_by_account_and_entry(
    pg: psycopg.Connection[Any], rest: RestFactory, two_customers: tuple[User, str, User, str]
) -> None:
    alice, alice_account, _, bob_account = two_customers
    for amount in ("10.00", "20.00", "30.00"):
        _transfer(rest, alice, alice_account, bob_account, amount)
    entries = _entries(pg, bob_account)
    edited_id, edited_version = entries[1]
    with _as_superuser_past_the_guards(pg):
        pg.execute("update public.entries set amount = amount * 10 where id = %s", [edited_id])
        assert _breaks(pg) == [(bob_account, edited_id, edited_version, "entry_altered")]


def test_superuser_edit_that_also_rewrites_the_hash_breaks_the_next_link(
    pg: psycopg.Connection[Any], rest: RestFactory, two_customers: tuple[User, str, User, str]
) -> None:
    alice, alice_account, _, bob_account = two_customers
    for amount in ("10.00", "20.00", "30.00"):
        _transfer(rest, alice, alice_account, bob_account, amount)
    entries = _entries(pg, bob_account)
    with _as_superuser_past_the_guards(pg):
        pg.execute(
            "update public.entries as e"
            "   set description = 'edited',"
            "       hash = private.entry_hash(p.hash, e.transfer_id, e.account_id,"
            "         e.account_version, e.amount, e.balance_after, e.counterparty_account_id,"
            "         'edited', e.created_at)"
            "  from public.entries as p"
            " where e.id = %s and p.account_id = e.account_id"
            "   and p.account_version = e.account_version - 1",
            [entries[1][0]],
        )
        assert _breaks(pg) == [(bob_account, *entries[2], "entry_altered")]


def test_deleting_an_entry_in_the_middle_is_found(
    pg: psycopg.Connection[Any], rest: RestFactory, two_customers: tuple[User, str, User, str]
) -> None:
    alice, alice_account, _, bob_account = two_customers
    for amount in ("10.00", "20.00", "30.00"):
        _transfer(rest, alice, alice_account, bob_account, amount)
    entries = _entries(pg, bob_account)
    with _as_superuser_past_the_guards(pg):
        pg.execute("delete from public.entries where id = %s", [entries[1][0]])
        assert _breaks_of(pg, [bob_account]) == [(bob_account, *entries[2], "entries_missing")]


def test_deleting_the_last_entry_is_found_at_the_account_head(
    pg: psycopg.Connection[Any], rest: RestFactory, two_customers: tuple[User, str, User, str]
) -> None:
    alice, alice_account, _, bob_account = two_customers
    for amount in ("10.00", "20.00"):
        _transfer(rest, alice, alice_account, bob_account, amount)
    entries = _entries(pg, bob_account)
    with _as_superuser_past_the_guards(pg):
        pg.execute("delete from public.entries where id = %s", [entries[-1][0]])
        assert _breaks_of(pg, [bob_account]) == [(bob_account, entries[0][0], 2, "head_mismatch")]


def test_guards_still_refuse_ordinary_edits_of_entries(
    pg: psycopg.Connection[Any], rest: RestFactory, two_customers: tuple[User, str, User, str]
) -> None:
    alice, alice_account, _, bob_account = two_customers
    _transfer(rest, alice, alice_account, bob_account, "1.00")
    entry_id = _entries(pg, bob_account)[0][0]
    for statement in (
        "update public.entries set hash = '\\x00'::bytea || hash where id = %s",
        "delete from public.entries where id = %s",
    ):
        with pytest.raises(psycopg.DatabaseError, match="entries are append-only"):
            pg.execute(statement, [entry_id])
    assert _breaks(pg) == []


def test_verify_ledger_is_for_staff_only(
    rest: RestFactory, make_user: Callable[..., User], two_customers: tuple[User, str, User, str]
) -> None:
    customer, admin = make_user(), make_user(role="admin")
    refused = rpc(rest(customer.token), "verify_ledger")
    assert refused.status_code >= 400, refused.text
    assert refused.json()["code"] == "BK010"
    assert rpc(rest(None), "verify_ledger").status_code in (401, 404)
    answered = rpc(rest(admin.token), "verify_ledger")
    assert answered.status_code == 200, answered.text
    assert answered.json() == []


def test_the_migration_chains_the_entries_posted_before_it() -> None:
    """Entries, settled credits and credits still pending when the column arrives."""
    migrations = sorted(schema_diff.MIGRATIONS.glob("*.sql"))
    chain = next(path for path in migrations if path.stem.endswith(CHAIN_MIGRATION))
    with schema_diff.scratch_cluster() as cluster:
        for path in migrations[: migrations.index(chain)]:
            cluster.apply(path)
        # Six funded accounts; account 1 takes deferred credits (sql/bench/setup.sql).
        setup = ROOT / "sql" / "bench" / "setup.sql"
        cluster.psql("-v", "accounts=6", "-v", "currency=XTS", "-f", str(setup), what="setup")
        pairs = [(2, 3), (3, 2), (2, 1), (4, 1), (5, 6), (3, 1), (6, 1)]
        for n, (src, dst) in enumerate(pairs):
            cluster.psql("-c", FIXTURE_TRANSFER.format(src=src, dst=dst), what="transfer")
            if n == 3:
                cluster.psql("-c", "select public.settle_pending_credits()", what="settle")
        cluster.apply(chain)
        counts = "select count(*) filter (where hash is null), count(*) from public.entries"
        assert cluster.psql("-c", counts, what="entries").split() == ["0|24"]
        verify = "select count(*) from public.verify_ledger()"
        assert cluster.psql("-c", verify, what="verify").strip() == "0"
        assert cluster.psql("-c", "select public.settle_pending_credits()", what="settle") == "2\n"
        cluster.psql("-c", FIXTURE_TRANSFER.format(src=1, dst=2), what="transfer")
        assert cluster.psql("-c", verify, what="verify").strip() == "0"
