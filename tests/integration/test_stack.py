"""The local stack behaves like a hosted Supabase project where the project relies on it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import psycopg
import pytest

from scripts.localstack import cli, config, gateway, postgres
from tests.conftest import ROOT, StackHandle, stack_module

pytestmark = pytest.mark.integration

WHOAMI = """
create or replace function public.test_whoami() returns jsonb
language sql stable security invoker set search_path = ''
as $$ select jsonb_build_object('uid', auth.uid(), 'role', auth.role(),
                                'email', auth.email(), 'jwt', auth.jwt()) $$;
notify pgrst, 'reload schema';
"""


@pytest.fixture
def whoami(pg: psycopg.Connection[Any], rest: Any) -> Iterator[None]:
    pg.execute(WHOAMI)
    _wait_for_rpc(rest(None), "test_whoami")
    yield
    pg.execute("drop function public.test_whoami(); notify pgrst, 'reload schema';")


def _wait_for_rpc(client: Any, name: str) -> None:
    """PostgREST reloads its schema cache asynchronously after the NOTIFY."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if client.post(f"/rpc/{name}").status_code != 404:
            return
        time.sleep(0.05)
    raise AssertionError(f"/rpc/{name} never appeared")


def test_postgrest_answers_without_a_token(stack: StackHandle, rest: Any) -> None:
    response = rest(None).get("/")
    assert response.status_code == 200
    assert response.json()["info"]["version"].startswith("12.")


def test_postgrest_answers_with_a_user_token(rest: Any, make_user: Any) -> None:
    user = make_user()
    assert rest(user.token).get("/").status_code == 200


def test_auth_helpers_read_the_token_claims_through_postgrest(
    whoami: None, rest: Any, make_user: Any
) -> None:
    user = make_user()
    body = rest(user.token).post("/rpc/test_whoami").json()
    assert body["uid"] == user.id
    assert body["role"] == "authenticated"
    assert body["email"] == user.email
    assert body["jwt"]["sub"] == user.id
    assert body["jwt"]["aud"] == "authenticated"
    assert body["jwt"]["app_metadata"]["provider"] == "email"


def test_anon_key_gives_the_anon_role_and_no_user(whoami: None, rest: Any) -> None:
    body = rest(None).post("/rpc/test_whoami").json()
    assert body == {"uid": None, "role": "anon", "email": None, "jwt": body["jwt"]}
    assert body["jwt"]["role"] == "anon"


def test_a_token_signed_with_the_stacks_es256_key_is_accepted(
    whoami: None, rest: Any, make_user: Any
) -> None:
    user = make_user(algorithm="ES256")
    assert jwt.get_unverified_header(user.token)["alg"] == "ES256"
    response = rest(user.token).post("/rpc/test_whoami")
    assert response.status_code == 200
    assert response.json()["uid"] == user.id


def _claims(user_id: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": user_id, "role": "authenticated", "aud": "authenticated",
              "iat": now, "exp": now + 600}  # fmt: skip
    claims.update(overrides)
    return claims


def _unsigned(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, key=None, algorithm="none")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("case", "make_token"),
    [
        ("expired", lambda s, uid: jwt.encode(
            _claims(uid, exp=int(time.time()) - 60), s.jwt_secret, algorithm="HS256")),
        ("wrong secret", lambda s, uid: jwt.encode(
            _claims(uid), "another-secret-of-at-least-thirty-two-chars!", algorithm="HS256")),
        ("alg none", lambda s, uid: _unsigned(_claims(uid))),
        ("garbage", lambda s, uid: "not-a-jwt"),
    ],
)  # fmt: skip
def test_postgrest_refuses_a_bad_token_with_401(
    stack: StackHandle, rest: Any, make_user: Any, case: str, make_token: Any
) -> None:
    user = make_user()
    response = rest(make_token(stack, user.id)).get("/")
    assert response.status_code == 401, case


# Migrations ------------------------------------------------------------------------------
@pytest.fixture
def empty_database(stack: StackHandle, pg: psycopg.Connection[Any]) -> Iterator[Any]:
    """A second database in the test cluster, bootstrapped like a new hosted project."""
    name = "migration_check"
    pg.execute(f"drop database if exists {name}")
    pg.execute(f"create database {name}")
    url = stack.pg_dsn.rsplit("/", 1)[0] + f"/{name}"
    for path in sorted((ROOT / "sql" / "bootstrap").glob("*.sql")):
        subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-f", str(path), url],
                       check=True, capture_output=True)  # fmt: skip
    yield url
    pg.execute(f"drop database if exists {name} with (force)")


def _cli(*args: str, workdir: Path = ROOT) -> subprocess.CompletedProcess[str]:
    argv = [str(stack_module.SUPABASE_BIN), *args, "--workdir", str(workdir)]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)


