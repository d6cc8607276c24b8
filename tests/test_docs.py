"""The docs stay true to the code: every setting the code reads from the environment is
in docs/configuration.md, every command is in its Commands table, every relative link
in README.md and docs/ lands on a file (and heading) that exists, and the README stays
a README."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import click

from app import create_app

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"

README_MAX_BYTES = 15_000

# Files whose environment reads are settings of Firebreak (tests, bench/ and load/ read
# their own knobs, documented where they are used).
PYTHON_SOURCES = [*sorted((ROOT / "app").rglob("*.py")), ROOT / "wsgi.py", ROOT / "gunicorn.conf.py"]
SHELL_SOURCES = [ROOT / "scripts" / "serve.sh"]

# Flask-Migrate's own commands: only `db upgrade` is part of running Firebreak.
FOREIGN_COMMANDS = re.compile(r"^db (?!upgrade$)")


# --- settings ---------------------------------------------------------------------------

def _is_os_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ"
            and isinstance(node.value, ast.Name) and node.value.id == "os")


def _reads_environ(call: ast.Call) -> bool:
    """os.environ.get(...) or os.getenv(...)."""
    func = call.func
    return isinstance(func, ast.Attribute) and (
        (func.attr == "get" and _is_os_environ(func.value))
        or (func.attr == "getenv" and isinstance(func.value, ast.Name) and func.value.id == "os"))


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def environment_names_in_python(source: str) -> set[str]:
    """Names read through os.environ.get / os.getenv / os.environ[...] / `in os.environ`,
    and through helpers of the same module that pass their first parameter to one of those
    (app/config.py's `_flag("NAME", …)` and `_positive("NAME", …)`)."""
    tree = ast.parse(source)
    helpers = set()
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef) and fn.args.args:
            first = fn.args.args[0].arg
            for call in ast.walk(fn):
                if (isinstance(call, ast.Call) and _reads_environ(call) and call.args
                        and isinstance(call.args[0], ast.Name) and call.args[0].id == first):
                    helpers.add(fn.name)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            is_helper = isinstance(node.func, ast.Name) and node.func.id in helpers
            if _reads_environ(node) or is_helper:
                if (name := _literal(node.args[0])) is not None:
                    names.add(name)
        elif isinstance(node, ast.Subscript) and _is_os_environ(node.value):
            if (name := _literal(node.slice)) is not None:
                names.add(name)
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.In):
            if _is_os_environ(node.comparators[0]) and (name := _literal(node.left)) is not None:
                names.add(name)
    return names


def environment_names_in_shell(source: str) -> set[str]:
    """`${NAME:-default}` and `$NAME` of upper-case names a start script reads."""
    return set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", source))


def environment_settings() -> set[str]:
    names = set()
    for path in PYTHON_SOURCES:
        names |= environment_names_in_python(path.read_text())
    for path in SHELL_SOURCES:
        if path.exists():
            names |= environment_names_in_shell(path.read_text())
    return names


def test_the_scan_finds_what_the_config_reads():
    """A guard on the scan itself: if it stopped seeing the config's helpers, the check
    below would pass with nothing to check."""
    names = environment_settings()
    assert {"DATABASE_URL", "SECRET_KEY", "FIREBREAK_INSTANCE_PATH", "FIREBREAK_ENV",
            "ENGINE_IN_PROCESS", "ENGINE_LEASE_SECONDS", "INGEST_WRITER"} <= names
    assert environment_names_in_python(
        'import os\ndef f(n):\n    return os.environ.get(n)\nX = f("A")\nY = os.environ["B"]\n'
        'Z = os.getenv("C")\nW = "D" in os.environ\nV = request.environ.get("HTTP_HOST")\n') == {"A", "B", "C", "D"}


def test_every_environment_setting_is_documented():
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]*)`", CONFIGURATION.read_text()))
    missing = sorted(environment_settings() - documented)
    assert not missing, f"read from the environment but not in docs/configuration.md: {missing}"


# --- commands ---------------------------------------------------------------------------

def cli_commands(group: click.Group, prefix: str = "") -> list[str]:
    names = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            names += cli_commands(command, f"{prefix}{name} ")
        else:
            names.append(f"{prefix}{name}")
    return names


def test_every_command_is_documented(tmp_path):
    # The factory touches no database, so no migrated one is needed to list the commands.
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'cli.db'}"})
    commands = [name for name in cli_commands(app.cli) if not FOREIGN_COMMANDS.match(name)]
    assert {"seed-demo", "create-user", "engine run", "engine tick", "db upgrade"} <= set(commands)
    text = CONFIGURATION.read_text()
    missing = [name for name in commands
               if not re.search(rf"`flask --app wsgi {re.escape(name)}[` ]", text)]
    assert not missing, f"commands not in docs/configuration.md's Commands table: {missing}"


# --- links ------------------------------------------------------------------------------

def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def _without_code(text: str) -> str:
    """The text outside fenced code blocks and inline code, where links are links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped except `-` and
    `_`, spaces to `-`."""
    text = re.sub(r"[`*]", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.M):
        slug = github_slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links(path: Path) -> list[str]:
    targets = re.findall(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", _without_code(path.read_text()))
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t, flags=re.I)]


def test_the_slugs_are_githubs():
    assert github_slug("Ingestion: the hot path") == "ingestion-the-hot-path"
    assert github_slug("When a message waits") == "when-a-message-waits"
    assert github_slug("The `flask` command, v2.0") == "the-flask-command-v20"


def test_every_relative_link_resolves():
    broken = []
    for doc in markdown_files():
        links = relative_links(doc)
        for link in links:
            target, _, anchor = link.partition("#")
            file = doc if target == "" else (doc.parent / target).resolve()
            if not file.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {link} (no such file)")
            elif anchor and file.suffix == ".md" and anchor not in anchors(file):
                broken.append(f"{doc.relative_to(ROOT)}: {link} (no such heading)")
    assert not broken, "\n".join(broken)
    assert relative_links(README), "the link scan found no links in the README"


# --- the README -------------------------------------------------------------------------

def test_the_readme_is_short():
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size:,} bytes; the reference belongs in docs/"


def test_the_readme_links_every_docs_page():
    linked = {(README.parent / link.partition("#")[0]).resolve() for link in relative_links(README)}
    unlinked = [p.name for p in sorted(DOCS.glob("*.md")) if p.resolve() not in linked]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"


def test_benchmarks_write_between_markers_that_exist():
    page = (DOCS / "benchmarks.md").read_text()
    for name in ("insights", "statuspage"):
        source = (ROOT / "bench" / f"{name}.py").read_text()
        assert '"docs" / "benchmarks.md"' in source
        start, end = re.search(r'MARK_START, MARK_END = "([^"]+)", "([^"]+)"', source).groups()
        assert page.count(start) == 1 and page.count(end) == 1 and page.index(start) < page.index(end)
