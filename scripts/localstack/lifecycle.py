"""A whole stack's life: bring up what is not running, report, stop, delete.

`up` is idempotent: it creates and bootstraps the cluster on first start,
applies new migrations on every start, and starts only the parts that are not
already running (PostgreSQL, PostgREST, the gateway, then the functions server
with the stack's environment). `down` stops every part by its pidfile, also
after one of them crashed, so a stack is never left half running.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from . import gateway, postgres, postgrest
from .config import Stack
from .processes import pid_alive, port_open, require_free, spawn, stop_pid, wait_http


def _start_functions(stack: Stack) -> None:
    if pid_alive(stack.run_dir / "functions.pid", "functions"):
        return
    require_free(stack.functions_port, stack.port_variable("FUNCTIONS"))
    argv = [
        str(Path(sys.executable).parent / "functions-framework"),
        "--target=router", "--source=functions/main.py", "--asgi",
        "--host=127.0.0.1", f"--port={stack.functions_port}",
    ]  # fmt: skip
    process = spawn(argv, "functions", stack, env=stack.env())
    wait_http(f"{stack.functions_url}/health", "functions", stack, process)


def _database(stack: Stack) -> None:
    """A running, migrated database: created, bootstrapped and seeded the first time."""
    postgres.prepare_dirs(stack)
    if not (stack.pgdata / "PG_VERSION").exists():
        if stack.pgdata.exists():
            shutil.rmtree(stack.pgdata)
        postgres.initdb(stack)
    postgres.start(stack)
    marker = stack.dir / "initialised"
    if not marker.exists():
        postgres.bootstrap(stack)
    postgres.migrate(stack)
    if not marker.exists():
        postgres.seed(stack)
        marker.write_text(time.strftime("%Y-%m-%dT%H:%M:%S%z"))


def up(stack: Stack, *, functions: bool = True) -> bool:
    """Start whatever is not running yet. Returns False when all was already up."""
    if is_up(stack, functions=functions):
        return False
    _database(stack)
    postgrest.start(stack)
    postgres.reload_schema(stack)
    gateway.start(stack)
    if functions:
        _start_functions(stack)
    return True


def _processes(stack: Stack) -> dict[str, bool]:
    return {
        "postgres": postgres.pg_running(stack),
        "postgrest": pid_alive(stack.run_dir / "postgrest.pid", "postgrest") is not None,
        "functions": pid_alive(stack.run_dir / "functions.pid", "functions") is not None,
        "gateway": pid_alive(stack.run_dir / "gateway.pid", "nginx") is not None,
    }


def is_up(stack: Stack, *, functions: bool = True) -> bool:
    running = _processes(stack)
    if not functions:
        del running["functions"]
    return all(running.values())


def down(stack: Stack) -> None:
    """Stop every process of this stack, also after one of them crashed."""
    stop_pid(stack.run_dir / "functions.pid", "functions")
    stop_pid(stack.run_dir / "gateway.pid", "nginx")
    stop_pid(stack.run_dir / "postgrest.pid", "postgrest")
    postgres.stop(stack)


def reset(stack: Stack) -> None:
    down(stack)
    if stack.dir.exists():
        shutil.rmtree(stack.dir)


def status(stack: Stack) -> dict[str, object]:
    return {
        **_processes(stack),
        "db_port_open": port_open(stack.db_port),
        "rest_port_open": port_open(stack.rest_port),
        "functions_port_open": port_open(stack.functions_port),
        "gateway_port_open": port_open(stack.gateway_port),
    }
