"""The command line behind `make run`, `make token` and `python3 scripts/stack.py`.

Subcommands: `up`, `run` (up, then wait for Ctrl-C and stop), `down`, `reset`,
`status`, `env`, `migrate`, `user` (create a local user and print its token).
`--name` (or STACK_NAME) picks the stack, `dev` by default. Failures the user
can act on are printed as one `stack: ...` message with exit status 1; commands
that need a running stack say how to start it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

from . import postgres
from .auth import create_user, mint_token
from .config import Stack, StackError
from .lifecycle import down, is_up, reset, status, up


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


def banner(stack: Stack, started: bool) -> str:
    """What `make run` prints: the addresses, the keys, a demo token, commands to try."""
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


def _start_command(stack: Stack) -> str:
    return "make run" if stack.name == "dev" else f"scripts/stack.py --name {stack.name} up"


def _require_running(stack: Stack) -> None:
    """Commands that talk to the database say how to start it instead of failing in psql."""
    if postgres.pg_running(stack):
        return
    raise StackError(
        f"the '{stack.name}' stack is not running: "
        f"run `{_start_command(stack)}` first (in another terminal)"
    )


def _run_foreground(stack: Stack) -> None:
    started = up(stack)
    print(banner(stack, started), flush=True)
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
    parser = argparse.ArgumentParser(
        description="The local Supabase stack, without Docker: PostgreSQL, PostgREST, "
        "the functions, a gateway."
    )
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
        return f"Local stack '{stack.name}' is not running: `{_start_command(stack)}` starts it."
    heading = f"Local stack '{stack.name}': running {running or 'nothing'}."
    return f"{heading}\n\n{_table(summary(stack))}"


def _user_token(stack: Stack, args: argparse.Namespace) -> str:
    _require_running(stack)
    record = create_user(stack, args.email, admin=args.admin)
    algorithm = "ES256" if args.es256 else "HS256"
    return mint_token(stack, record, lifetime_seconds=args.lifetime_seconds, algorithm=algorithm)


def _dispatch(stack: Stack, args: argparse.Namespace) -> None:
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
        print(postgres.migrate(stack))
    elif args.command == "user":
        print(_user_token(stack, args))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        _dispatch(Stack.from_env(args.name), args)
    except StackError as error:
        print(f"stack: {error}", file=sys.stderr)
        return 1
    return 0
