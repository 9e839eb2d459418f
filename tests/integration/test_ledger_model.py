"""The ledger against a plain Python model of balances, driven by Hypothesis.

Each example makes two fresh customers with two USD accounts each, then runs
random transfers, deposits, withdrawals, freezes and unfreezes, places,
captures (in full or in part) and voids holds, refunds and staff reversals
of earlier transfers, and atomic batches. Every call
goes to the database as the right caller (a customer's JWT claims set as
PostgREST sets them, or the dashboard's postgres role for staff actions) and
to the model; the outcome code and every balance are compared after each
step, and the invariant checks run at the end of each example.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.conftest import ROOT, StackHandle

pytestmark = pytest.mark.integration

CHECKS = sorted((ROOT / "sql" / "checks").glob("*.sql"))
SLOTS = 4  # accounts 0 and 1 belong to the first customer, 2 and 3 to the second
amounts = st.integers(min_value=1, max_value=60_000)  # minor units of USD
slots = st.integers(min_value=0, max_value=SLOTS - 1)
picks = st.integers(min_value=0, max_value=1_000)  # an earlier transfer, modulo their count
reversal_amounts = st.one_of(st.none(), amounts)  # None: all that is left
batch_items = st.lists(st.tuples(st.booleans(), slots, amounts), min_size=1, max_size=4)


def _major(minor: int) -> Decimal:
    return Decimal(minor) / 100


class LedgerModel(RuleBasedStateMachine):
    dsn: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.pg = psycopg.connect(self.dsn)
        self.owners: list[str] = []
        self.accounts: list[str] = []
        self.balance: list[int] = []
        self.status: list[str] = []
        # Holds: what each account's open holds reserve, and every hold placed.
        self.held: list[int] = [0] * SLOTS
        self.holds: list[dict[str, Any]] = []
        self.reversed: dict[str, int] = {}  # original transfer id -> minor units reversed

    @initialize()
    def open_accounts(self) -> None:
        for _ in range(2):
            owner = str(uuid.uuid4())
            self.pg.execute(
                "insert into auth.users (id, aud, role, email, raw_app_meta_data,"
                " raw_user_meta_data, created_at, updated_at)"
                " values (%s, 'authenticated', 'authenticated', %s,"
                " '{\"provider\":\"email\"}', '{}', now(), now())",
                [owner, f"model-{owner[:12]}@example.com"],
            )
            for _ in range(2):
                opened = self._as_user(owner, "select public.open_account('USD', 'checking')")
                self.owners.append(owner)
                self.accounts.append(opened["id"])
                self.balance.append(0)
                self.status.append("active")
        self.pg.commit()

    def _as_user(self, user_id: str, sql: str, args: list[Any] | None = None) -> Any:
        claims = {"sub": user_id, "role": "authenticated", "app_metadata": {}}
        self.pg.execute("select set_config('request.jwt.claims', %s, true)", [json.dumps(claims)])
        self.pg.execute("set local role authenticated")
        try:
            row = self.pg.execute(sql, args or []).fetchone()
        finally:
            self.pg.execute("reset role")
            self.pg.execute("select set_config('request.jwt.claims', '', true)")
        assert row is not None
        return row[0]

    def _as_staff(self, sql: str, args: list[Any]) -> Any:
        try:
            row = self.pg.execute(sql, args).fetchone()
        except psycopg.Error as error:
            self.pg.rollback()
            return {"code": error.sqlstate}
        self.pg.commit()
        assert row is not None
        return row[0]

    @rule(source=slots, destination=slots, amount=amounts)
    def transfer(self, source: int, destination: int, amount: int) -> None:
        result = self._as_user(
            self.owners[source],
            "select public.transfer_funds(%s, %s, %s, 'USD', %s)",
            [self.accounts[source], self.accounts[destination], _major(amount), str(uuid.uuid4())],
        )
        self.pg.commit()
        if source == destination:
            expected = "BK003"
        elif "frozen" in (self.status[source], self.status[destination]):
            expected = "BK004"
        elif self._available(source) < amount:
            expected = "BK001"
        else:
            expected = None
            self.balance[source] -= amount
            self.balance[destination] += amount
        assert result.get("code") == expected, result

    @rule(slot=slots, amount=amounts)
    def deposit(self, slot: int, amount: int) -> None:
        result = self._as_staff(
            "select public.admin_deposit(%s, %s, 'USD', 'model deposit', %s)",
            [self.accounts[slot], _major(amount), str(uuid.uuid4())],
        )
        expected = "BK004" if self.status[slot] == "frozen" else None
        if expected is None:
            self.balance[slot] += amount
        assert result.get("code") == expected, result

    @rule(slot=slots, amount=amounts)
    def withdraw(self, slot: int, amount: int) -> None:
        result = self._as_staff(
            "select public.admin_withdraw(%s, %s, 'USD', 'model withdrawal', %s)",
            [self.accounts[slot], _major(amount), str(uuid.uuid4())],
        )
        if self.status[slot] == "frozen":
            expected = "BK004"
        elif self._available(slot) < amount:
            expected = "BK001"
        else:
            expected = None
            self.balance[slot] -= amount
        assert result.get("code") == expected, result

    @rule(slot=slots)
    def freeze(self, slot: int) -> None:
        result = self._as_staff("select public.admin_freeze_account(%s)", [self.accounts[slot]])
        self.status[slot] = "frozen"
        assert result["status"] == "frozen"

    @rule(slot=slots)
    def unfreeze(self, slot: int) -> None:
        result = self._as_staff("select public.admin_unfreeze_account(%s)", [self.accounts[slot]])
        self.status[slot] = "active"
        assert result["status"] == "active"

    # Holds -------------------------------------------------------------------

    def _available(self, slot: int) -> int:
        """What the account may spend: its balance less what its open holds reserve."""
        return self.balance[slot] - self.held[slot]

    def _hold_call(self, user_id: str, sql: str, args: list[Any]) -> Any:
        """Call as the customer; a raised error comes back as {"code": sqlstate}."""
        claims = {"sub": user_id, "role": "authenticated", "app_metadata": {}}
        self.pg.execute("select set_config('request.jwt.claims', %s, true)", [json.dumps(claims)])
        self.pg.execute("set local role authenticated")
        # _as_staff commits or rolls back, which ends the local role and claims.
        return self._as_staff(sql, args)

    @rule(source=slots, destination=slots, amount=amounts)
    def place_hold(self, source: int, destination: int, amount: int) -> None:
        result = self._hold_call(
            self.owners[source],
            "select public.place_hold(%s, %s, %s, 'USD', %s)",
            [self.accounts[source], self.accounts[destination], _major(amount), str(uuid.uuid4())],
        )
        if source == destination:
            expected = "BK003"
        elif "frozen" in (self.status[source], self.status[destination]):
            expected = "BK004"
        elif self._available(source) < amount:
            expected = "BK001"
        else:
            expected = None
            self.held[source] += amount
            self.holds.append({"id": result["id"], "source": source, "destination": destination,
                               "amount": amount, "open": True})  # fmt: skip
        assert result.get("code") == expected, result

    @precondition(lambda self: self.holds)
    @rule(pick=st.integers(min_value=0), part=st.integers(min_value=0, max_value=100))
    def capture_hold(self, pick: int, part: int) -> None:
        hold = self.holds[pick % len(self.holds)]
        # A share of the hold, at least one minor unit; 100 and 0 capture it all.
        captured = max(1, hold["amount"] * part // 100) if part else hold["amount"]
        source, destination = hold["source"], hold["destination"]
        result = self._hold_call(
            self.owners[source], "select public.capture_hold(%s, %s)",
            [hold["id"], _major(captured)],
        )  # fmt: skip
        if not hold["open"]:
            expected = "BK011"
        elif "frozen" in (self.status[source], self.status[destination]):
            expected = "BK004"
        else:
            expected = None
            hold["open"] = False
            self.held[source] -= hold["amount"]
            self.balance[source] -= captured
            self.balance[destination] += captured
        assert result.get("code") == expected, result
        if expected is None:
            assert (result["status"], result["captured_amount"]) == ("captured", captured)
            assert result["released_amount"] == hold["amount"] - captured

    @precondition(lambda self: self.holds)
    @rule(pick=st.integers(min_value=0))
    def void_hold(self, pick: int) -> None:
        hold = self.holds[pick % len(self.holds)]
        result = self._hold_call(
            self.owners[hold["source"]], "select public.void_hold(%s)", [hold["id"]]
        )
        expected = None if hold["open"] else "BK011"
        if expected is None:
            hold["open"] = False
            self.held[hold["source"]] -= hold["amount"]
        assert result.get("code") == expected, result

    @invariant()
    def held_amounts_match_the_model(self) -> None:
        if not self.accounts:
            return
        rows = dict(
            self.pg.execute(
                "select id::text, held_minor from public.accounts where id = any(%s::uuid[])",
                [self.accounts],
            ).fetchall()
        )
        self.pg.commit()
        assert [rows[account] for account in self.accounts] == self.held

    # Reversals and batches ---------------------------------------------------------

    def _pick_transfer(self, pick: int) -> tuple[str, str, str, str, int] | None:
        """An earlier transfer touching the model's accounts: (id, kind, from, to, amount)."""
        rows = self.pg.execute(
            "select id::text, kind, from_account_id::text, to_account_id::text, amount"
            "  from public.transfers"
            " where from_account_id = any(%s::uuid[]) or to_account_id = any(%s::uuid[])"
            " order by created_at, id",
            [self.accounts, self.accounts],
        ).fetchall()
        self.pg.commit()
        return tuple(rows[pick % len(rows)]) if rows else None  # type: ignore[return-value]

    def _expected_reversal(
        self, staff: bool, picked: tuple[str, str, str, str, int], amount: int
    ) -> str | None:
        """The model's verdict on reversing `amount` of a transfer (the other way round)."""
        transfer_id, kind, source, target, total = picked
        left = total - self.reversed.get(transfer_id, 0)
        slot = {account: n for n, account in enumerate(self.accounts)}
        payer, payee = slot.get(target), slot.get(source)
        if kind == "reversal" or (not staff and kind != "transfer") or left <= 0:
            return "BK011"
        if amount > left:
            return "BK007"
        if any(n is not None and self.status[n] == "frozen" for n in (payer, payee)):
            return "BK004"
        if payer is not None and self._available(payer) < amount:
            return "BK001"
        return None

    def _reverse(
        self, staff: bool, picked: tuple[str, str, str, str, int], amount: int | None
    ) -> None:
        transfer_id, _, source, target, total = picked
        effective = amount if amount is not None else total - self.reversed.get(transfer_id, 0)
        expected = self._expected_reversal(staff, picked, effective)
        args = [transfer_id, str(uuid.uuid4()), None if amount is None else _major(amount)]
        if staff:
            result = self._as_staff("select public.admin_reverse_transfer(%s, %s, %s)", args)
        else:
            owner = self.owners[self.accounts.index(target)]
            result = self._as_user(owner, "select public.refund_transfer(%s, %s, %s)", args)
            self.pg.commit()
        assert result.get("code") == expected, (picked, effective, result)
        if expected is None:
            assert result["original_transfer_id"] == transfer_id
            self.reversed[transfer_id] = self.reversed.get(transfer_id, 0) + effective
            slot = {account: n for n, account in enumerate(self.accounts)}
            if target in slot:
                self.balance[slot[target]] -= effective
            if source in slot:
                self.balance[slot[source]] += effective

    @rule(pick=picks, amount=reversal_amounts)
    def refund(self, pick: int, amount: int | None) -> None:
        picked = self._pick_transfer(pick)
        if picked is not None and picked[3] in self.accounts:  # the receiver refunds
            self._reverse(False, picked, amount)

    @rule(pick=picks, amount=reversal_amounts)
    def staff_reversal(self, pick: int, amount: int | None) -> None:
        picked = self._pick_transfer(pick)
        if picked is not None:
            self._reverse(True, picked, amount)

    @rule(owner=st.integers(min_value=0, max_value=1), items=batch_items)
    def batch(self, owner: int, items: list[tuple[bool, int, int]]) -> None:
        """Items from the owner's two accounts (the flag picks which) to any account."""
        sources = [owner * 2 + int(second) for second, _, _ in items]
        balance = list(self.balance)
        expected = None
        for source, (_, destination, amount) in zip(sources, items, strict=True):
            if source == destination:
                expected = "BK003"
            elif "frozen" in (self.status[source], self.status[destination]):
                expected = "BK004"
            elif balance[source] - self.held[source] < amount:
                expected = "BK001"
            if expected is not None:
                break
            balance[source] -= amount
            balance[destination] += amount
        body = [
            {"from_account_id": self.accounts[source], "to_account_id": self.accounts[destination],
             "amount": str(_major(amount)), "currency": "USD"}
            for source, (_, destination, amount) in zip(sources, items, strict=True)
        ]  # fmt: skip
        result = self._as_user(
            self.owners[owner * 2],
            "select public.transfer_funds_batch(%s::jsonb, %s)",
            [json.dumps(body), str(uuid.uuid4())],
        )
        self.pg.commit()
        assert result.get("code") == expected, result
        if expected is None:
            assert len(result["transfers"]) == len(items)
            self.balance = balance

    @invariant()
    def balances_match_the_model(self) -> None:
        if not self.accounts:
            return
        rows = dict(
            self.pg.execute(
                "select id::text, balance from public.accounts where id = any(%s::uuid[])",
                [self.accounts],
            ).fetchall()
        )
        self.pg.commit()
        assert [rows[account] for account in self.accounts] == self.balance

    def teardown(self) -> None:
        try:
            for check in CHECKS:
                assert self.pg.execute(check.read_text()).fetchall() == [], check.name
        finally:
            self.pg.close()


@pytest.fixture
def model_machine(stack: StackHandle) -> type[LedgerModel]:
    LedgerModel.dsn = stack.pg_dsn
    return LedgerModel


def test_the_ledger_matches_a_model_of_balances_after_every_step(
    model_machine: type[LedgerModel],
) -> None:
    run_state_machine_as_test(
        model_machine,
        settings=settings(
            max_examples=20,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
