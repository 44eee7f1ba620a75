"""The gateway's shape, checked from its source: concerns never import the HTTP layer, route modules never
import each other and hold no SQL, and module-level imports form no cycle."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support import REPO

GATEWAY = REPO / "gateway"
SQL_WORDS = ("SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM")


def _module(path: Path) -> str:
    rel = path.relative_to(GATEWAY).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(["wangge", "gateway", *parts])


def _modules() -> dict[str, Path]:
    return {_module(p): p for p in GATEWAY.rglob("*.py") if "__pycache__" not in p.parts}


def _imports(path: Path, top_level_only: bool) -> set[str]:
    """Modules imported (`from a import b` counts as a.b when that is a module, else a)."""
    tree = ast.parse(path.read_text("utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    known = _modules()
    out = set()
    for node in nodes:
        if isinstance(node, ast.If) and top_level_only:  # `if TYPE_CHECKING:` imports are not run
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.add(full if full in known else node.module)
    return {m for m in out if m.startswith("wangge.gateway")}


def test_no_concern_imports_the_http_layer() -> None:
    offenders = [
        (name, sorted(i for i in _imports(path, False) if i.startswith("wangge.gateway.http")))
        for name, path in _modules().items()
        if not name.startswith("wangge.gateway.http") and name != "wangge.gateway.service"
    ]
    assert [o for o in offenders if o[1]] == []


def test_route_modules_import_no_other_route_module_and_hold_no_sql() -> None:
    routes = {n: p for n, p in _modules().items() if n.startswith("wangge.gateway.http.routes.")}
    assert len(routes) == 15
    for name, path in routes.items():
        others = {i for i in _imports(path, False) if i.startswith("wangge.gateway.http.routes.") and i != name}
        assert others == set(), name
        strings = [n.value for n in ast.walk(ast.parse(path.read_text("utf-8"))) if isinstance(n, ast.Constant)]
        assert not [s for s in strings if isinstance(s, str) and any(w in s for w in SQL_WORDS)], name


def test_module_level_imports_form_no_cycle() -> None:
    graph = {name: _imports(path, True) & set(_modules()) for name, path in _modules().items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " → ".join([*stack[stack.index(nxt) :], nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_no_function_level_import_inside_the_gateway() -> None:
    """Imports inside functions hid import cycles; none is left in the gateway's code."""
    found = []
    for name, path in _modules().items():
        for fn in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                found += [f"{name}.{fn.name}" for n in ast.walk(fn) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert found == []
