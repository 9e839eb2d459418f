"""The payments webhook end to end: Stripe-signed events sent to the running functions,
applied by `apply_payment_event` (supabase/schemas/55_payments.sql) as service_role.

Events are signed with the stripe library's own `WebhookSignature.generate_signature_header`
and the local stack's secrets (scripts/localstack/config.py: the current one and one being
rotated out). Every test checks the ledger's invariants, sql/checks/14 included, after it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest
from stripe import WebhookSignature

from scripts.localstack.config import (
    LOCAL_STRIPE_WEBHOOK_PREVIOUS_SECRET,
    LOCAL_STRIPE_WEBHOOK_SECRET,
)
from tests.conftest import ROOT, StackHandle
from tests.conftest import TestUser as User
from tests.integration.loans_support import (
    RestFactory,
    assert_invariants,
    balance,
    deposit,
    open_account,
    system_account,
)

pytestmark = pytest.mark.integration

PATH = "/webhooks/payments"


@pytest.fixture
def http(stack: StackHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.functions_url, timeout=30) as client:
        yield client


@pytest.fixture
def customer_account(pg: psycopg.Connection[Any], make_user: Callable[..., User]) -> str:
    return open_account(pg, make_user().id)


@pytest.fixture(autouse=True)
def invariants_hold_afterwards(pg: psycopg.Connection[Any]) -> Iterator[None]:
    yield
    assert_invariants(pg)


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def payment(account_id: str, amount: int, *, intent: str | None = None, **item: Any) -> Any:
    return {
        "id": _id("evt"),
        "object": "event",
        "type": "payment_intent.succeeded",
        "livemode": False,
        "data": {"object": {
            "id": intent or _id("pi"), "object": "payment_intent", "amount": amount,
            "amount_received": amount, "currency": "usd",
            "metadata": {"account_id": account_id}, **item,
        }},
    }  # fmt: skip


def refund(intent: str, amount_refunded: int, currency: str = "usd") -> Any:
    return {
        "id": _id("evt"),
        "object": "event",
        "type": "charge.refunded",
        "livemode": False,
        "data": {"object": {
            "id": _id("ch"), "object": "charge", "payment_intent": intent,
            "amount_refunded": amount_refunded, "currency": currency,
        }},
    }  # fmt: skip


def send(
    http: httpx.Client,
    event: Any,
    secret: str = LOCAL_STRIPE_WEBHOOK_SECRET,
    timestamp: int | None = None,
) -> httpx.Response:
    payload = json.dumps(event)
    header = WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp)
    return http.post(
        PATH,
        content=payload,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


def outcome(http: httpx.Client, event: Any, **kwargs: Any) -> dict[str, Any]:
    response = send(http, event, **kwargs)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def recorded(pg: psycopg.Connection[Any], event_id: str) -> tuple[Any, ...] | None:
    return pg.execute(
        "select status, reason, transfer_id from public.payment_events where event_id = %s",
        [event_id],
    ).fetchone()


def transfers_of(pg: psycopg.Connection[Any], account_id: str) -> list[tuple[str, int]]:
    rows = pg.execute(
        "select kind, amount from public.transfers"
        " where %s in (from_account_id, to_account_id) order by created_at",
        [account_id],
    ).fetchall()
    return [(str(kind), int(amount)) for kind, amount in rows]


def test_a_signed_payment_deposits_into_the_metadata_account_from_the_provider_account(
    http: httpx.Client, pg: psycopg.Connection[Any], customer_account: str
) -> None:
    event = payment(customer_account, 1250)
    answer = outcome(http, event)
    assert (answer["status"], answer["reason"], answer["replayed"]) == ("applied", None, False)
    assert balance(pg, customer_account) == 1250
    row = pg.execute(
        "select kind, from_account_id::text, amount from public.transfers where id = %s",
        [answer["transfer_id"]],
    ).fetchone()
    assert row == ("deposit", system_account(pg, "payment_provider", "USD"), 1250)


def test_a_secret_being_rotated_out_still_verifies(
    http: httpx.Client, pg: psycopg.Connection[Any], customer_account: str
) -> None:
    event = payment(customer_account, 700)
    assert outcome(http, event, secret=LOCAL_STRIPE_WEBHOOK_PREVIOUS_SECRET)["status"] == "applied"
    assert balance(pg, customer_account) == 700


@pytest.mark.parametrize(
    ("secret", "age_seconds"),
    [
        pytest.param("whsec_not_one_of_ours_0123456789", 0, id="wrong secret"),
        pytest.param(LOCAL_STRIPE_WEBHOOK_SECRET, 301, id="stale"),
    ],
)
def test_a_bad_or_stale_signature_is_400_and_touches_nothing(
    http: httpx.Client,
    pg: psycopg.Connection[Any],
    customer_account: str,
    secret: str,
    age_seconds: int,
) -> None:
    event = payment(customer_account, 500)
    response = send(http, event, secret=secret, timestamp=int(time.time()) - age_seconds)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert recorded(pg, event["id"]) is None
    assert balance(pg, customer_account) == 0


def test_a_tampered_body_is_400(
    http: httpx.Client, pg: psycopg.Connection[Any], customer_account: str
) -> None:
    event = payment(customer_account, 500)
    header = WebhookSignature.generate_signature_header(
        json.dumps(event), LOCAL_STRIPE_WEBHOOK_SECRET
    )
    event["data"]["object"]["amount_received"] = 500_000
    response = http.post(PATH, content=json.dumps(event), headers={"Stripe-Signature": header})
    assert response.status_code == 400
    assert recorded(pg, event["id"]) is None


def test_a_redelivery_answers_the_first_outcome_and_posts_nothing(
    http: httpx.Client, pg: psycopg.Connection[Any], customer_account: str
) -> None:
    event = payment(customer_account, 900)
    first = outcome(http, event)
    again = outcome(http, event)
    assert again == {**first, "replayed": True}
    assert transfers_of(pg, customer_account) == [("deposit", 900)]


def test_sixteen_racing_deliveries_post_once(
    http: httpx.Client, pg: psycopg.Connection[Any], customer_account: str
) -> None:
    event = payment(customer_account, 4200)
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: outcome(http, event), range(16)))
    assert {answer["status"] for answer in answers} == {"applied"}
    assert sorted(answer["replayed"] for answer in answers) == [False] + [True] * 15
    assert len({answer["transfer_id"] for answer in answers}) == 1
    assert transfers_of(pg, customer_account) == [("deposit", 4200)]
    assert balance(pg, customer_account) == 4200


def test_a_second_event_for_a_deposited_payment_is_ignored(
    http: httpx.Client, pg: psycopg.Connection[Any], customer_account: str
) -> None:
    intent = _id("pi")
    assert outcome(http, payment(customer_account, 300, intent=intent))["status"] == "applied"
    second = outcome(http, payment(customer_account, 300, intent=intent))
    assert second["status"] == "ignored"
    assert transfers_of(pg, customer_account) == [("deposit", 300)]


def test_refunds_post_only_the_difference_and_never_exceed_the_deposit(
    http: httpx.Client, pg: psycopg.Connection[Any], customer_account: str
) -> None:
    intent = _id("pi")
    outcome(http, payment(customer_account, 1000, intent=intent))
    assert outcome(http, refund(intent, 300))["status"] == "applied"
    assert balance(pg, customer_account) == 700
    # amount_refunded is cumulative: 1000 after 300 takes back the other 700.
    assert outcome(http, refund(intent, 1000))["status"] == "applied"
    assert balance(pg, customer_account) == 0
    stale = outcome(http, refund(intent, 300))  # an older event arriving late
    assert stale["status"] == "ignored"
    over = outcome(http, refund(intent, 1200))
    assert over["status"] == "unapplied"
    assert "exceed its deposit" in over["reason"]
    assert transfers_of(pg, customer_account) == [
        ("deposit", 1000), ("withdrawal", 300), ("withdrawal", 700),
    ]  # fmt: skip


def test_an_over_refund_posts_nothing(
    http: httpx.Client, pg: psycopg.Connection[Any], customer_account: str
) -> None:
    intent = _id("pi")
    outcome(http, payment(customer_account, 1000, intent=intent))
    assert outcome(http, refund(intent, 1001))["status"] == "unapplied"
    assert balance(pg, customer_account) == 1000


def test_racing_refund_events_take_back_the_refunded_amount_once(
    http: httpx.Client, pg: psycopg.Connection[Any], customer_account: str
) -> None:
    intent = _id("pi")
    outcome(http, payment(customer_account, 1000, intent=intent))
    events = [refund(intent, 400) for _ in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda event: outcome(http, event), events))
    assert sorted(answer["status"] for answer in answers) == ["applied"] + ["ignored"] * 7
    assert balance(pg, customer_account) == 600


def test_a_refund_of_spent_money_is_recorded_unapplied(
    http: httpx.Client, pg: psycopg.Connection[Any], customer_account: str
) -> None:
    intent = _id("pi")
    outcome(http, payment(customer_account, 1000, intent=intent))
    pg.execute(
        "select public.admin_withdraw(%s, 9.00, 'USD', 'spent', %s)",
        [customer_account, str(uuid.uuid4())],
    )
    answer = outcome(http, refund(intent, 500))
    assert answer["status"] == "unapplied"
    assert "insufficient funds" in answer["reason"]
    assert balance(pg, customer_account) == 100


def test_a_refund_of_an_unknown_payment_is_recorded_unapplied(
    http: httpx.Client, pg: psycopg.Connection[Any]
) -> None:
    answer = outcome(http, refund(_id("pi"), 500))
    assert answer["status"] == "unapplied"
    assert "never deposited" in answer["reason"]


@pytest.mark.parametrize(
    ("metadata_account", "item", "reason"),
    [
        pytest.param(str(uuid.uuid4()), {}, "not found", id="unknown account"),
        pytest.param("acct_42", {}, "not an account id", id="not an id"),
        pytest.param(None, {"metadata": {}}, "no account_id", id="no metadata"),
        pytest.param(None, {"currency": "xxx"}, "not supported", id="unknown currency"),
        pytest.param(None, {"currency": "eur"}, "holds USD", id="other currency"),
        pytest.param(None, {"amount_received": 2**63}, "beyond", id="over a bigint"),
        pytest.param(None, {"amount_received": 1.5}, "minor units", id="fractional"),
        pytest.param(None, {"amount_received": 0}, "received nothing", id="zero"),
    ],
)
def test_an_event_that_cannot_be_applied_is_recorded_and_answered_200(
    http: httpx.Client,
    pg: psycopg.Connection[Any],
    customer_account: str,
    metadata_account: str | None,
    item: dict[str, Any],
    reason: str,
) -> None:
    event = payment(metadata_account or customer_account, 1000, **item)
    answer = outcome(http, event)
    assert answer["status"] == "unapplied"
    assert reason in answer["reason"]
    assert recorded(pg, event["id"]) == ("unapplied", answer["reason"], None)
    assert balance(pg, customer_account) == 0


def test_a_payment_close_to_the_balance_limit_is_refused_not_overflowed(
    http: httpx.Client, pg: psycopg.Connection[Any], customer_account: str
) -> None:
    intent = _id("pi")
    outcome(http, payment(customer_account, 2**62, intent=intent))
    answer = outcome(http, payment(customer_account, 2**62))
    assert answer["status"] == "unapplied"
    assert "beyond what the ledger can hold" in answer["reason"]
    assert "(46116860184273879.04 USD)" in answer["reason"]
    # Refunded in full, so the provider's account is where it was for the other tests.
    assert outcome(http, refund(intent, 2**62))["status"] == "applied"
    assert balance(pg, customer_account) == 0


def test_a_frozen_account_is_recorded_for_staff_and_listed_unapplied(
    http: httpx.Client,
    pg: psycopg.Connection[Any],
    customer_account: str,
    make_user: Callable[..., User],
) -> None:
    pg.execute("update public.accounts set status = 'frozen' where id = %s", [customer_account])
    event = payment(customer_account, 1000)
    answer = outcome(http, event)
    assert answer["status"] == "unapplied"
    assert "frozen" in answer["reason"]
    staff = {"Authorization": f"Bearer {make_user('admin').token}"}
    found: list[Any] = []
    cursor: str | None = None
    while True:  # page to the end: earlier tests left unapplied events too
        params = {"status": "unapplied", "limit": "100", **({"cursor": cursor} if cursor else {})}
        page = http.get("/admin/payments/events", params=params, headers=staff)
        assert page.status_code == 200, page.text
        found += page.json()["data"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    mine = [row for row in found if row["event_id"] == event["id"]]
    assert len(mine) == 1
    assert (mine[0]["account_id"], mine[0]["amount_minor"]) == (customer_account, 1000)
    customer = {"Authorization": f"Bearer {make_user().token}"}
    assert http.get("/admin/payments/events", headers=customer).status_code == 403


def test_other_event_types_and_live_events_are_recorded_ignored(
    http: httpx.Client, pg: psycopg.Connection[Any], customer_account: str
) -> None:
    other = {**payment(customer_account, 100), "type": "customer.created"}
    assert outcome(http, other)["status"] == "ignored"
    live = {**payment(customer_account, 100), "livemode": True}
    answer = outcome(http, live)
    assert answer["status"] == "ignored"
    assert "livemode" in answer["reason"]
    assert balance(pg, customer_account) == 0


def test_only_the_service_role_may_apply_events_and_only_admins_read_them(
    stack: StackHandle,
    rest: RestFactory,
    make_user: Callable[..., User],
    http: httpx.Client,
    customer_account: str,
) -> None:
    outcome(http, payment(customer_account, 100))
    args = {
        "p_event_id": _id("evt"), "p_event_type": "payment_intent.succeeded",
        "p_livemode": False, "p_expected_livemode": False, "p_payment_intent_id": _id("pi"),
        "p_account_id": customer_account, "p_amount": 100, "p_currency": "usd",
    }  # fmt: skip
    customer, admin = make_user(), make_user("admin")
    for token in (None, customer.token, admin.token):
        refused = rest(token).post("/rpc/apply_payment_event", json=args)
        assert refused.status_code in (401, 403, 404), refused.text
    assert rest(customer.token).get("/payment_events?select=id").json() == []
    assert rest(admin.token).get("/payment_events?select=id&limit=1").json() != []


def test_the_dashboard_cannot_edit_or_delete_payment_events(
    http: httpx.Client, pg: psycopg.Connection[Any], customer_account: str
) -> None:
    event = payment(customer_account, 100)
    outcome(http, event)
    for statement in (
        "update public.payment_events set status = 'ignored' where event_id = %s",
        "delete from public.payment_events where event_id = %s",
    ):
        with pytest.raises(psycopg.Error, match="append-only"):
            pg.execute(statement, [event["id"]])
    with pytest.raises(psycopg.Error, match="written only"):
        pg.execute(
            "insert into public.payment_events (event_id, event_type, livemode, status)"
            " values ('evt_forged', 'x', false, 'ignored')"
        )


def test_staff_verify_the_ledger_and_find_an_edited_entry(
    http: httpx.Client,
    pg: psycopg.Connection[Any],
    make_user: Callable[..., User],
    customer_account: str,
) -> None:
    staff = {"Authorization": f"Bearer {make_user('admin').token}"}
    deposit(pg, customer_account, 5_000)
    clean = http.get("/admin/ledger/verify", headers=staff)
    assert clean.status_code == 200, clean.text
    assert clean.json() == {"ok": True, "breaks": [], "truncated": False}
    entry = pg.execute(
        "select id, description from public.entries where account_id = %s", [customer_account]
    ).fetchone()
    assert entry is not None
    edit = "update public.entries set description = %s where id = %s"
    # A superuser past the guards, committed so the function's own connection sees it.
    with pg.transaction():
        pg.execute("set local session_replication_role = replica")
        pg.execute(edit, ["edited by a superuser", entry[0]])
    try:
        broken = http.get("/admin/ledger/verify", headers=staff).json()
    finally:
        with pg.transaction():
            pg.execute("set local session_replication_role = replica")
            pg.execute(edit, [entry[1], entry[0]])
    assert broken["ok"] is False
    assert [(b["account_id"], b["entry_id"], b["problem"]) for b in broken["breaks"]] == [
        (customer_account, entry[0], "entry_altered")
    ]
    assert http.get("/admin/ledger/verify", headers=staff).json()["ok"] is True
    customer = {"Authorization": f"Bearer {make_user().token}"}
    assert http.get("/admin/ledger/verify", headers=customer).status_code == 403


def test_the_payments_check_names_what_breaks_it(
    http: httpx.Client, pg: psycopg.Connection[Any], customer_account: str
) -> None:
    intent = _id("pi")
    outcome(http, payment(customer_account, 1000, intent=intent))
    outcome(http, refund(intent, 400))
    provider = system_account(pg, "payment_provider", "USD")
    check = (ROOT / "sql" / "checks" / "14_payment_events_match_transfers.sql").read_text()
    forge_transfer = (
        "insert into public.transfers (kind, from_account_id, to_account_id, amount, currency)"
        " values (%s, %s, %s, %s, 'USD') returning id::text"
    )
    forge_event = (
        "insert into public.payment_events (event_id, event_type, livemode, status,"
        " payment_intent_id, account_id, amount_minor, currency, transfer_id)"
        " values (%s, %s, false, 'applied', %s, %s, %s, 'USD', %s)"
    )

    def forged(kind: str, source: str, target: str, amount: int) -> str:
        row = pg.execute(forge_transfer, [kind, source, target, amount]).fetchone()
        assert row is not None
        return str(row[0])

    # A superuser past the guards, rolled back so the ledger stays whole.
    with pg.transaction():
        pg.execute("set local session_replication_role = replica")
        assert pg.execute(check).fetchall() == []
        over = forged("withdrawal", customer_account, provider, 700)
        stray = forged("withdrawal", customer_account, provider, 5)
        short = forged("deposit", provider, customer_account, 2)
        pg.execute(
            forge_event, ["evt_over", "charge.refunded", intent, customer_account, 1100, over]
        )
        pg.execute(
            forge_event,
            ["evt_short", "payment_intent.succeeded", _id("pi"), customer_account, 3, short],
        )
        found = {(str(subject), str(problem)) for subject, problem in pg.execute(check).fetchall()}
        raise psycopg.Rollback()
    assert found == {
        (stray, "provider_transfer_without_event"),
        (intent, "refunds_exceed_deposit"),
        ("evt_short", "payment_intent.succeeded"),
    }
