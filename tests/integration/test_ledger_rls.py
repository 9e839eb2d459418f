"""Row-level security and grants, seen as a frontend sees them: through PostgREST.

One small world per module: customers A and B, each with two USD accounts,
money deposited, one transfer inside each customer's own accounts and one
between them, and an admin. The matrix then asks every table, as anon, A, B
and the admin, to select, insert, update and delete, and checks the outcome
of each cell: what a select may see, and that every write is refused.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from functions.transfers import TRANSFER_COLUMNS
from tests.conftest import StackHandle, stack_module

pytestmark = pytest.mark.integration

TABLES = (
    "currencies",
    "profiles",
    "accounts",
    "transfers",
    "entries",
    "idempotency_records",
    "transfer_limits",
    "audit_log",
    "holds",
)
# A column each table has, for the write attempts (a missing column would be
# refused by PostgREST before Postgres could refuse the write).
WRITE_COLUMN = {
    "currencies": ("name", "Changed"),
    "profiles": ("email", "x@example.com"),
    "accounts": ("nickname", "mine now"),
    "transfers": ("description", "changed"),
    "entries": ("description", "changed"),
    "idempotency_records": ("key", "changed"),
    "transfer_limits": ("currency", "EUR"),
    "audit_log": ("table_name", "changed"),
    "holds": ("description", "changed"),
}
VIEWERS = ("anon", "customer_a", "customer_b", "admin")


@dataclass
class Person:
    id: str
    token: str
    accounts: list[str]


@dataclass
class World:
    a: Person
    b: Person
    admin: Person
    rest_url: str
    anon_key: str
    transfers: dict[str, str]  # name -> transfer id
    keys: dict[str, str]  # person name -> an idempotency key they used
    holds: dict[str, str]  # hold id -> whose account it is placed on ("A", "B")

    def client(self, viewer: str) -> httpx.Client:
        headers = {"apikey": self.anon_key}
        token = {"customer_a": self.a.token, "customer_b": self.b.token, "admin": self.admin.token}
        if viewer in token:
            headers["Authorization"] = f"Bearer {token[viewer]}"
        return httpx.Client(base_url=self.rest_url, headers=headers, timeout=10)


def _person(stack: StackHandle, role: str = "customer") -> Person:
    email = f"rls-{role}-{uuid.uuid4().hex[:10]}@example.com"
    record = stack_module.create_user(stack.config, email, admin=role == "admin")
    return Person(str(record["id"]), stack_module.mint_token(stack.config, record), [])


def _rpc(client: httpx.Client, name: str, **args: Any) -> httpx.Response:
    return client.post(f"/rpc/{name}", json=args)


@pytest.fixture(scope="module")
def world(stack: StackHandle) -> World:
    a, b, admin = _person(stack), _person(stack), _person(stack, "admin")
    headers = {"apikey": stack.anon_key}
    transfers: dict[str, str] = {}
    keys: dict[str, str] = {}
    with httpx.Client(base_url=stack.rest_url, headers=headers, timeout=10) as http:
        for person in (a, b):
            auth = {"Authorization": f"Bearer {person.token}"}
            for kind in ("checking", "savings"):
                opened = http.post(
                    "/rpc/open_account", json={"p_currency": "USD", "p_kind": kind}, headers=auth
                )
                assert opened.status_code == 200, opened.text
                person.accounts.append(opened.json()["id"])
        admin_auth = {"Authorization": f"Bearer {admin.token}"}
        for person in (a, b):
            deposit = http.post(
                "/rpc/admin_deposit",
                json={
                    "p_account_id": person.accounts[0], "p_amount": "100.00",
                    "p_currency": "USD", "p_reference": "rls world",
                    "p_idempotency_key": str(uuid.uuid4()),
                },
                headers=admin_auth,
            )  # fmt: skip
            assert deposit.status_code == 200, deposit.text
        for name, person, to in (
            ("a_internal", a, a.accounts[1]),
            ("b_internal", b, b.accounts[1]),
            ("a_to_b", a, b.accounts[0]),
        ):
            key = f"rls-{name}-{uuid.uuid4()}"
            moved = http.post(
                "/rpc/transfer_funds",
                json={
                    "p_from_account_id": person.accounts[0], "p_to_account_id": to,
                    "p_amount": "1.00", "p_currency": "USD", "p_idempotency_key": key,
                },
                headers={"Authorization": f"Bearer {person.token}"},
            )  # fmt: skip
            assert moved.status_code == 200, moved.text
            transfers[name] = moved.json()["id"]
            keys.setdefault("customer_a" if person is a else "customer_b", key)
        # A's hold pays B: the receiver of a hold does not see it until it is captured.
        holds: dict[str, str] = {}
        for label, person, to in (("A", a, b.accounts[0]), ("B", b, b.accounts[1])):
            placed = http.post(
                "/rpc/place_hold",
                json={
                    "p_from_account_id": person.accounts[0], "p_to_account_id": to,
                    "p_amount": "2.00", "p_currency": "USD",
                    "p_idempotency_key": f"rls-hold-{uuid.uuid4()}",
                },
                headers={"Authorization": f"Bearer {person.token}"},
            )  # fmt: skip
            assert placed.status_code == 200, placed.text
            holds[placed.json()["id"]] = label
    return World(a, b, admin, stack.rest_url, stack.anon_key, transfers, keys, holds)


def _owners(world: World, table: str, rows: list[dict[str, Any]]) -> set[str]:
    """Label the visible rows of the world: "A", "B", "A+B transfer"; others are ignored."""
    a, b = world.a, world.b
    by_account = {**{i: "A" for i in a.accounts}, **{i: "B" for i in b.accounts}}
    by_user = {a.id: "A", b.id: "B"}
    by_transfer = {
        world.transfers["a_internal"]: "A",
        world.transfers["b_internal"]: "B",
        world.transfers["a_to_b"]: "A+B transfer",
    }
    label = {
        "profiles": lambda row: by_user.get(row["id"]),
        "accounts": lambda row: by_account.get(row["id"]),
        "transfers": lambda row: by_transfer.get(row["id"]),
        "entries": lambda row: by_account.get(row["account_id"]),
        "idempotency_records": lambda row: by_user.get(row["caller_id"]),
        "transfer_limits": lambda row: by_user.get(row["user_id"]),
        "audit_log": lambda row: by_account.get(row["row_id"]),
        "holds": lambda row: world.holds.get(row["id"]),
    }[table]
    return {name for name in map(label, rows) if name is not None}


def _world_filter(world: World, table: str) -> dict[str, str]:
    """Only the world's rows: the shared test database holds other tests' rows too."""
    accounts = ",".join(world.a.accounts + world.b.accounts)
    users = f"{world.a.id},{world.b.id}"
    column, values = {
        "currencies": ("code", "USD"),
        "profiles": ("id", users),
        "accounts": ("id", accounts),
        "transfers": ("id", ",".join(world.transfers.values())),
        "entries": ("account_id", accounts),
        "idempotency_records": ("caller_id", users),
        "transfer_limits": ("user_id", users),
        "audit_log": ("row_id", accounts),
        "holds": ("id", ",".join(world.holds)),
    }[table]
    return {column: f"in.({values})"}


# What each viewer may see of each table: the world's A and B rows visible to them.
EXPECTED_VISIBLE = {
    ("profiles", "customer_a"): {"A"},
    ("profiles", "customer_b"): {"B"},
    ("profiles", "admin"): {"A", "B"},
    ("accounts", "customer_a"): {"A"},
    ("accounts", "customer_b"): {"B"},
    ("accounts", "admin"): {"A", "B"},
    ("transfers", "customer_a"): {"A", "A+B transfer"},
    ("transfers", "customer_b"): {"B", "A+B transfer"},
    ("transfers", "admin"): {"A", "B", "A+B transfer"},
    ("entries", "customer_a"): {"A"},
    ("entries", "customer_b"): {"B"},
    ("entries", "admin"): {"A", "B"},
    ("idempotency_records", "customer_a"): {"A"},
    ("idempotency_records", "customer_b"): {"B"},
    ("idempotency_records", "admin"): {"A", "B"},
    ("transfer_limits", "customer_a"): {"A"},
    ("transfer_limits", "customer_b"): {"B"},
    ("transfer_limits", "admin"): {"A", "B"},
    ("audit_log", "customer_a"): set(),
    ("audit_log", "customer_b"): set(),
    ("audit_log", "admin"): {"A", "B"},
    ("holds", "customer_a"): {"A"},
    ("holds", "customer_b"): {"B"},
    ("holds", "admin"): {"A", "B"},
}


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("table", TABLES)
def test_select_shows_each_viewer_exactly_the_rows_they_may_read(
    world: World, table: str, viewer: str
) -> None:
    # transfers.initiated_by is not readable by users, so `*` is refused there
    # (tests/integration/test_security_findings.py); they name the columns the
    # functions read.
    columns = TRANSFER_COLUMNS if table == "transfers" else "*"
    with world.client(viewer) as http:
        response = http.get(f"/{table}", params={"select": columns, **_world_filter(world, table)})
    if table == "currencies":
        assert response.status_code == 200
        assert "USD" in {row["code"] for row in response.json()}
        return
    if viewer == "anon":
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "42501"
        return
    assert response.status_code == 200, response.text
    assert _owners(world, table, response.json()) == EXPECTED_VISIBLE[(table, viewer)]


def _refused(response: httpx.Response, viewer: str) -> None:
    assert response.status_code == (401 if viewer == "anon" else 403), response.text
    assert response.json()["code"] == "42501"


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("table", TABLES)
def test_insert_through_postgrest_is_refused_for_everyone(
    world: World, table: str, viewer: str
) -> None:
    column, value = WRITE_COLUMN[table]
    with world.client(viewer) as http:
        _refused(http.post(f"/{table}", json={column: value}), viewer)


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("table", TABLES)
def test_update_through_postgrest_is_refused_for_everyone(
    world: World, table: str, viewer: str
) -> None:
    column, value = WRITE_COLUMN[table]
    with world.client(viewer) as http:
        _refused(http.patch(f"/{table}", params={column: "not.is.null"}, json={column: value}),
                 viewer)  # fmt: skip


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("table", TABLES)
def test_delete_through_postgrest_is_refused_for_everyone(
    world: World, table: str, viewer: str
) -> None:
    column, _ = WRITE_COLUMN[table]
    with world.client(viewer) as http:
        _refused(http.delete(f"/{table}", params={column: "not.is.null"}), viewer)


def _balances(stack: StackHandle, ids: list[str]) -> dict[str, int]:
    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        rows = pg.execute(
            "select id::text, balance from public.accounts where id = any(%s::uuid[])", [ids]
        ).fetchall()
    return dict(rows)


def test_a_customer_cannot_move_another_customers_money(world: World, stack: StackHandle) -> None:
    before = _balances(stack, world.b.accounts)
    with world.client("customer_a") as http:
        response = _rpc(
            http, "transfer_funds", p_from_account_id=world.b.accounts[0],
            p_to_account_id=world.a.accounts[0], p_amount="5.00", p_currency="USD",
            p_idempotency_key=str(uuid.uuid4()),
        )  # fmt: skip
    assert response.status_code == 404
    assert response.json()["code"] == "BK005"
    assert world.b.accounts[0] in response.json()["message"]
    assert _balances(stack, world.b.accounts) == before


def test_another_customers_account_is_not_found_rather_than_forbidden(world: World) -> None:
    with world.client("customer_a") as http:
        response = http.get("/accounts", params={"id": f"eq.{world.b.accounts[0]}"})
    assert response.status_code == 200
    assert response.json() == []


def test_a_customer_cannot_change_a_balance(world: World, stack: StackHandle) -> None:
    before = _balances(stack, world.a.accounts)
    with world.client("customer_a") as http:
        response = http.patch(
            "/accounts", params={"id": f"eq.{world.a.accounts[0]}"}, json={"balance": 10**12}
        )
    _refused(response, "customer_a")
    assert _balances(stack, world.a.accounts) == before


def test_user_metadata_saying_admin_does_not_make_an_admin(
    world: World, stack: StackHandle, make_user: Any, rest: Any
) -> None:
    pretender = make_user(user_metadata={"role": "admin"})
    http = rest(pretender.token)
    assert http.get("/accounts", params={"select": "id"}).json() == []
    assert http.get("/audit_log").json() == []
    frozen = _rpc(http, "admin_freeze_account", p_account_id=world.a.accounts[0])
    assert frozen.json()["code"] == "BK010"
    deposit = _rpc(
        http, "admin_deposit", p_account_id=world.a.accounts[0], p_amount="1.00",
        p_currency="USD", p_reference="nope", p_idempotency_key=str(uuid.uuid4()),
    )  # fmt: skip
    assert deposit.json()["code"] == "BK010"


@pytest.mark.parametrize(
    "name",
    ["post_transfer", "move_cash", "is_admin", "is_staff", "refuse", "claim_idempotency_key",
     "set_account_status", "create_profile_for_new_user", "next_account_number",
     "release_expired_holds", "lock_open_hold", "visible_hold", "hold_json"],
)  # fmt: skip
def test_internal_functions_are_not_reachable_through_postgrest(world: World, name: str) -> None:
    with world.client("customer_a") as http:
        response = http.post(f"/rpc/{name}", json={})
    assert response.status_code == 404
    assert response.json()["code"] == "PGRST202"


@pytest.mark.parametrize("viewer", ["anon", "customer_a", "admin"])
def test_the_private_schema_is_refused_as_a_profile(world: World, viewer: str) -> None:
    with world.client(viewer) as http:
        called = http.post(
            "/rpc/transfer_funds",
            json={
                "p_from_account_id": world.b.accounts[0], "p_to_account_id": world.a.accounts[0],
                "p_amount": "1.00", "p_currency": "USD", "p_idempotency_key": "x",
                "p_description": None,
            },
            headers={"Content-Profile": "private"},
        )  # fmt: skip
        read = http.get("/accounts", headers={"Accept-Profile": "private"})
    for response in (called, read):
        assert response.status_code == 406, response.text
        assert response.json()["code"] == "PGRST106"


def test_anon_cannot_call_the_ledger_rpcs(world: World) -> None:
    calls = {
        "transfer_funds": {
            "p_from_account_id": world.a.accounts[0], "p_to_account_id": world.b.accounts[0],
            "p_amount": "1.00", "p_currency": "USD", "p_idempotency_key": "anon",
        },
        "open_account": {"p_currency": "USD", "p_kind": "checking"},
        "admin_freeze_account": {"p_account_id": world.a.accounts[0]},
        "place_hold": {
            "p_from_account_id": world.a.accounts[0], "p_to_account_id": world.b.accounts[0],
            "p_amount": "1.00", "p_currency": "USD", "p_idempotency_key": "anon",
        },
        "capture_hold": {"p_hold_id": next(iter(world.holds))},
        "void_hold": {"p_hold_id": next(iter(world.holds))},
        "expire_holds": {},
    }  # fmt: skip
    with world.client("anon") as http:
        for name, args in calls.items():
            response = http.post(f"/rpc/{name}", json=args)
            assert response.status_code == 401, (name, response.text)
            assert response.json()["code"] == "42501"
