"""The error table is the one home of every error code's status, and what it generates
(docs/errors.md, the OpenAPI error responses) stays in step with it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from functions import openapi
from functions.core import ERROR_TABLE, SQL_PATH, kind_of, render_doc, render_sql

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
TABLE_MODULE = FUNCTIONS / "core" / "_error_table.py"
DOC_PATH = ROOT / "docs" / "errors.md"
SCHEMAS = ROOT / "supabase" / "schemas"
# A status written beside a SQLSTATE (`when 'BK005' then 404`, `array['BK005','404']`),
# or PostgREST's response status set to a number rather than read from the table.
_SQL_STATUS = re.compile(
    r"'BK[0-9]{3}'\s*(?:then|,)\s*'?[45][0-9]{2}\b|'response\.status'\s*,\s*'?[45][0-9]{2}\b",
    re.IGNORECASE,
)
# Keyword arguments whose value is a size or a bound, never a status.
_BOUND_KEYWORDS = frozenset({"max_length", "min_length", "gt", "ge", "lt", "le"})
# Module constants named with a unit, like MAX_TERM_MONTHS, hold a quantity, never a status.
_UNIT_SUFFIXES = ("_MONTHS", "_DAYS", "_SECONDS", "_BYTES", "_ROWS")


def test_the_committed_errors_doc_is_up_to_date() -> None:
    assert DOC_PATH.read_text() == render_doc(), (
        "docs/errors.md is stale: regenerate it with `make openapi`"
    )


def test_the_committed_sql_status_view_is_up_to_date() -> None:
    assert (ROOT / SQL_PATH).read_text() == render_sql(), (
        f"{SQL_PATH} is stale: regenerate it with `make openapi`"
    )


def _sql_statuses(text: str) -> list[int]:
    """Lines of one SQL file that write an HTTP status for a SQLSTATE themselves."""
    return [n for n, line in enumerate(text.splitlines(), 1) if _SQL_STATUS.search(line)]


def test_no_schema_file_but_the_generated_one_writes_a_status() -> None:
    found = [
        f"{path.name}:{line}"
        for path in sorted(SCHEMAS.glob("*.sql"))
        if path != ROOT / SQL_PATH
        for line in _sql_statuses(path.read_text())
    ]
    assert found == []


def test_the_sql_status_scan_finds_a_status_written_in_sql() -> None:
    text = (
        "select case p_sqlstate when 'BK004' then 409 else 422 end;\n"
        "raise exception using errcode = 'BK005', message = 'x';\n"
        "perform set_config('response.status', '404', true);\n"
        "return array['BK005', '404'];\n"
    )
    assert _sql_statuses(text) == [1, 3, 4]


def test_no_sqlstate_or_code_has_two_rows() -> None:
    codes = [kind.code for kind in ERROR_TABLE]
    states = [state for kind in ERROR_TABLE for state in kind.sqlstates]
    classes = [prefix for kind in ERROR_TABLE for prefix in kind.sqlstate_classes]
    assert len(codes) == len(set(codes))
    assert len(states) == len(set(states))
    assert len(classes) == len(set(classes))


def test_every_sqlstate_the_sql_raises_has_a_row() -> None:
    raised = {
        state
        for path in (ROOT / "supabase").rglob("*.sql")
        for state in re.findall(r"'(BK[0-9]{3})'", path.read_text())
    }
    known = {state for kind in ERROR_TABLE for state in kind.sqlstates}
    assert raised, "the SQL raises no BK SQLSTATE: the scan looks in the wrong place"
    assert raised <= known, sorted(raised - known)


def _status_literals(path: Path) -> list[int]:
    """Places in one module that write an HTTP error status themselves."""
    tree = ast.parse(path.read_text())
    exempt: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg in _BOUND_KEYWORDS:
            exempt.add(id(node.value))
        if isinstance(node, ast.Assign) and all(
            isinstance(target, ast.Name) and target.id.endswith(_UNIT_SUFFIXES)
            for target in node.targets
        ):
            exempt.add(id(node.value))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) not in exempt:
            value = node.value
            text = value if isinstance(value, str) else None
            number = value if type(value) is int else None
            if text is not None and text.isdigit() and len(text) == 3:
                number = int(text)
            if number is not None and 400 <= number <= 599:
                found.append(node.lineno)
        # HTTPStatus may draw the line between classes (>= 500), never name one status.
        if (
            isinstance(node, ast.Compare)
            and any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops)
            and "HTTPStatus" in ast.unparse(node)
        ):
            found.append(node.lineno)
    return sorted(found)


def test_the_table_is_the_only_place_an_error_status_is_written() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted(FUNCTIONS.rglob("*.py"))
        if path != TABLE_MODULE
        for line in _status_literals(path)
    ]
    assert found == []


def test_the_status_scan_finds_a_status_written_outside_the_table(tmp_path: Path) -> None:
    module = tmp_path / "handler.py"
    module.write_text(
        "from http import HTTPStatus\n"
        "MAX_TERM_MONTHS = 480\n"
        "def f(s):\n"
        "    json_reply(503, {})\n"
        "    raise ApiError(status='422')\n"
        "    return s == HTTPStatus.NOT_FOUND or s >= HTTPStatus.INTERNAL_SERVER_ERROR\n"
    )
    assert _status_literals(module) == [4, 5, 6]


def test_each_openapi_error_response_describes_every_code_of_its_status() -> None:
    document = openapi.build_document()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                if int(status) < 400:
                    continue
                for kind in ERROR_TABLE:
                    if kind.status == int(status):
                        assert f"{kind.code}: {kind.meaning}" in answer["description"]
                for header in ("Retry-After", "WWW-Authenticate", "Allow"):
                    expected = any(
                        header in kind.headers for kind in ERROR_TABLE if kind.status == int(status)
                    )
                    assert (header in answer["headers"]) == expected, (method, path, status)


def test_a_route_naming_an_unknown_error_code_fails_when_declared() -> None:
    import pytest

    from functions.core import route

    async def handler(ctx: object) -> object:
        raise AssertionError

    with pytest.raises(KeyError):
        route("GET", "/x", handler, summary="x", response=None, errors=("no_such_code",))  # type: ignore[arg-type]
    assert kind_of("not_found").code == "not_found"
