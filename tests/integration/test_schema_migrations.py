"""supabase/schemas and supabase/migrations build the same database.

Each test runs scripts/schema_diff.py against throwaway clusters of its own
(not the test stack): one built from the migrations, one from the schema
files, compared by pg-delta and by catalog queries for what pg-delta leaves
out.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scripts import schema_diff

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Copies of the schemas and migrations that a test may change."""
    schemas = tmp_path / "schemas"
    migrations = tmp_path / "migrations"
    shutil.copytree(schema_diff.SCHEMAS, schemas)
    shutil.copytree(schema_diff.MIGRATIONS, migrations)
    monkeypatch.setattr(schema_diff, "SCHEMAS", schemas)
    monkeypatch.setattr(schema_diff, "MIGRATIONS", migrations)
    return schemas, migrations


def test_migrations_build_exactly_the_schemas() -> None:
    assert schema_diff.check() == []


def test_every_object_is_defined_in_one_schema_file_only() -> None:
    seen: dict[str, str] = {}
    for path in schema_diff.schema_files():
        for name in schema_diff.defined_objects(path.read_text()):
            assert name not in seen, f"{name} is defined in {seen[name]} and {path.name}"
            seen[name] = path.name
    assert "function private.transfer_funds" in seen


def test_a_table_only_the_schemas_define_is_a_difference(project: tuple[Path, Path]) -> None:
    schemas, _ = project
    (schemas / "50_drift.sql").write_text("create table public.drift (id bigint primary key);\n")
    differences = schema_diff.check()
    assert len(differences) == 1
    assert 'CREATE TABLE "public"."drift"' in differences[0]


def test_an_auth_trigger_only_the_schemas_define_is_a_difference(
    project: tuple[Path, Path],
) -> None:
    schemas, _ = project
    last = schemas / schema_diff.UNMANAGED_LAST
    last.write_text(
        last.read_text()
        + "\ncreate trigger drift after update on auth.users"
        + " for each row execute function private.create_profile_for_new_user();\n"
    )
    differences = schema_diff.check()
    assert [d.split(":")[0] for d in differences] == ["auth triggers"]


def test_make_migration_writes_what_the_schemas_add(project: tuple[Path, Path]) -> None:
    schemas, migrations = project
    (schemas / "50_drift.sql").write_text("create table public.drift (id bigint primary key);\n")
    written = schema_diff.migration("add_drift")
    assert written is not None
    assert written.parent == migrations
    assert written.name.endswith("_add_drift.sql")
    assert schema_diff.check() == []
    assert schema_diff.migration("nothing_new") is None