def test_supabase_advisors_pass_on_the_bootstrap_alone(empty_database: str) -> None:
    result = _cli("db", "advisors", f"--remote={empty_database}", "--type", "all",
                  "--fail-on", "warn", "--yes")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_migrations_apply_on_an_empty_database_and_a_second_run_applies_nothing(
    empty_database: str,
) -> None:
    first = _cli("migration", "up", f"--remote={empty_database}", "--yes")
    assert first.returncode == 0, first.stdout + first.stderr
    migrations = sorted((ROOT / "supabase" / "migrations").glob("*.sql"))
    for path in migrations:
        assert f"Applying migration {path.name}" in first.stdout + first.stderr
    second = _cli("migration", "up", f"--remote={empty_database}", "--yes")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "up to date" in second.stdout + second.stderr
    assert "Applying migration" not in second.stdout + second.stderr
    with psycopg.connect(empty_database) as connection:
        applied = connection.execute(
            "select count(*) from supabase_migrations.schema_migrations"
        ).fetchone()
    assert applied == (len(migrations),)


def test_a_broken_migration_stops_naming_the_file_and_leaves_nothing_of_it(
    stack: StackHandle, empty_database: str, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    (project / "supabase" / "migrations").mkdir(parents=True)
    shutil.copy(ROOT / "supabase" / "config.toml", project / "supabase" / "config.toml")
    (project / "supabase" / "migrations" / "20000101000000_half_broken.sql").write_text(
        "create table public.half_applied (id int);\nselect 1 / 0;\n"
    )
    with pytest.raises(stack_module.StackError) as failure:
        stack_module.migrate(stack.config, workdir=project, db_url=empty_database)
    message = str(failure.value)
    assert "20000101000000_half_broken.sql" in message
    assert "division by zero" in message
    with psycopg.connect(empty_database) as connection:
        exists = connection.execute("select to_regclass('public.half_applied')").fetchone()
    assert exists == (None,)


# Lifecycle -------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def scratch_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A throwaway stack on free ports, for tests that start and stop one."""
    for part in ("DB", "REST", "FUNCTIONS", "GATEWAY"):
        monkeypatch.setenv(f"STACK_SCRATCH_{part}_PORT", str(_free_port()))
    config = stack_module.Stack.from_env("scratch")
    yield config
    stack_module.reset(config)


def _pids_of(config: Any) -> list[int]:
    marker = str(config.dir)
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            found.append(int(proc.name))
    return found


def test_stop_leaves_no_process_and_no_port_open_even_after_a_crash(scratch_stack: Any) -> None:
    stack_module.up(scratch_stack, functions=False)
    assert stack_module.is_up(scratch_stack, functions=False)
    assert _pids_of(scratch_stack)
    postgrest_pid = int((scratch_stack.run_dir / "postgrest.pid").read_text())
    os.kill(postgrest_pid, 9)  # one component crashes
    stack_module.down(scratch_stack)
    deadline = time.monotonic() + 5
    while _pids_of(scratch_stack) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _pids_of(scratch_stack) == []
    status = stack_module.status(scratch_stack)
    assert not status["db_port_open"]
    assert not status["rest_port_open"]
    assert not status["gateway_port_open"]


def test_a_second_up_finds_the_first_and_changes_nothing(scratch_stack: Any) -> None:
    assert stack_module.up(scratch_stack, functions=False) is True
    pids = [
        (scratch_stack.run_dir / f"{name}.pid").read_text() for name in ("postgrest", "gateway")
    ]
    assert stack_module.up(scratch_stack, functions=False) is False
    after = [
        (scratch_stack.run_dir / f"{name}.pid").read_text() for name in ("postgrest", "gateway")
    ]
    assert after == pids


def test_a_port_in_use_stops_the_start_naming_the_port_and_its_variable(
    scratch_stack: Any,
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", scratch_stack.db_port))
        squatter.listen()
        with pytest.raises(stack_module.StackError) as failure:
            stack_module.up(scratch_stack, functions=False)
    assert str(scratch_stack.db_port) in str(failure.value)
    assert "STACK_SCRATCH_DB_PORT" in str(failure.value)


def test_the_user_command_refuses_a_database_that_is_not_local(
    stack: StackHandle, pg: psycopg.Connection[Any]
) -> None:
    pg.execute("alter database postgres reset app.local_stack")
    try:
        with pytest.raises(stack_module.StackError, match="not a local stack"):
            stack_module.create_user(stack.config, "nobody@example.com")
    finally:
        pg.execute("alter database postgres set app.local_stack = 'on'")
    count = pg.execute("select count(*) from auth.users where email = 'nobody@example.com'")
    assert count.fetchone() == (0,)


def test_user_tokens_carry_the_claims_supabase_auth_puts_in_one(
    stack: StackHandle, make_user: Any
) -> None:
    admin = make_user(role="admin")
    claims = jwt.decode(admin.token, stack.jwt_secret, algorithms=["HS256"],
                        audience="authenticated")  # fmt: skip
    expected = {"iss", "sub", "aud", "exp", "iat", "role", "email", "phone", "app_metadata",
                "user_metadata", "aal", "amr", "session_id", "is_anonymous"}  # fmt: skip
    assert expected <= set(claims)
    assert claims["app_metadata"]["role"] == "admin"
    assert claims["role"] == "authenticated"


# What the stack tells its users ---------------------------------------------------------------
def _stack_cli(
    stack: StackHandle, *args: str, python: tuple[str, ...] = (sys.executable,)
) -> subprocess.CompletedProcess[str]:
    """scripts/stack.py as a user runs it, on the test stack's ports."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("STACK_")}
    config = stack.config
    env.update(
        STACK_TEST_DB_PORT=str(config.db_port), STACK_TEST_REST_PORT=str(config.rest_port),
        STACK_TEST_FUNCTIONS_PORT=str(config.functions_port),
        STACK_TEST_GATEWAY_PORT=str(config.gateway_port),
    )  # fmt: skip
    argv = [*python, str(ROOT / "scripts" / "stack.py"), "--name", "test", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)


def test_status_prints_the_urls_and_keys_like_supabase_status(stack: StackHandle) -> None:
    result = _stack_cli(stack, "status")
    assert result.returncode == 0, result.stderr
    lines = dict(line.strip().split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    assert lines["API URL"] == stack.api_url
    assert lines["REST URL"] == f"{stack.api_url}/rest/v1"
    assert lines["Functions URL"] == f"{stack.api_url}/functions/v1"
    assert lines["JWKS URL"] == f"{stack.api_url}/auth/v1/.well-known/jwks.json"
    assert lines["DB URL"] == stack.pg_dsn
    assert lines["anon key"] == stack.anon_key
    assert lines["service_role key"] == stack.service_key
    assert "running postgres, postgrest, gateway, functions" in result.stdout


def test_env_prints_a_frontends_dotenv_lines_without_any_secret(stack: StackHandle) -> None:
    result = _stack_cli(stack, "env", "--frontend", "--format", "dotenv", "--prefix", "VITE_")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f'VITE_SUPABASE_URL="{stack.api_url}"',
        f'VITE_SUPABASE_ANON_KEY="{stack.anon_key}"',
        f'VITE_SUPABASE_FUNCTIONS_URL="{stack.api_url}/functions/v1"',
    ]
    for secret in (stack.service_key, stack.jwt_secret, stack.config.db_password + "@"):
        assert secret not in result.stdout


def test_env_for_the_functions_points_them_at_the_gateway_and_postgrest_directly(
    stack: StackHandle,
) -> None:
    result = _stack_cli(stack, "env", "--format", "json")
    assert result.returncode == 0, result.stderr
    env = json.loads(result.stdout)
    assert env["SUPABASE_URL"] == stack.api_url
    assert env["POSTGREST_URL"] == stack.rest_url


def test_the_user_command_works_from_outside_the_virtualenv(stack: StackHandle) -> None:
    system_python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    assert system_python is not None
    # -S: without site-packages, as on a machine whose Python has no PyJWT.
    bare = (system_python, "-S")
    assert subprocess.run([*bare, "-c", "import jwt"], capture_output=True).returncode != 0
    result = _stack_cli(stack, "user", "--email", "outside@example.com", python=bare)
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), stack.jwt_secret, algorithms=["HS256"],
                        audience="authenticated")  # fmt: skip
    assert claims["email"] == "outside@example.com"


def test_asking_for_an_admin_makes_an_existing_customer_one(
    stack: StackHandle, make_user: Any
) -> None:
    customer = make_user()
    assert "role" not in customer.record["app_metadata"]
    result = _stack_cli(stack, "user", "--email", customer.email, "--admin")
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), stack.jwt_secret, algorithms=["HS256"],
                        audience="authenticated")  # fmt: skip
    assert claims["sub"] == customer.id
    assert claims["app_metadata"]["role"] == "admin"
    # Never the reverse: asking again without --admin leaves the admin an admin.
    again = stack_module.create_user(stack.config, customer.email)
    assert again["app_metadata"]["role"] == "admin"


def test_commands_that_need_the_stack_say_how_to_start_it(
    scratch_stack: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACK_NAME", "scratch")
    for command in (["user", "--email", "x@example.com"], ["migrate"]):
        assert cli.main(command) == 1
        assert "run `scripts/stack.py --name scratch up` first" in capsys.readouterr().err
    assert cli.main(["status"]) == 0
    assert "is not running" in capsys.readouterr().out
    # The dev stack's users are told the make target.
    monkeypatch.setattr(postgres, "pg_running", lambda stack: False)
    assert cli.main(["--name", "dev", "user", "--email", "x@example.com"]) == 1
    assert "run `make run` first" in capsys.readouterr().err


def test_a_missing_nginx_stops_the_start_saying_how_to_install_it(
    scratch_stack: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(config, "NGINX_CANDIDATES", (tmp_path / "nginx",))
    real_which = shutil.which
    monkeypatch.setattr(
        gateway.shutil,
        "which",
        lambda name, *a, **k: None if name == "nginx" else real_which(name, *a, **k),
    )
    with pytest.raises(stack_module.StackError, match="apt-get install nginx-light"):
        stack_module.up(scratch_stack, functions=False)
    stack_module.down(scratch_stack)
    assert _pids_of(scratch_stack) == []
