"""Compare supabase/schemas (the source of truth) with supabase/migrations.

Two throwaway PostgreSQL clusters get the platform bootstrap (sql/bootstrap);
one then gets the migrations, the other the schema files. pg-delta (the
Supabase CLI's `db diff --use-pg-delta`) diffs the managed schemas between
them, and a few catalog queries compare what pg-delta does not manage: roles
and their settings, triggers and grants on Supabase's own `auth` schema, and
the reference rows.

Subcommands:
  check            exit 1 and print the difference when migrations and schemas disagree
  migration NAME   write supabase/migrations/<timestamp>_NAME.sql, the managed difference
  baseline         print the one migration that builds the schemas from a bare database

pg-delta does not manage the first and last schema files (UNMANAGED_FIRST,
UNMANAGED_LAST): a change to them needs a hand-written migration, which
`check` then verifies.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

if __name__ == "__main__":
    # Run as a file, Python puts scripts/ first on the path; the package lives at the root.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.localstack.config import StackError
from scripts.localstack.postgres import pg_bin as _pg_bin
from scripts.localstack.processes import as_postgres as _as_postgres

ROOT = Path(__file__).resolve().parent.parent
SUPABASE_BIN = ROOT / "node_modules" / ".bin" / "supabase"
SCHEMAS = ROOT / "supabase" / "schemas"
MIGRATIONS = ROOT / "supabase" / "migrations"
BOOTSTRAP = ROOT / "sql" / "bootstrap"
MANAGED_SCHEMAS = "public,private,loans_private"
UNMANAGED_FIRST = "00_roles.sql"
UNMANAGED_LAST = "95_platform_hooks_and_reference_data.sql"
# The Supabase CLI treats 54322 as its own database and the dev stack uses
# 54320-54329, so a scratch cluster never listens there.
RESERVED_PORTS = range(54320, 54330)

# What pg-delta leaves out, read the same way from both databases.
UNMANAGED_QUERIES = {
    "roles": """
        select rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,
               rolbypassrls, rolconfig
          from pg_catalog.pg_roles where rolname !~ '^pg_' order by rolname""",
    "auth triggers": """
        select tgrelid::regclass, tgname, pg_catalog.pg_get_triggerdef(t.oid)
          from pg_catalog.pg_trigger as t
          join pg_catalog.pg_class as c on c.oid = t.tgrelid
         where c.relnamespace = 'auth'::regnamespace and not t.tgisinternal
         order by 1, 2""",
    "auth grants": """
        select 'schema', nspacl::text from pg_catalog.pg_namespace where nspname = 'auth'
        union all
        select p.oid::regprocedure::text, p.proacl::text from pg_catalog.pg_proc as p
         where p.pronamespace = 'auth'::regnamespace
         order by 1""",
    "reference rows": """
        select 'currencies', to_jsonb(c)::text from public.currencies as c
        union all
        select 'loan_products', (to_jsonb(p) - 'id' - 'created_at' - 'updated_at')::text
          from public.loan_products as p
        union all
        select 'system accounts', jsonb_build_array(a.system_purpose, a.currency, a.nickname)::text
          from public.accounts as a where a.kind = 'system'
        union all
        select 'loan_status_transitions', to_jsonb(t)::text
          from loans_private.loan_status_transitions as t
        union all
        select 'bank_settings', (to_jsonb(s) - 'updated_at')::text from private.bank_settings as s
        order by 1, 2""",
}


class DiffError(RuntimeError):
    """A scratch cluster, a file or pg-delta failed."""


def _run(argv: list[str], what: str, **kwargs: object) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise DiffError(f"{what} failed:\n{(result.stdout + result.stderr).strip()}")
    return str(result.stdout)


def _free_port() -> int:
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in RESERVED_PORTS:
            return port


@dataclass(frozen=True)
class Scratch:
    """A throwaway cluster with trust authentication on 127.0.0.1 only."""

    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres:postgres@127.0.0.1:{self.port}/postgres"

    def psql(self, *args: str, what: str) -> str:
        argv = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                *args]  # fmt: skip
        return _run(argv, what)

    def apply(self, path: Path) -> None:
        self.psql("-1", "-f", str(path), what=f"{path.parent.name}/{path.name}")


@contextlib.contextmanager
def scratch_cluster() -> Iterator[Scratch]:
    directory = Path(tempfile.mkdtemp(prefix="schema-diff-"))
    data = directory / "data"
    if os.geteuid() == 0:
        postgres = pwd.getpwnam("postgres")
        os.chown(directory, postgres.pw_uid, postgres.pw_gid)
    cluster = Scratch(_free_port())
    try:
        initdb = [_pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"]  # fmt: skip
        _run(_as_postgres(initdb), "initdb")
        options = (
            f"-p {cluster.port} -c listen_addresses=127.0.0.1"
            f" -c unix_socket_directories={directory} -c fsync=off"
        )
        start = [_pg_bin("pg_ctl"), "-D", str(data), "-l", str(directory / "log"),
                 "-o", options, "-w", "-t", "30", "start"]  # fmt: skip
        _run(_as_postgres(start), "starting a scratch cluster")
        for path in sorted(BOOTSTRAP.glob("*.sql")):
            cluster.apply(path)
        yield cluster
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate",
                                         "stop"]), capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(directory, ignore_errors=True)


def schema_files() -> list[Path]:
    return sorted(SCHEMAS.glob("*.sql"))


_DEFINITION = re.compile(
    r"^create (?:or replace )?(?:unique )?"
    r"(function|table|view|index|sequence|schema|trigger|policy) (?:if not exists )?"
    r"(\"[^\"]+\"|[\w.]+)(?:[^;]*?\son ([\w.]+))?",
    re.MULTILINE | re.DOTALL,
)


def defined_objects(sql: str) -> list[str]:
    """The objects a schema file creates: 'function private.x', 'trigger t on public.y', ..."""
    names = []
    for match in _DEFINITION.finditer(sql):
        kind, name, table = match.groups()
        on_table = kind in ("trigger", "policy")
        names.append(f"{kind} {name} on {table}" if on_table else f"{kind} {name}")
    return names


def apply_schemas(cluster: Scratch, files: list[Path] | None = None) -> None:
    for path in files if files is not None else schema_files():
        cluster.apply(path)


def apply_migrations(cluster: Scratch) -> None:
    for path in sorted(MIGRATIONS.glob("*.sql")):
        cluster.apply(path)


def pg_delta(source: Scratch, target: Scratch) -> str:
    """The SQL that turns `source`'s managed schemas into `target`'s ('' when equal)."""
    if not SUPABASE_BIN.exists():
        raise DiffError("the Supabase CLI is missing: run `make install`")
    with tempfile.TemporaryDirectory() as out:
        plan = Path(out) / "plan.sql"
        _run([str(SUPABASE_BIN), "db", "diff", "--use-pg-delta", "--from", source.url,
              "--to", target.url, "-s", MANAGED_SCHEMAS, "-o", str(plan), "--workdir", str(ROOT)],
             "supabase db diff", cwd=out)  # fmt: skip
        return plan.read_text() if plan.exists() else ""


def unmanaged_differences(source: Scratch, target: Scratch) -> list[str]:
    differences = []
    for name, query in UNMANAGED_QUERIES.items():
        before = source.psql("-c", query, what=name)
        after = target.psql("-c", query, what=name)
        if before != after:
            differences.append(
                f"{name}:\n  migrations: {before.strip()}\n  schemas:    {after.strip()}"
            )
    return differences


def _is_empty(plan: str) -> bool:
    statements = [line for line in plan.splitlines() if line.strip()]
    return all(re.fullmatch(r"(?i)set local check_function_bodies = off;", s) for s in statements)


def check() -> list[str]:
    """Every difference between the migrations and the schemas; [] when they agree."""
    with scratch_cluster() as migrated, scratch_cluster() as declared:
        apply_migrations(migrated)
        apply_schemas(declared)
        plan = pg_delta(migrated, declared)
        differences = [] if _is_empty(plan) else [f"pg-delta plan:\n{plan}"]
        return differences + unmanaged_differences(migrated, declared)


def migration(name: str) -> Path | None:
    """Write the next migration from the managed difference; None when there is none."""
    if not re.fullmatch(r"[a-z0-9_]{1,60}", name):
        raise DiffError(f"NAME={name!r}: use 1-60 of a-z 0-9 _")
    with scratch_cluster() as migrated, scratch_cluster() as declared:
        apply_migrations(migrated)
        apply_schemas(declared)
        plan = pg_delta(migrated, declared)
        unmanaged = unmanaged_differences(migrated, declared)
    if unmanaged:
        print("not managed by pg-delta, write these by hand:\n" + "\n".join(unmanaged))
    if _is_empty(plan):
        return None
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H%M%S")
    path = MIGRATIONS / f"{stamp}_{name}.sql"
    path.write_text(plan)
    return path


def baseline() -> str:
    """One migration: the unmanaged first file, pg-delta's plan, the unmanaged last file."""
    files = schema_files()
    first, last = SCHEMAS / UNMANAGED_FIRST, SCHEMAS / UNMANAGED_LAST
    if files[0] != first or files[-1] != last:
        raise DiffError(f"{first.name} and {last.name} must open and close supabase/schemas")
    with scratch_cluster() as bare, scratch_cluster() as declared:
        apply_schemas(declared)
        bare.apply(first)
        plan = pg_delta(bare, declared)
    note = "-- {}: supabase/schemas/{} (not managed by pg-delta, copied as it is)\n"
    return (
        "-- The baseline: supabase/schemas built on a bare Supabase database.\n"
        "-- Generated by `python scripts/schema_diff.py baseline`.\n\n"
        + note.format("First", first.name)
        + first.read_text()
        + "\n"
        + "-- Then pg-delta's plan for every managed object.\n"
        + plan
        + "\n"
        + note.format("Last", last.name)
        + last.read_text()
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="fail when migrations and schemas disagree")
    make = commands.add_parser("migration", help="write the next migration from the schemas")
    make.add_argument("name")
    commands.add_parser("baseline", help="print the baseline migration")
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            differences = check()
            print("\n".join(differences) or "migrations and schemas agree")
            return 1 if differences else 0
        if args.command == "migration":
            path = migration(args.name)
            print(path.relative_to(ROOT) if path else "no managed difference: nothing written")
            return 0
        sys.stdout.write(baseline())
        return 0
    except (DiffError, StackError) as error:
        print(error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
