"""The architecture stays true: what the design says of the package's shape is checked here.

- one top-level package, `shadowdiff`;
- SQL only in `shadowdiff/store/`;
- modules of at most 400 lines, functions of at most 60;
- imports go down the data flow, with no cycle (TYPE_CHECKING and function-level imports
  included): a package may import only the layers below it.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "shadowdiff"

#: Each subpackage (or top-level module) and the layers it may import. Listed bottom-up.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "vocabulary": set(),
    "formatting": set(),
    "tables": {"formatting"},
    "urls": set(),
    "patterns": set(),
    "records": {"errors", "vocabulary"},
    "redaction": {"records"},
    "tomlfile": set(),
    "openapi": {"errors"},
    "store": {"errors", "records", "vocabulary", "differ", "redaction", "patterns"},
    "differ": {"errors", "records", "vocabulary", "tomlfile", "patterns", "chains"},
    "chains": {"errors", "records", "vocabulary", "redaction", "patterns"},
    "recorder": {
        "errors", "records", "store", "redaction", "patterns", "urls", "differ", "chains",
    },
    "replayer": {
        "errors", "records", "store", "redaction", "patterns", "urls", "vocabulary", "tomlfile",
        "differ", "chains",
    },
    "analysis": {
        "errors", "records", "store", "differ", "vocabulary", "tomlfile", "formatting",
        "patterns", "openapi", "redaction", "replayer", "chains",
    },
    "report": {
        "errors", "records", "store", "differ", "analysis", "vocabulary", "formatting", "openapi",
        "tables",
    },
    "demo": {
        "errors", "records", "store", "differ", "recorder", "replayer", "analysis", "report",
        "vocabulary", "formatting", "openapi", "chains",
    },
    "cli": {
        "errors", "records", "store", "differ", "recorder", "replayer", "analysis", "report",
        "demo", "vocabulary", "formatting", "tomlfile", "patterns", "urls", "redaction",
        "openapi", "tables", "chains",
    },
    "parity": {
        "errors", "records", "store", "differ", "replayer", "analysis", "report", "vocabulary",
        "formatting", "openapi",
    },
    "pytest_plugin": {"errors", "parity"},
}  # fmt: skip


def _modules() -> Iterator[Path]:
    yield from sorted(PACKAGE.rglob("*.py"))


def _layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE).parts
    return rel[0].removesuffix(".py")


def _imports(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            for alias in node.names:  # `from shadowdiff import tomlfile`
                yield f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_the_wheel_installs_one_top_level_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    assert include == ["shadowdiff", "shadowdiff.*"]


def test_sql_lives_only_in_the_store() -> None:
    sql = re.compile(r"\.(execute|executemany|executescript)\(")
    outside = [
        str(p.relative_to(ROOT))
        for p in _modules()
        if _layer(p) != "store" and sql.search(p.read_text())
    ]
    assert outside == []


def test_modules_and_functions_are_short() -> None:
    long_modules, long_functions = [], []
    for path in _modules():
        text = path.read_text()
        if len(text.splitlines()) > 400:
            long_modules.append(str(path.relative_to(ROOT)))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                if node.end_lineno - node.lineno + 1 > 60:
                    long_functions.append(f"{path.relative_to(ROOT)}:{node.name}")
    assert long_modules == [] and long_functions == []


def test_imports_go_down_the_data_flow() -> None:
    wrong = []
    for path in _modules():
        layer = _layer(path)
        if layer in ("__init__", "__main__"):
            continue
        for name in _imports(ast.parse(path.read_text())):
            parts = name.split(".")
            if parts[0] != "shadowdiff" or len(parts) < 2:
                continue
            target = parts[1]
            if target != layer and target in ALLOWED and target not in ALLOWED[layer]:
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert wrong == []


def test_no_import_cycle_between_modules() -> None:
    graph: dict[str, set[str]] = {}
    names = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in _modules()
    }
    for path in _modules():
        me = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        graph[me] = {n for n in _imports(ast.parse(path.read_text())) if n in names and n != me}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, stack: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle.extend([*stack[stack.index(nxt) :], nxt] if nxt in stack else [node, nxt])
                return True
            if state.get(nxt) is None and visit(nxt, [*stack, nxt]):
                return True
        state[node] = 2
        return False

    for start in sorted(graph):
        if state.get(start) is None and visit(start, [start]):
            break
    assert cycle == []
