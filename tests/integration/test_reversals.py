"""Refunds and staff reversals on the real stack: new transfers linked to the original.

A receiver refunds what it received (`POST /transfers/{id}/refunds`), staff reverse
any posted transfer but a loan's or a reversal (`POST /admin/transfers/{id}/reversals`);
both go through `private.reverse_transfer`. The original never changes, the two show
each other's ids, and the reversals of a transfer never sum to more than it, also
when refunds race.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import StackHandle
from tests.integration.money_support import (
    Customer,
    assert_invariants,
    balances,
    customer,
    dashboard,
    deposit,
    new_key,
    set_status,
    unused_currency_code,
)

pytestmark = pytest.mark.integration


def _pay(sender: Customer, receiver: Customer, amount: str, currency: str = "USD") -> str:
    """A transfer from the sender's first account to the receiver's, through the function."""
    body = {"from_account_id": sender.accounts[0], "to_account_id": receiver.accounts[0],
            "amount": amount, "currency": currency}  # fmt: skip
    response = sender.fn("POST", "/transfers", body, new_key())
    assert response.status_code == 201, response.text
    transfer_id: str = response.json()["id"]
    return transfer_id


def _pair(
    stack: StackHandle, funds: str = "100.00", currency: str = "USD"
) -> tuple[Customer, Customer]:
    alice, bob = customer(stack), customer(stack)
    alice.open_account(currency)
    bob.open_account(currency)
    deposit(stack, alice.accounts[0], funds, currency)
    return alice, bob


def _refund(
    who: Customer, transfer_id: str, body: Any = None, key: str | None = None
) -> httpx.Response:
    return who.fn("POST", f"/transfers/{transfer_id}/refunds", body or {}, key or new_key())


def _error(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def test_a_receiver_refunds_in_full_and_the_two_transfers_name_each_other(
    stack: StackHandle,
) -> None:
    alice, bob = _pair(stack)
    original = _pay(alice, bob, "10.00")
    refund = _refund(bob, original, {"reason": "returned goods"})
    assert refund.status_code == 201, refund.text
    body = refund.json()
    assert body["original_transfer_id"] == original
    assert (body["from_account_id"], body["to_account_id"]) == (bob.accounts[0], alice.accounts[0])
    assert (body["amount"], body["currency"], body["description"]) == (
        "10.00",
        "USD",
        "returned goods",
    )
    assert balances(stack, alice.accounts[0], bob.accounts[0]) == [10000, 0]

    for viewer in (alice, bob):
        shown = viewer.fn("GET", f"/transfers/{original}").json()
        assert shown["amount"] == "10.00"  # the original as it was
        assert (shown["reversed_amount"], shown["reversal_ids"]) == ("10.00", [body["id"]])
        assert shown["original_transfer_id"] is None
        back = viewer.fn("GET", f"/transfers/{body['id']}").json()
        assert back["original_transfer_id"] == original
        assert (back["reversed_amount"], back["reversal_ids"]) == ("0.00", [])
    assert_invariants(stack)


def test_partial_refunds_never_sum_to_more_than_the_original(stack: StackHandle) -> None:
    alice, bob = _pair(stack)
    original = _pay(alice, bob, "10.00")
    assert _refund(bob, original, {"amount": "3.00"}).status_code == 201
    assert _refund(bob, original, {"amount": "4.00"}).status_code == 201
    too_much = _refund(bob, original, {"amount": "3.01"})
    assert too_much.status_code == 422, too_much.text
    assert _error(too_much)["code"] == "limit_exceeded"
    assert _error(too_much)["details"] == "reversible_amount"
    rest = _refund(bob, original)  # no amount: all that is left
    assert rest.status_code == 201, rest.text
    assert rest.json()["amount"] == "3.00"
    done = _refund(bob, original, {"amount": "0.01"})
    assert done.status_code == 409
    assert _error(done)["code"] == "invalid_state"
    assert alice.fn("GET", f"/transfers/{original}").json()["reversed_amount"] == "10.00"
    assert balances(stack, alice.accounts[0], bob.accounts[0]) == [10000, 0]


def test_a_refund_replays_its_first_answer_and_refuses_the_key_for_another_request(
    stack: StackHandle,
) -> None:
    alice, bob = _pair(stack)
    original = _pay(alice, bob, "10.00")
    key = new_key()
    first = _refund(bob, original, {"amount": "2.00"}, key)
    again = _refund(bob, original, {"amount": "2.00"}, key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = _refund(bob, original, {"amount": "2.50"}, key)
    assert other.status_code == 409
    assert _error(other)["code"] == "idempotency_key_reused"
    refused_key = new_key()
    refused = _refund(bob, original, {"amount": "50.00"}, refused_key)
    assert refused.status_code == 422
    replayed = _refund(bob, original, {"amount": "50.00"}, refused_key)
    assert (replayed.status_code, replayed.json()["error"]["code"]) == (422, "limit_exceeded")
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert balances(stack, bob.accounts[0]) == [800]


def test_only_the_receiver_can_refund_and_others_see_no_such_transfer(stack: StackHandle) -> None:
    alice, bob = _pair(stack)
    mallory = customer(stack)
    mallory.open_account()
    original = _pay(alice, bob, "10.00")
    for who in (alice, mallory):
        refused = _refund(who, original)
        assert refused.status_code == 404, refused.text
        direct = who.rpc("refund_transfer", p_transfer_id=original, p_idempotency_key=new_key())
        # Raised before the key is claimed, so PostgREST answers its generic 400.
        assert direct.status_code == 400, direct.text
        assert direct.json()["code"] == "BK005"
    missing = _refund(bob, str(uuid.uuid4()))
    assert missing.status_code == 404
    assert balances(stack, alice.accounts[0], bob.accounts[0]) == [9000, 1000]


def test_a_customer_cannot_call_the_staff_reversal_directly_or_through_the_function(
    stack: StackHandle,
) -> None:
    alice, bob = _pair(stack)
    original = _pay(alice, bob, "10.00")
    direct = bob.rpc("admin_reverse_transfer", p_transfer_id=original, p_idempotency_key=new_key())
    assert direct.status_code == 400, direct.text
    assert direct.json()["code"] == "BK010"
    through = bob.fn("POST", f"/admin/transfers/{original}/reversals", {}, new_key())
    assert through.status_code == 403
    anon = httpx.post(f"{stack.rest_url}/rpc/refund_transfer", headers={"apikey": stack.anon_key},
                      json={"p_transfer_id": original, "p_idempotency_key": new_key()})  # fmt: skip
    assert anon.status_code in (401, 403), anon.text
    assert balances(stack, bob.accounts[0]) == [1000]


def test_a_refund_the_receiver_cannot_cover_is_insufficient_funds(stack: StackHandle) -> None:
    alice, bob = _pair(stack)
    original = _pay(alice, bob, "10.00")
    bob.open_account()
    moved = bob.fn("POST", "/transfers", {"from_account_id": bob.accounts[0],
                   "to_account_id": bob.accounts[1], "amount": "9.50", "currency": "USD"},
                   new_key())  # fmt: skip
    assert moved.status_code == 201
    refused = _refund(bob, original)
    assert refused.status_code == 422
    assert _error(refused)["code"] == "insufficient_funds"
    partial = _refund(bob, original, {"amount": "0.50"})
    assert partial.status_code == 201, partial.text


@pytest.mark.parametrize("frozen", ["sender", "receiver"])
def test_a_refund_touching_a_frozen_account_is_refused(stack: StackHandle, frozen: str) -> None:
    alice, bob = _pair(stack)
    original = _pay(alice, bob, "10.00")
    set_status(stack, (alice if frozen == "sender" else bob).accounts[0], "frozen")
    refused = _refund(bob, original)
    assert refused.status_code == 409, refused.text
    assert _error(refused)["code"] == "account_inactive"


def test_amounts_follow_the_currency_exponent(stack: StackHandle) -> None:
    alice, bob = _pair(stack, "1000", "JPY")
    original = _pay(alice, bob, "500", "JPY")
    refused = _refund(bob, original, {"amount": "1.5"})
    assert refused.status_code == 422
    assert _error(refused)["code"] == "validation_failed"
    assert _error(refused)["details"][0]["field"] == "amount"
    for bad in ("0", "-1", "abc"):
        assert _refund(bob, original, {"amount": bad}).status_code == 422
    done = _refund(bob, original, {"amount": "499"})
    assert done.status_code == 201
    assert done.json()["amount"] == "499"


def test_a_customer_cannot_refund_a_deposit_but_staff_reverse_it(stack: StackHandle) -> None:
    alice = customer(stack)
    alice.open_account()
    deposited = deposit(stack, alice.accounts[0], "20.00")
    refused = _refund(alice, deposited)
    assert refused.status_code == 409
    assert _error(refused)["code"] == "invalid_state"
    admin = customer(stack, admin=True)
    path = f"/admin/transfers/{deposited}/reversals"
    partial = admin.fn("POST", path, {"amount": "5.00", "reason": "deposited twice"}, new_key())
    assert partial.status_code == 201, partial.text
    assert partial.json()["original_transfer_id"] == deposited
    assert balances(stack, alice.accounts[0]) == [1500]
    missing_key = admin.fn("POST", path, None)
    assert missing_key.status_code == 400
    assert _error(missing_key)["code"] == "idempotency_key_required"
    rest = admin.fn("POST", path, {}, new_key())
    assert rest.status_code == 201, rest.text
    assert rest.json()["amount"] == "15.00"
    assert balances(stack, alice.accounts[0]) == [0]
    assert_invariants(stack)


def test_staff_reverse_a_withdrawal_from_the_banks_cash_account(stack: StackHandle) -> None:
    alice = customer(stack)
    alice.open_account()
    deposit(stack, alice.accounts[0], "20.00")
    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        row = pg.execute(
            "select public.admin_withdraw(%s, 20.00, 'USD', 'cash out', %s)",
            [alice.accounts[0], new_key()],
        ).fetchone()
        assert row is not None
        withdrawal = row[0]["id"]
        reversed_ = pg.execute(
            "select public.admin_reverse_transfer(%s, %s)", [withdrawal, new_key()]
        ).fetchone()
    assert reversed_ is not None
    assert reversed_[0]["original_transfer_id"] == withdrawal
    assert balances(stack, alice.accounts[0]) == [2000]


def test_a_reversal_is_never_itself_reversed(stack: StackHandle) -> None:
    alice, bob = _pair(stack)
    original = _pay(alice, bob, "10.00")
    refund = _refund(bob, original, {"amount": "4.00"}).json()["id"]
    again = _refund(alice, refund)
    assert again.status_code == 409
    assert _error(again)["code"] == "invalid_state"
    admin = customer(stack, admin=True)
    staff = admin.fn("POST", f"/admin/transfers/{refund}/reversals", {}, new_key())
    assert staff.status_code == 409
    assert _error(staff)["code"] == "invalid_state"


def test_staff_cannot_reverse_a_loan_disbursement(stack: StackHandle) -> None:
    alice = customer(stack)
    account = alice.open_account()
    applied = alice.rpc("loan_apply", p_account_id=account, p_principal="1000.00",
                        p_currency="USD", p_term_months=12)  # fmt: skip
    assert applied.status_code == 200, applied.text
    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        pg.execute("select public.admin_loan_approve(%s)", [applied.json()["id"]])
        row = pg.execute(
            "select id::text from public.transfers"
            " where to_account_id = %s and kind = 'loan_disbursement'",
            [account],
        ).fetchone()
    assert row is not None
    admin = customer(stack, admin=True)
    refused = admin.fn("POST", f"/admin/transfers/{row[0]}/reversals", {}, new_key())
    assert refused.status_code == 409, refused.text
    assert _error(refused)["code"] == "invalid_state"
    assert balances(stack, account) == [100000]


def test_racing_refunds_never_reverse_more_than_the_original(stack: StackHandle) -> None:
    alice, bob = _pair(stack)
    original = _pay(alice, bob, "10.00")

    def refund_one(_: int) -> int:
        response = bob.rpc("refund_transfer", p_transfer_id=original, p_amount="1.00",
                           p_idempotency_key=new_key())  # fmt: skip
        return response.status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(refund_one, range(16)))
    assert statuses.count(200) == 10, statuses
    assert set(statuses) <= {200, 409}, statuses
    assert balances(stack, alice.accounts[0], bob.accounts[0]) == [10000, 0]
    assert_invariants(stack)


def _currency_at_three_calls_a_minute(stack: StackHandle) -> str:
    """A new currency whose money-movement window allows three calls a minute."""
    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        code = unused_currency_code(pg)
        pg.execute(
            "insert into public.currencies (code, exponent, name, max_transfer_minor,"
            " daily_outgoing_limit_minor, transfers_per_minute)"
            " values (%s, 2, 'Refund rate test', 100000, 1000000, 3)",
            [code],
        )
    return code


def test_refunds_count_in_the_receivers_money_movement_rate_limit(stack: StackHandle) -> None:
    code = _currency_at_three_calls_a_minute(stack)
    alice, bob = _pair(stack, "100.00", code)
    # Straight to PostgREST: the functions take up to a few seconds to accept a
    # currency a caller names that was added since they last read the table.
    paid = alice.rpc("transfer_funds", p_from_account_id=alice.accounts[0],
                     p_to_account_id=bob.accounts[0], p_amount="10.00", p_currency=code,
                     p_idempotency_key=new_key())  # fmt: skip
    assert paid.status_code == 200, paid.text
    original = paid.json()["id"]  # counted in Alice's window, not Bob's
    for _ in range(3):
        refunded = _refund(bob, original, {"amount": "1.00"})
        assert refunded.status_code == 201, refunded.text
    key = new_key()
    limited = _refund(bob, original, {"amount": "1.00"}, key)
    assert limited.status_code == 429, limited.text
    assert _error(limited)["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert alice.fn("GET", f"/transfers/{original}").json()["reversed_amount"] == "3.00"
    # Raised, not stored: the same key is free for the retry after the wait.
    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        stored = pg.execute(
            "select count(*) from public.idempotency_records where key = %s", [key]
        ).fetchone()
    assert stored == (0,)
    assert_invariants(stack)


# RLS and the dashboard ------------------------------------------------------------


def test_the_reversal_link_is_visible_to_the_parties_and_admins_only(stack: StackHandle) -> None:
    alice, bob = _pair(stack)
    mallory, admin = customer(stack), customer(stack, admin=True)
    original = _pay(alice, bob, "10.00")
    refund = _refund(bob, original, {"amount": "1.00"}).json()["id"]
    query = {"original_transfer_id": f"eq.{original}", "select": "reversal_transfer_id,kind"}
    for who, expected in ((alice, 1), (bob, 1), (admin, 1), (mallory, 0)):
        rows = who.select("transfer_reversals", **query)
        assert rows.status_code == 200, rows.text
        assert len(rows.json()) == expected
        if expected:
            assert rows.json()[0] == {"reversal_transfer_id": refund, "kind": "refund"}
    anon = httpx.get(f"{stack.rest_url}/transfer_reversals", params=query,
                     headers={"apikey": stack.anon_key})  # fmt: skip
    assert anon.status_code in (401, 403) or anon.json() == []


def test_writes_to_the_reversal_link_through_postgrest_are_refused(stack: StackHandle) -> None:
    alice, bob = _pair(stack)
    original = _pay(alice, bob, "10.00")
    refund = _refund(bob, original, {"amount": "1.00"}).json()["id"]
    with httpx.Client(base_url=stack.rest_url, timeout=10) as http:
        headers = {"apikey": stack.anon_key, "Authorization": f"Bearer {bob.token}"}
        where = {"reversal_transfer_id": f"eq.{refund}"}
        attempts = [
            http.post("/transfer_reversals", headers=headers, json={
                "reversal_transfer_id": original, "original_transfer_id": refund,
                "amount": 1, "kind": "refund"}),
            http.patch("/transfer_reversals", params=where, headers=headers, json={"amount": 1000}),
            http.delete("/transfer_reversals", params=where, headers=headers),
        ]  # fmt: skip
    for attempt in attempts:
        assert attempt.status_code in (401, 403), attempt.text


@pytest.mark.parametrize(
    "sql",
    [
        "update public.transfer_reversals set amount = amount * 100"
        " where reversal_transfer_id = %s",
        "delete from public.transfer_reversals where reversal_transfer_id = %s",
        "truncate public.transfer_reversals",
        "insert into public.transfer_reversals (reversal_transfer_id, original_transfer_id,"
        " amount, kind) select original_transfer_id, reversal_transfer_id, 1, 'reversal'"
        " from public.transfer_reversals where reversal_transfer_id = %s",
    ],
)
def test_the_dashboard_cannot_edit_the_reversal_link(stack: StackHandle, sql: str) -> None:
    alice, bob = _pair(stack)
    original = _pay(alice, bob, "10.00")
    refund = _refund(bob, original, {"amount": "1.00"}).json()["id"]
    with pytest.raises(psycopg.Error) as refused, dashboard(stack) as pg:
        pg.execute(sql, [refund] if "%s" in sql else [])
    assert refused.value.sqlstate == "BK011"
