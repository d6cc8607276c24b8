"""Expand / contract, read from the sources: which steps of a migration the release
before it may not survive, and which of them CHANGELOG.md lists as contract steps.

During a rolling upgrade on PostgreSQL the new release's migrations run while the
old release's web processes and engine keep working on the same database, so a
migration may add but not take away what the old code reads or writes. A contract
step is an operation in `upgrade()` (or a module function it calls) that does:

- drop_table, drop_column, rename_table, alter_column with `new_column_name`
  (the old code reads the name);
- alter_column with `type_` (the old code reads and writes the old type; widening a
  VARCHAR is harmless, but the checker cannot tell, so it is listed with that note);
- alter_column with `nullable=False`, add_column of a NOT NULL column without a
  `server_default`, alter_column with `server_default=None` (the old code inserts rows
  without the value);
- create_unique_constraint, create_check_constraint, create_foreign_key,
  create_primary_key, create_index with `unique=True` on a table that already existed
  (each refuses rows the old code may write);
- drop_constraint or drop_index of a unique or primary key (names `uq_…`, `pk_…`,
  `type_="unique"`/`"primary"`, or an index some migration made with `unique=True`):
  the old engine relies on them to page once (a repeated insert fails, ON CONFLICT
  needs the index);
- literal SQL anywhere `upgrade()` reaches that does any of the above (DROP TABLE /
  COLUMN / VIEW / TYPE, DROP INDEX or CONSTRAINT of a unique one, RENAME, ALTER … TYPE,
  SET NOT NULL, DROP DEFAULT, ADD UNIQUE / CHECK / FOREIGN KEY / PRIMARY KEY, CREATE
  UNIQUE INDEX), read in statements that begin like DDL (ALTER, DROP, CREATE, DO, BEGIN).

Not contract steps: dropping a plain index or a check or foreign key constraint (that
only loosens: every row the old code writes is still accepted and every query still
answers, at worst more slowly), and anything done to a table that a migration since
the release created (the old code never heard of it). Batch mode
(`batch_alter_table`) is read like `op`: on PostgreSQL it issues the same ALTERs.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHANGELOG = ROOT / "CHANGELOG.md"
VERSIONS = ROOT / "migrations" / "versions"

TIGHTENING = {"create_unique_constraint", "create_check_constraint", "create_foreign_key", "create_primary_key"}
UNIQUE_PREFIXES = ("uq_", "pk_")
# Where op.<name>(…) takes its table, when not in batch mode (batch operations leave it out).
TABLE_ARGUMENT = {
    "drop_table": (0, "table_name"), "drop_column": (0, "table_name"), "alter_column": (0, "table_name"),
    "add_column": (0, "table_name"), "drop_constraint": (1, "table_name"), "drop_index": (1, "table_name"),
    "create_index": (1, "table_name"), "create_unique_constraint": (1, "table_name"),
    "create_check_constraint": (1, "table_name"), "create_primary_key": (1, "table_name"),
    "create_foreign_key": (1, "source_table"),
}

# Literal SQL: statements that begin like DDL, the table each acts on, and what in them
# is a contract step.
_NAME = r"[\w.\"]+"
SQL_STATEMENT = re.compile(r"^\s*(?:ALTER|DROP|CREATE|DO|BEGIN)\b", re.IGNORECASE)
SQL_TABLE = re.compile(
    rf"\b(?:ALTER\s+TABLE|DROP\s+TABLE|UNIQUE\s+INDEX\s+.*?\bON)\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?({_NAME})",
    re.IGNORECASE)
SQL_STEPS = [re.compile(pattern, re.IGNORECASE) for pattern in (
    rf"\bDROP\s+(?:TABLE|COLUMN|VIEW|TYPE)\s+(?:IF\s+EXISTS\s+)?{_NAME}",
    rf"\bALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_NAME}\s+DROP\s+(?!COLUMN\b|CONSTRAINT\b|DEFAULT\b){_NAME}",
    rf"\bRENAME\s+(?:(?:COLUMN|CONSTRAINT)\s+)?(?:{_NAME}\s+)?TO\s+{_NAME}",
    rf"\bALTER\s+(?:COLUMN\s+)?{_NAME}\s+(?:SET\s+DATA\s+)?TYPE\s+{_NAME}",
    rf"\bALTER\s+(?:COLUMN\s+)?{_NAME}\s+(?:SET\s+NOT\s+NULL|DROP\s+DEFAULT)",
    rf"\bADD\s+(?:CONSTRAINT\s+{_NAME}\s+)?(?:UNIQUE|CHECK|FOREIGN\s+KEY|PRIMARY\s+KEY)\b",
    rf"\bCREATE\s+UNIQUE\s+INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}",
)]
# A dropped index or constraint is a step only when it is a unique or primary key.
SQL_DROP_KEY = re.compile(rf"\bDROP\s+(?:INDEX|CONSTRAINT)\s+(?:CONCURRENTLY\s+)?(?:IF\s+EXISTS\s+)?({_NAME})",
                          re.IGNORECASE)


# --- CHANGELOG.md ----------------------------------------------------------------------

@dataclass(frozen=True)
class Release:
    """One `## [version]` section: `Unreleased` has no commit and no last migration."""

    version: str
    commit: str | None
    last_migration: str | None
    contract_steps: dict[str, str]  # "0017_x.py: drop_column t.c" -> its downtime / ordering note


def read_changelog(text: str) -> list[Release]:
    """The releases, newest first, as CHANGELOG.md records them."""
    sections = re.split(r"^## \[", text, flags=re.MULTILINE)[1:]
    releases = []
    for section in sections:
        version = section.split("]", 1)[0]
        commit = re.search(r"^Commit: `([0-9a-f]{7,40})`", section, re.MULTILINE)
        last = re.search(r"Migrations: up to `(\w+)`", section)
        releases.append(Release(version, commit and commit[1], last and last[1], _contract_steps(section)))
    return releases


def _contract_steps(section: str) -> dict[str, str]:
    """The bullets under `### Contract steps`: "- `<file>: <operation>` — <note>", a note
    running on over indented lines."""
    block = re.search(r"^### Contract steps\n(.*?)(?=^##|\Z)", section, re.MULTILINE | re.DOTALL)
    steps: dict[str, str] = {}
    current = None
    for line in (block[1] if block else "").splitlines():
        if bullet := re.match(r"^- `([^`]+)`\s*(?:—|:|-)?\s*(.*)$", line):
            current = bullet[1].strip()
            steps[current] = bullet[2].strip()
        elif current and line.startswith("  ") and line.strip():
            steps[current] = f"{steps[current]} {line.strip()}".strip()
        else:
            current = None
    return steps


def last_release(releases: list[Release]) -> Release:
    return next(release for release in releases if release.version != "Unreleased")


def unreleased(releases: list[Release]) -> Release:
    return next(release for release in releases if release.version == "Unreleased")


# --- the migrations ----------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    migration: str  # the file's name
    operation: str  # e.g. "drop_column incidents.legacy"

    def __str__(self) -> str:
        return f"{self.migration}: {self.operation}"


def migration_sources(directory: Path = VERSIONS) -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(directory.glob("*.py"))}


def _assigned(tree: ast.Module, name: str):
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    return None


def since(sources: dict[str, str], revision: str) -> dict[str, ast.Module]:
    """The migrations after `revision`, oldest first, by their down_revision chain."""
    trees = {name: ast.parse(source, filename=name) for name, source in sources.items()}
    if revision not in {_assigned(tree, "revision") for tree in trees.values()}:
        raise ValueError(f"no migration has revision {revision!r}")
    by_parent = {_assigned(tree, "down_revision"): name for name, tree in trees.items()}
    ordered = {}
    while (name := by_parent.get(revision)) is not None:
        ordered[name] = trees[name]
        revision = _assigned(trees[name], "revision")
    return ordered


def _text(node: ast.AST | None) -> str | None:
    """A name as written: a string, or op.f('…') / batch_op.f('…'), else its source."""
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "f" and node.args:
        return _text(node.args[0])
    return ast.unparse(node)


def _arg(call: ast.Call, position: int | None, keyword: str) -> ast.AST | None:
    """An argument given by position or by keyword (position None: keyword only)."""
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    return call.args[position] if position is not None and len(call.args) > position else None


def _is(node: ast.AST | None, value) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def _calls(tree: ast.AST, name: str):
    return (node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute) and node.func.attr == name)


def _reached(tree: ast.Module) -> list[ast.FunctionDef]:
    """upgrade() and the module's functions it calls, however deep."""
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    seen, todo = [], ["upgrade"]
    while todo:
        function = functions.get(todo.pop())
        if function is None or function in seen:
            continue
        seen.append(function)
        todo.extend(node.func.id for node in ast.walk(function)
                    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name))
    return seen


