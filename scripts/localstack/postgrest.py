"""PostgREST, configured as Supabase configures it, and started on the stack's REST port.

Schema `public`, extra search path `public, extensions`, anon role `anon`,
`jwt-aud = "authenticated"`, and as its JWT secret a JWKS file holding both the
legacy HS256 secret and the stack's ES256 public key. That file is private to
the user running the stack; the gateway publishes its own copy without the
secret.
"""

from __future__ import annotations

import json
from pathlib import Path

from .auth import jwks
from .config import POSTGREST_BIN, Stack, StackError
from .processes import pid_alive, require_free, spawn, wait_http


def write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)


def write_conf(stack: Stack) -> Path:
    jwks_path = stack.dir / "jwks.json"
    write_private(jwks_path, json.dumps(jwks(stack)))
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


def start(stack: Stack) -> None:
    if pid_alive(stack.run_dir / "postgrest.pid", "postgrest"):
        return
    if not POSTGREST_BIN.exists():
        raise StackError("the PostgREST binary is missing: run `make install`")
    require_free(stack.rest_port, stack.port_variable("REST"))
    conf = write_conf(stack)
    process = spawn([str(POSTGREST_BIN), str(conf)], "postgrest", stack)
    wait_http(f"{stack.rest_url}/", "postgrest", stack, process)
