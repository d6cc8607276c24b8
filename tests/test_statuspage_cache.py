"""The public cache: rendered once per change, served without the database, Flask or
templates, no stampede, no way around it, changes seen within the check interval in
every process. Time is a fake monotonic clock and threads wait on events: nothing
sleeps."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from app import clock
from app.auth.models import Role
from app.extensions import db
from app.statuspage import service
from app.statuspage.cache import PublicCache, Rendered, answer, build, cache_key
from tests.conftest import make_app
from tests.factories import SYSTEM, login, make_component, make_user

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class FakeTime:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rendered(text: str = "hello", status: int = 200) -> Rendered:
    return Rendered(text.encode(), "text/plain; charset=utf-8", status=status)


# --- the cache on its own ----------------------------------------------------------------------

def test_the_version_is_read_at_most_once_per_interval():
    reads, time = [], FakeTime()
    cache = PublicCache(lambda: reads.append(1) or len(reads), check_seconds=0.5, monotonic=time)
    assert [cache.epoch() for _ in range(100)] == [1] * 100
    time.now += 0.49
    assert cache.epoch() == 1 and len(reads) == 1
    time.now += 0.02
    assert cache.epoch() == 2 and len(reads) == 2
    cache.expire()  # this process changed something
    assert cache.epoch() == 3


def test_while_one_thread_reads_the_version_the_others_carry_on():
    time, started, release = FakeTime(), threading.Event(), threading.Event()
    versions = iter([1, 2])

    def slow_read():
        value = next(versions)
        if value == 2:
            started.set()
            release.wait(5)
        return value

    cache = PublicCache(slow_read, check_seconds=0.5, monotonic=time)
    assert cache.epoch() == 1
    time.now += 1
    reader = threading.Thread(target=cache.epoch)
    reader.start()
    assert started.wait(5)
    assert cache.epoch() == 1  # not blocked behind the reader
    release.set()
    reader.join(5)
    assert cache.epoch() == 2


def test_a_failing_version_read_keeps_the_last_one():
    time, calls = FakeTime(), []

    def read():
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("database away")
        return 7

    cache = PublicCache(read, check_seconds=0.5, monotonic=time)
    assert cache.epoch() == 7
    time.now += 1
    assert cache.epoch() == 7
    assert cache.epoch() == 7 and len(calls) == 2  # and it waits another interval before trying again


def test_a_cold_key_renders_once_however_many_ask():
    version, gate, renders = [1], threading.Event(), []

    def render():
        renders.append(1)
        gate.wait(5)
        return rendered("page")

    cache = PublicCache(lambda: version[0], check_seconds=0)
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("/status", render))) for _ in range(20)]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join(5)
    assert len(renders) == 1 and len(results) == 20 and len({id(r) for r in results}) == 1


def test_after_a_change_one_request_re_renders_and_the_others_get_the_last_version_at_once():
    version, entered, gate = [1], threading.Event(), threading.Event()
    cache = PublicCache(lambda: version[0], check_seconds=0)
    old = cache.get("/status", lambda: rendered("old"))
    version[0] = 2

    def slow():
        entered.set()
        gate.wait(5)
        return rendered("new")

    renderer = threading.Thread(target=lambda: cache.get("/status", slow))
    renderer.start()
    assert entered.wait(5)
    others = [cache.get("/status", lambda: pytest.fail("a second render")) for _ in range(50)]
    assert all(entry is old for entry in others)  # nobody waited, nobody rendered twice
    gate.set()
    renderer.join(5)
    assert cache.get("/status", lambda: pytest.fail("a third render")).body == b"new"
    assert cache.renders["/status"] == 2


def test_unchanged_bytes_keep_their_etag_and_date():
    first = build(rendered("same"), 1, None, T0)
    later = build(rendered("same"), 2, first, T0 + timedelta(minutes=5))
    assert later.etag == first.etag and later.modified == first.modified == T0
    changed = build(rendered("other"), 3, later, T0 + timedelta(minutes=6))
    assert changed.etag != first.etag and changed.modified == T0 + timedelta(minutes=6)


def test_conditional_requests_head_and_gzip():
    entry = build(rendered("x" * 5000), 1, None, T0)
    status, headers, body = answer(entry, {"REQUEST_METHOD": "GET"})
    assert status == 200 and len(body) == 5000 and ("ETag", entry.etag) in headers
    assert answer(entry, {"REQUEST_METHOD": "GET", "HTTP_IF_NONE_MATCH": entry.etag})[0] == 304
    assert answer(entry, {"REQUEST_METHOD": "GET", "HTTP_IF_NONE_MATCH": f'"other", W/{entry.etag}'})[0] == 304
    assert answer(entry, {"REQUEST_METHOD": "GET", "HTTP_IF_NONE_MATCH": '"other"'})[0] == 200
    assert answer(entry, {"REQUEST_METHOD": "GET", "HTTP_IF_MODIFIED_SINCE": "Mon, 02 Mar 2026 09:00:00 GMT"})[0] == 304
    assert answer(entry, {"REQUEST_METHOD": "GET", "HTTP_IF_MODIFIED_SINCE": "Mon, 02 Mar 2026 08:59:59 GMT"})[0] == 200
    assert answer(entry, {"REQUEST_METHOD": "GET", "HTTP_IF_MODIFIED_SINCE": "yesterday"})[0] == 200
    status, headers, body = answer(entry, {"REQUEST_METHOD": "GET", "HTTP_ACCEPT_ENCODING": "gzip, deflate"})
    assert ("Content-Encoding", "gzip") in headers and len(body) < 100
    assert answer(entry, {"REQUEST_METHOD": "GET", "HTTP_ACCEPT_ENCODING": "gzip",
                          "HTTP_IF_NONE_MATCH": entry.etag_gz})[0] == 304
    assert answer(entry, {"REQUEST_METHOD": "HEAD"})[2] == b""
    small = build(rendered("tiny"), 1, None, T0)
    assert ("Content-Encoding", "gzip") not in answer(small, {"HTTP_ACCEPT_ENCODING": "gzip"})[1]


def test_only_the_history_page_number_is_part_of_a_key():
    assert cache_key("/status", "nocache=1") == "/status"
    assert cache_key("/status/history", "page=3&x=1") == "/status/history?page=3"
    assert cache_key("/status/history", "page=1") == cache_key("/status/history", "page=abc") == "/status/history"
    assert cache_key("/status/history", "page=99999") == "/status/history"


# --- the cache in the app ---------------------------------------------------------------------

@pytest.fixture
def statements(app):
    """Every SQL statement the app runs from now on."""
    seen = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)
    event.listen(db.engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.engine, "before_cursor_execute", record)


@pytest.mark.db
def test_a_warm_page_is_served_without_the_database_flask_or_templates(app, client, statements):
    clock.set(T0)
    make_component("Checkout")
    cache = app.extensions["statuspage_cache"]
    cache.check_seconds = 60  # within one check interval
    first = client.get("/status")
    assert first.status_code == 200 and b"Checkout" in first.data
    statements.clear()
    rendered_before = dict(cache.renders)
    flask_requests = []
    app.before_request_funcs.setdefault(None, []).insert(0, lambda: flask_requests.append(1))
    for _ in range(50):
        again = client.get("/status")
        assert again.data == first.data
    assert statements == [] and flask_requests == [] and cache.renders == rendered_before
    for header in ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "ETag"):
        assert header in again.headers


@pytest.mark.db
def test_no_request_header_or_parameter_gets_past_the_cache(app, client):
    clock.set(T0)
    make_component("Checkout")
    cache = app.extensions["statuspage_cache"]
    first = client.get("/status")
    for headers, url in [({"Cache-Control": "no-cache", "Pragma": "no-cache"}, "/status"),
                         ({"HX-Request": "true"}, "/status"), ({}, "/status?nocache=12345"),
                         ({"Cookie": "firebreak_session=whatever"}, "/status"), ({"Authorization": "Bearer x"}, "/status")]:
        answer_ = client.get(url, headers=headers)
        assert answer_.data == first.data and answer_.headers["ETag"] == first.headers["ETag"]
    assert cache.renders["/status"] == 1


@pytest.mark.db
def test_a_change_shows_on_the_next_request_and_renders_once(app, client):
    clock.set(T0)
    component = make_component("Checkout")
    cache = app.extensions["statuspage_cache"]
    assert b"Operational" in client.get("/status").data
    service.set_component_status(SYSTEM, component, "major_outage", clock.now())
    db.session.commit()
    pages = [client.get("/status") for _ in range(5)]
    assert all(b"Major outage" in p.data for p in pages)
    assert cache.renders["/status"] == 2


@pytest.mark.db
def test_time_moves_the_page_on_without_a_change_but_keeps_its_etag_when_nothing_moved(app, client):
    clock.set(T0)
    make_component("Checkout")
    summary = client.get("/api/v2/components.json")
    cache = app.extensions["statuspage_cache"]
    clock.advance(timedelta(seconds=app.config["STATUS_RERENDER_SECONDS"]))
    again = client.get("/api/v2/components.json")
    assert cache.renders["/api/v2/components.json"] == 2
    assert again.headers["ETag"] == summary.headers["ETag"]
    assert again.headers["Last-Modified"] == summary.headers["Last-Modified"]


@pytest.mark.db
def test_every_process_sees_a_change_within_its_check_interval(app, database_url):
    """Two app instances on one database, as two gunicorn workers or machines are."""
    clock.set(T0)
    component = make_component("Checkout")
    other = make_app(database_url, STATUS_CACHE_CHECK_SECONDS=0.5)
    time = FakeTime()
    other_cache = other.extensions["statuspage_cache"]
    other_cache.monotonic = time
    other_client = other.test_client()
    assert b"Operational" in other_client.get("/status").data

    service.set_component_status(SYSTEM, component, "partial_outage", clock.now())
    db.session.commit()
    assert b"Operational" in other_client.get("/status").data  # still inside its interval
    time.now += 0.5
    assert b"Partial outage" in other_client.get("/status").data
    with other.app_context():
        db.engine.dispose()


@pytest.mark.db
def test_the_page_sets_no_cookie_and_is_the_same_for_a_signed_in_admin(app, client):
    clock.set(T0)
    make_component("Checkout")
    anonymous = client.get("/status")
    admin = make_user(Role.ADMIN, name="Avery Admin")
    other = app.test_client()
    login(other, admin)
    for c in (client, other):
        for url in ("/status", "/status/subscribe", "/api/v2/summary.json", "/status/feed.atom", "/status/history"):
            answer_ = c.get(url)
            assert answer_.status_code == 200, url
            assert "Set-Cookie" not in answer_.headers, url
    assert other.get("/status").data == anonymous.data
    assert b"Avery" not in other.get("/status").data
    missing = client.get("/status/no/such/page")
    assert missing.status_code == 404 and b"Nothing here" in missing.data and "Set-Cookie" not in missing.headers


@pytest.mark.db
def test_unknown_incident_ids_cost_no_query(app, client, statements):
    clock.set(T0)
    make_component("Checkout")
    assert client.get("/status/incidents/zzzzzzzzzzzz").status_code == 404
    statements.clear()
    app.extensions["statuspage_cache"].check_seconds = 60
    for n in range(20):
        answer_ = client.get(f"/status/incidents/made{n:08d}")
        assert answer_.status_code == 404 and b"no such incident" in answer_.data
    assert statements == []


@pytest.mark.db
@pytest.mark.parametrize("app_config", [{"STATUS_PAGE_HOST": "status.example.com"}])
def test_the_page_answers_at_the_root_of_its_own_host(app, client):
    clock.set(T0)
    make_component("Checkout")
    page = client.get("/", headers={"Host": "status.example.com"})
    assert page.status_code == 200 and b"Checkout" in page.data
    assert client.get("/feed.atom", headers={"Host": "status.example.com"}).status_code == 200
    assert client.get("/api/v2/status.json", headers={"Host": "status.example.com"}).json["page"]["url"] == \
        "http://status.example.com/"
    assert client.get("/login", headers={"Host": "status.example.com"}).status_code == 404
    assert client.get("/", headers={"Host": "localhost"}).status_code == 302  # the app itself, as before
    summary = client.get("/api/v2/summary.json").json
    assert summary["page"]["url"] == "http://status.example.com/"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(sa.text("components"))) == 1
