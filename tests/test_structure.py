"""The shape of the code: no module reaches into another's private names, and view
modules do not import one another in a circle (issue 22: a package's shared view
helpers live in a module it owns, e.g. app/incidents/pages.py)."""
from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"


def _modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(APP.rglob("*.py")):
        parts = path.relative_to(APP.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return found


def _imports(tree: ast.Module):
    """(module imported from, names) for every `from app… import …`, at any depth."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("app"):
            yield node.module, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("app."):
                    yield alias.name, []


def test_no_module_imports_another_modules_underscore_names():
    offences = [f"{name}: from {source} import {imported}"
                for name, tree in _modules().items()
                for source, names in _imports(tree)
                for imported in names if imported.startswith("_") and not imported.startswith("__")]
    assert offences == []


def test_view_modules_do_not_import_each_other_in_a_circle():
    modules = _modules()
    views = {name for name in modules if name.rsplit(".", 1)[-1].endswith("views")}
    edges = {}
    for name in views:
        targets = set()
        for source, names in _imports(modules[name]):
            for candidate in [source, *(f"{source}.{n}" for n in names)]:
                if candidate in views and candidate != name:
                    targets.add(candidate)
        edges[name] = targets
    cycles = []

    def visit(node, path):
        for nxt in edges.get(node, ()):
            if nxt == path[0]:
                cycles.append(" -> ".join([*path, nxt]))
            elif nxt not in path and nxt > path[0]:
                visit(nxt, [*path, nxt])
    for start in sorted(views):
        visit(start, [start])
    assert cycles == []
