"""The stack's PostgreSQL cluster: create it, start and stop it, bootstrap, migrate, seed.

A fresh cluster gets the platform bootstrap from `sql/bootstrap/` (what hosted
Supabase provides: roles, `auth`, `extensions`, default grants), then the
migrations of `supabase/migrations/` applied by the real Supabase CLI, then
`supabase/seed.sql`. Later starts only apply new migrations. The database is
marked `app.local_stack = on`, which the user command checks before it writes.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

from .config import PG_BIN_DIRS, ROOT, SUPABASE_BIN, Stack, StackError
from .processes import as_postgres, is_root, log_tail, pid_alive, require_free, run


def pg_bin(tool: str) -> str:
    for directory in PG_BIN_DIRS:
        if (directory / tool).exists():
            return str(directory / tool)
    found = shutil.which(tool)
    if found is None:
        raise StackError(f"{tool} not found: install PostgreSQL 15 (apt-get install postgresql-15)")
    return found


def prepare_dirs(stack: Stack) -> None:
    """The stack's directories, writable by the `postgres` user when run as root."""
    for directory in (stack.dir, stack.run_dir, stack.log_dir):
        directory.mkdir(parents=True, exist_ok=True)
    if not is_root():
        return
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


def initdb(stack: Stack) -> None:
    stack.pgdata.mkdir(mode=0o700)
    pwfile = stack.dir / "pwfile"
    pwfile.write_text(stack.db_password + "\n")
    if is_root():
        postgres = pwd.getpwnam("postgres")
        for path in (stack.pgdata, pwfile):
            os.chown(path, postgres.pw_uid, postgres.pw_gid)
    argv = [
        pg_bin("initdb"), "-D", str(stack.pgdata), "-U", "postgres",
        f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256",
        "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
    ]  # fmt: skip
    try:
        run(as_postgres(argv), "initdb")
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


def pg_running(stack: Stack) -> bool:
    return pid_alive(stack.pgdata / "postmaster.pid", "postgres") is not None


def start(stack: Stack) -> None:
    if pg_running(stack):
        return
    require_free(stack.db_port, stack.port_variable("DB"))
    argv = [
        pg_bin("pg_ctl"), "-D", str(stack.pgdata), "-l", str(stack.log_dir / "postgres.log"),
        "-w", "-t", "30", "start",
    ]  # fmt: skip
    try:
        run(as_postgres(argv), "starting postgres")
    except StackError as error:
        raise StackError(f"{error}\n{log_tail(stack, 'postgres')}") from error


def stop(stack: Stack) -> None:
    if pg_running(stack):
        argv = [pg_bin("pg_ctl"), "-D", str(stack.pgdata), "-m", "fast", "-w", "stop"]
        run(as_postgres(argv), "stopping postgres")


def psql(stack: Stack, *args: str, what: str = "psql", input: str | None = None) -> str:
    argv = [
        "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(stack.db_port),
        "-U", "postgres", "-d", "postgres", *args,
    ]  # fmt: skip
    env = {**os.environ, "PGPASSWORD": stack.db_password}
    return run(argv, what, env=env, input=input).stdout


def bootstrap(stack: Stack) -> None:
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


def seed(stack: Stack) -> None:
    path = ROOT / "supabase" / "seed.sql"
    if path.exists():
        psql(stack, "-1", "-f", str(path), what="supabase/seed.sql")


def reload_schema(stack: Stack) -> None:
    psql(stack, "-c", "notify pgrst, 'reload schema'", what="schema reload")