def _strings(tree: ast.Module, functions: list[ast.FunctionDef]) -> list[str]:
    """The literal text the functions hold or name at module level (docstrings aside);
    an f-string's fields read as `_`."""
    constants = {target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                 for target in node.targets if isinstance(target, ast.Name)}

    def literals(root: ast.AST):
        for node in ast.walk(root):
            if isinstance(node, ast.JoinedStr):
                yield "".join(part.value if isinstance(part, ast.Constant) else "_" for part in node.values)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                yield node.value

    found = []
    for function in functions:
        docstring = ast.get_docstring(function, clean=False)
        found.extend(text for text in literals(function) if text != docstring)
        found.extend(text for node in ast.walk(function) if isinstance(node, ast.Name) and node.id in constants
                     for text in literals(constants[node.id]))
    return found


def unique_index_names(sources: dict[str, str]) -> set[str]:
    """Indexes any migration made with unique=True (declared on a column, they get
    `ix_` names from the naming convention)."""
    return {_text(_arg(call, 0, "index_name")) for source in sources.values()
            for call in _calls(ast.parse(source), "create_index") if _is(_arg(call, None, "unique"), True)}


# Where a tightening operation names its columns: (position with op, position in batch mode).
COLUMNS_ARGUMENT = {"create_foreign_key": (3, 2, "local_cols"), "create_unique_constraint": (2, 1, "columns"),
                    "create_primary_key": (2, 1, "columns"), "create_index": (2, 1, "columns")}


