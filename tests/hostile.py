"""What the hostile-input suite shares (tests/test_hostile_*.py).

Every hostile test runs twice over: a few examples inside `make test`, and many in
`make hostile` (FIREBREAK_HOSTILE=full). `examples(fast, full)` says how many.

The suite works on the demo organisation (seeded once per worker into a SQLite
template, copied for each test) so that forms, pages and ids point at real things.
`digest()` fingerprints every row of every table: a refused request must leave it
unchanged. `tally()` counts what a test sent, for the figures `make hostile` prints.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from app import clock
from app.extensions import db

FULL = os.environ.get("FIREBREAK_HOSTILE") == "full"
T0 = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
DEMO_PASSWORD = "demo password for hostile tests"

# Markup that must never reach a page, feed, email or export as markup. Each is
# typed into every text field the suite can reach.
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"
PAYLOADS = (SCRIPT, IMG, '"><svg onload=alert(3)>', "<a href=\"javascript:alert(4)\">x</a>",
            "{{ 7*7 }}", "\u202eevil")
HOSTILE_TEXT = SCRIPT + IMG

# Columns that a read may change (a token or feed marks itself used): not a change.
VOLATILE = {("api_tokens", "last_used_at"), ("calendar_feeds", "last_used_at")}


def examples(fast: int, full: int) -> int:
    """How many examples a hypothesis test runs: `full` under `make hostile`."""
    return full if FULL else fast


def _rows():
    """(table, rows) for every table, read straight through the DB-API (a digest runs
    twice per generated request: it has to be cheap)."""
    db.session.rollback()  # a fresh snapshot: requests wrote in their own sessions
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        for table in db.metadata.sorted_tables:
            columns = [f'"{c.name}"' for c in table.columns if (table.name, c.name) not in VOLATILE]
            order = [f'"{c.name}"' for c in table.primary_key.columns] or columns
            cursor.execute(f'SELECT {", ".join(columns)} FROM "{table.name}" ORDER BY {", ".join(order)}')
            yield table.name, cursor.fetchall()
        connection.rollback()
    finally:
        connection.close()


def digest() -> str:
    """A fingerprint of every row in every table (less the VOLATILE columns)."""
    hasher = hashlib.sha256()
    for name, rows in _rows():
        hasher.update(repr((name, rows)).encode())
    return hasher.hexdigest()


def snapshot() -> dict[str, list]:
    """Every row of every table, to say *what* changed when a digest differs."""
    return dict(_rows())


def changed_tables(before: dict[str, list], after: dict[str, list]) -> list[str]:
    return sorted(name for name in after if before.get(name) != after[name])


# --- the demo organisation, once per worker ---------------------------------------------

@pytest.fixture(scope="session")
def demo_template(tmp_path_factory, sqlite_template):
    """The migrated template with the demo organisation seeded, and API tokens for
    its admin and a viewer: (path, {"admin": secret, "viewer": secret})."""
    from app.auth import service as people
    from app.auth.models import Role, User
    from app.demo import seed_demo
    from tests.conftest import make_app
    from tests.factories import SYSTEM
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    shutil.copyfile(sqlite_template, path)
    app = make_app(f"sqlite:///{path}")
    with app.app_context():
        clock.set(T0)
        seed_demo(DEMO_PASSWORD)
        db.session.commit()
        admin = db.session.scalar(sa.select(User).where(User.role == Role.ADMIN).order_by(User.id))
        viewer = db.session.scalar(sa.select(User).where(User.role == Role.VIEWER).order_by(User.id))
        secrets = {"admin": people.create_api_token(SYSTEM, admin, name="hostile admin")[1],
                   "viewer": people.create_api_token(SYSTEM, viewer, name="hostile viewer")[1]}
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
        clock.reset()
    return path, secrets


@pytest.fixture
def database_url(demo_template, tmp_path):
    """Overrides conftest's: this test's copy of the demo organisation (SQLite)."""
    path = tmp_path / "firebreak.db"
    shutil.copyfile(demo_template[0], path)
    return f"sqlite:///{path}"


@pytest.fixture
def tokens(demo_template):
    return demo_template[1]


# --- figures ------------------------------------------------------------------------------

class Tally:
    def __init__(self, name: str):
        self.name, self.requests, self.examples, self.statuses = name, 0, 0, {}
        self.started = time.monotonic()

    def saw(self, status: int) -> None:
        self.requests += 1
        key = f"{status // 100}xx"
        self.statuses[key] = self.statuses.get(key, 0) + 1

    def write(self) -> None:
        target = os.environ.get("FIREBREAK_HOSTILE_REPORT")
        if not target:
            return
        line = json.dumps({"test": self.name, "requests": self.requests, "examples": self.examples,
                           "statuses": self.statuses, "seconds": round(time.monotonic() - self.started, 2)})
        with open(target, "a", encoding="utf-8") as out:
            out.write(line + "\n")


@pytest.fixture
def tally(request):
    """Counts the requests and examples of one test; `make hostile` sums them."""
    counter = Tally(request.node.nodeid)
    yield counter
    counter.write()


# --- pages: their links and forms, what they show, and any markup in them that would run --

@dataclass
class Field:
    """One control of a form as the page drew it."""
    name: str
    kind: str                       # the input's type, or textarea / select
    value: str = ""                 # what the browser would send untouched
    options: list[str] = dataclass_field(default_factory=list)  # select and radio values
    checked: bool = False
    multiple: bool = False
    required: bool = False


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, Field] = dataclass_field(default_factory=dict)


URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background", "hx-get",
                  "hx-post", "srcset", "ping"}
INERT_TEXT = {"script", "style"}  # their contents are not shown as text


class Page(HTMLParser):
    """An HTML page or fragment read the way a browser would: its links (including
    htmx's), its forms, the text it shows, and anything in it that would run:
    an inline script, an event-handler attribute, a javascript: or data: URL, a frame.
    The app has no inline script or handler of its own (its CSP allows none), so any
    found came from what someone typed."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.fragments: list[str] = []  # hx-get targets (fetched as htmx would)
        self.forms: list[Form] = []
        self.live: list[str] = []
        self._text: list[str] = []
        self._inert = 0
        self._form: Form | None = None
        self._select: Field | None = None
        self._textarea: Field | None = None
        self.feed(html)
        self.close()
        self.text = "".join(self._text)

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        for name, value in attrs:
            value = value or ""
            if name.startswith("on"):
                self.live.append(f"<{tag} {name}={value!r}>")
            if name in URL_ATTRIBUTES or name == "style":
                squeezed = "".join(value.split()).lower()
                if squeezed.startswith(("javascript:", "vbscript:", "data:text/html")) or "javascript:" in squeezed \
                        and name in ("srcset", "style"):
                    self.live.append(f"<{tag} {name}={value!r}>")
        if tag == "script" and not (values.get("src") or "").startswith("/static/"):
            self.live.append(f"<script {values}>")
        if tag in ("iframe", "frame", "object", "embed", "base", "applet"):
            self.live.append(f"<{tag} {values}>")
        if tag == "meta" and (values.get("http-equiv") or "").lower() == "refresh":
            self.live.append(f"<meta refresh {values}>")
        if tag in INERT_TEXT:
            self._inert += 1
        if tag == "a" and values.get("href"):
            self.links.append(values["href"])
        for name in ("hx-get",):
            if values.get(name):
                self.fragments.append(values[name])
        self._form_tag(tag, values)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in INERT_TEXT:
            self._inert -= 1

    def handle_endtag(self, tag):
        if tag in INERT_TEXT and self._inert:
            self._inert -= 1
        elif tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea.value += data
        if not self._inert:
            self._text.append(data)
        elif "alert(" in data:  # script or style text made of what someone typed
            self.live.append(f"inert text {data[:80]!r}")

    def _form_tag(self, tag, values):
        if tag == "form":
            self._form = Form(values.get("action") or "", (values.get("method") or "get").lower())
            self.forms.append(self._form)
            return
        form = self._form
        if form is None:
            return
        name = values.get("name")
        if tag == "option" and self._select is not None:
            value = values.get("value", "")
            self._select.options.append(value)
            if "selected" in values or (not self._select.value and not self._select.multiple
                                        and len(self._select.options) == 1):
                self._select.value = value
            return
        if not name or "disabled" in values:
            return
        required = "required" in values
        if tag == "select":
            self._select = form.fields[name] = Field(name, "select", multiple="multiple" in values,
                                                     required=required)
        elif tag == "textarea":
            self._textarea = form.fields[name] = Field(name, "textarea", required=required)
        elif tag in ("input", "button"):
            kind = (values.get("type") or ("submit" if tag == "button" else "text")).lower()
            if kind in ("submit", "button", "reset", "image"):
                return
            value = values.get("value", "on" if kind in ("checkbox", "radio") else "")
            if kind == "radio" and name in form.fields:
                radio = form.fields[name]
                radio.options.append(value)
                if "checked" in values:
                    radio.value, radio.checked = value, True
                return
            form.fields[name] = Field(name, kind, value, [value] if kind == "radio" else [],
                                      checked="checked" in values, required=required)


@dataclass
class Visit:
    url: str
    endpoint: str
    status: int
    content_type: str
    body: bytes
    page: Page | None  # for HTML


def crawl(app, client, seeds, *, per_endpoint: int, skip=frozenset(), limit: int = 2000) -> list[Visit]:
    """Every page reachable from `seeds` by links and htmx GETs, as `client` sees them:
    each seed, and at most `per_endpoint` other URLs per endpoint (the first found),
    never an endpoint in `skip` unless seeded."""
    from collections import deque
    from urllib.parse import urljoin, urlsplit

    from werkzeug.exceptions import HTTPException
    from werkzeug.routing import RequestRedirect
    adapter = app.url_map.bind("localhost")
    seeds = list(seeds)
    queue = deque((url, False) for url in seeds)
    seen, counts, visits = set(), {}, []
    while queue and len(visits) < limit:
        url, fragment = queue.popleft()
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/") or parts.path.startswith("/static/"):
            continue
        url = parts.path + (f"?{parts.query}" if parts.query else "")
        if url in seen:
            continue
        try:
            endpoint, _ = adapter.match(parts.path, method="GET")
        except (HTTPException, RequestRedirect):
            continue
        seeded = url in seeds
        if not seeded and (endpoint in skip or counts.get(endpoint, 0) >= per_endpoint):
            continue
        seen.add(url)
        counts[endpoint] = counts.get(endpoint, 0) + 1
        answer = client.get(url, headers={"HX-Request": "true"} if fragment else {})
        content_type = answer.headers.get("Content-Type", "")
        page = Page(answer.get_data(as_text=True)) if content_type.startswith("text/html") else None
        visits.append(Visit(url, endpoint, answer.status_code, content_type, answer.data, page))
        if page is not None:
            queue.extend((urljoin(url, link), False) for link in page.links)
            queue.extend((urljoin(url, link), True) for link in page.fragments)
    return visits
