"""The local stack is a package a reader can take in one module and one function at a time."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "scripts" / "localstack"
MODULES = sorted(PACKAGE.glob("*.py"))
LONGEST_FUNCTION = 70


def test_the_package_has_its_parts_apart() -> None:
    names = {path.stem for path in MODULES}
    assert {"config", "processes", "postgres", "postgrest", "gateway", "auth", "cli"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_each_module_opens_with_a_paragraph_on_its_job(path: Path) -> None:
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    assert docstring, f"{path.name} has no module docstring"
    assert len(docstring.split()) >= 12, f"{path.name}'s docstring says too little"


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_functions_are_short_enough_to_read_at_once(path: Path) -> None:
    tree = ast.parse(path.read_text())
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > LONGEST_FUNCTION
    ]
    assert long == []


def test_tests_and_bench_import_the_package_not_a_file() -> None:
    sources = [*ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/**/*.py")]
    loaders = [
        str(path.relative_to(ROOT))
        for path in sources
        if "spec_from_file_location" in path.read_text() and path != Path(__file__)
    ]
    assert loaders == []