@dataclass(frozen=True)
class _Found:
    table: str | None
    operation: str
    columns: tuple[str, ...] = ()  # a tightening's columns: harmless when all are new


class _Reader(ast.NodeVisitor):
    """The alembic operations of one function that are contract steps, and the
    columns it adds."""

    def __init__(self, unique: set[str]):
        self.unique = unique
        self.batches: dict[str, str] = {}  # batch_alter_table handle -> its table
        self.found: list[_Found] = []
        self.added: set[tuple[str, str]] = set()

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            call = item.context_expr
            if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "batch_alter_table" and isinstance(item.optional_vars, ast.Name)):
                self.batches[item.optional_vars.id] = _text(_arg(call, 0, "table_name"))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        op = node.func.attr if isinstance(node.func, ast.Attribute) else None
        if op in TABLE_ARGUMENT or op == "rename_table":
            batch = self.batches.get(node.func.value.id) if isinstance(node.func.value, ast.Name) else None
            table = batch or _text(_arg(node, *TABLE_ARGUMENT.get(op, (0, "table_name"))))
            self._read(op, node, table, after=0 if batch else 1)
        self.generic_visit(node)

    def _unique(self, name: str | None, kind: ast.AST | None) -> bool:
        return (name or "").startswith(UNIQUE_PREFIXES) or name in self.unique or (
            isinstance(kind, ast.Constant) and kind.value in ("unique", "primary"))

    def _read(self, op: str, call: ast.Call, table: str | None, after: int) -> None:
        """`after`: where the arguments after the table begin (batch operations have none)."""
        def step(operation: str, columns: tuple[str, ...] = ()) -> None:
            self.found.append(_Found(table, operation, columns))

        if op == "drop_table":
            step(f"drop_table {table}")
        elif op == "rename_table":
            step(f"rename_table {table} to {_text(_arg(call, 1, 'new_table_name'))}")
        elif op == "drop_column":
            step(f"drop_column {table}.{_text(_arg(call, after, 'column_name'))}")
        elif op == "alter_column":
            changes = [f"{kw.arg}={ast.unparse(kw.value)}" for kw in call.keywords
                       if kw.arg in ("new_column_name", "type_") or (kw.arg == "nullable" and _is(kw.value, False))
                       or (kw.arg == "server_default" and _is(kw.value, None))]
            if changes:
                step(f"alter_column {table}.{_text(_arg(call, after, 'column_name'))} {' '.join(changes)}")
        elif op == "add_column":
            column = _arg(call, after, "column")
            name = _text(_arg(column, 0, "name")) if isinstance(column, ast.Call) else None
            self.added.add((table, name))
            if name and _is(_arg(column, None, "nullable"), False) and _arg(column, None, "server_default") is None:
                step(f"add_column {table}.{name} nullable=False")
        elif op in ("drop_constraint", "drop_index"):
            name = _text(_arg(call, 0, "constraint_name" if op == "drop_constraint" else "index_name"))
            if self._unique(name, _arg(call, None, "type_")):
                step(f"{op} {table}.{name}")
        elif op in TIGHTENING or (op == "create_index" and _is(_arg(call, None, "unique"), True)):
            name = _text(_arg(call, 0, "index_name" if op == "create_index" else "constraint_name"))
            columns = ()
            if op in COLUMNS_ARGUMENT:
                with_op, in_batch, keyword = COLUMNS_ARGUMENT[op]
                listed = _arg(call, in_batch if after == 0 else with_op, keyword)
                if isinstance(listed, (ast.List, ast.Tuple)):
                    columns = tuple(_text(element) for element in listed.elts)
            step(f"{op} {table}.{name}", columns)


