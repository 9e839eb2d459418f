"""The local Supabase stack, without Docker: PostgreSQL, PostgREST, the functions, a gateway.

`supabase start` needs Docker and minutes. This package brings up what the
project uses of it in seconds: a PostgreSQL cluster under `.stack/<name>/`, the
platform bootstrap from `sql/bootstrap/`, the migrations applied by the real
Supabase CLI, the seed, PostgREST configured as Supabase configures it, the
HTTP functions on one origin, and nginx in front as the API gateway. Its
modules: `config` (the Stack: ports, paths, keys), `processes` (spawn, pidfiles,
stop), `postgres` (cluster, bootstrap, migrations, seed), `postgrest`,
`gateway` (nginx), `auth` (users, tokens, JWKS), `lifecycle` (up, down,
status) and `cli` (the commands behind `make` and `scripts/stack.py`). The
tests and the bench import what they use from here.
"""

from .auth import create_user, jwks, mint_token, public_jwks
from .config import ES256_KID, ROOT, SUPABASE_BIN, Stack, StackError
from .lifecycle import down, is_up, reset, status, up
from .postgres import migrate, psql

__all__ = [
    "ES256_KID",
    "ROOT",
    "SUPABASE_BIN",
    "Stack",
    "StackError",
    "create_user",
    "down",
    "is_up",
    "jwks",
    "migrate",
    "mint_token",
    "psql",
    "public_jwks",
    "reset",
    "status",
    "up",
]