def _sql_steps(text: str, new_tables: set[str], unique: set[str]):
    """Contract steps in literal SQL, statement by statement."""
    for statement in " ".join(text.split()).split(";"):
        if not SQL_STATEMENT.match(statement):
            continue
        table = SQL_TABLE.search(statement)
        if table and table[1].strip('"') in new_tables:
            continue
        for pattern in SQL_STEPS:
            yield from (f"execute {match[0]}" for match in pattern.finditer(statement))
        yield from (f"execute {match[0]}" for match in SQL_DROP_KEY.finditer(statement)
                    if match[1].strip('"').startswith(UNIQUE_PREFIXES) or match[1].strip('"') in unique)


def contract_steps(sources: dict[str, str], after: str) -> list[Step]:
    """The contract steps of every migration after revision `after`, in order, each once."""
    unique = unique_index_names(sources)
    trees = since(sources, after)
    reached = {name: _reached(tree) for name, tree in trees.items()}
    new_tables = {_text(_arg(call, 0, "table_name")) for functions in reached.values() for function in functions
                  for call in _calls(function, "create_table")}
    readers = {name: [_Reader(unique) for _ in functions] for name, functions in reached.items()}
    for name, functions in reached.items():
        for reader, function in zip(readers[name], functions):
            reader.visit(function)
    added = set().union(*(reader.added for found in readers.values() for reader in found))

    def harmless(found: _Found) -> bool:
        return found.table in new_tables or bool(found.columns) and all(
            (found.table, column) in added for column in found.columns)

    steps = []
    for name, functions in reached.items():
        steps += [Step(name, found.operation) for reader in readers[name] for found in reader.found
                  if not harmless(found)]
        steps += [Step(name, operation) for text in _strings(trees[name], functions)
                  for operation in _sql_steps(text, new_tables, unique)]
    return list(dict.fromkeys(steps))


def unlisted(steps: list[Step], listed: dict[str, str]) -> list[str]:
    """What the policy test fails on: steps the changelog does not list, steps listed
    without their note, and listed steps no migration makes (a stale entry)."""
    found = {str(step) for step in steps}
    problems = [f"{step} is a contract step that CHANGELOG.md's [Unreleased] does not list: add "
                f"\"- `{step}` — <its downtime and the order to deploy it in>\" under its ### Contract steps"
                for step in steps if str(step) not in listed]
    problems += [f"`{entry}` is listed without its downtime and ordering note"
                 for entry, note in listed.items() if entry in found and not note]
    problems += [f"`{entry}` is listed under [Unreleased] ### Contract steps, but no migration since the "
                 "last release does it" for entry in listed if entry not in found]
    return problems
