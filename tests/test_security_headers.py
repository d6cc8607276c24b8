"""Security headers on every kind of answer: pages, fragments, JSON, errors, redirects,
static files, the status page (from Flask and from its cache, which answers without
Flask), feeds. HSTS only on answers that came over TLS, as the trusted proxy says."""
from __future__ import annotations

import pytest

from app.auth.models import Role
from app.web import public
from tests.factories import login, make_component, make_user

ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
HSTS = "Strict-Transport-Security"


def assert_protected(answer, *, tls: bool = False, what: str = ""):
    answer.close()  # static files are streamed from disk
    for name, value in ALWAYS.items():
        assert answer.headers.get(name) == value, (what, name, answer.status_code)
    csp = answer.headers.get("Content-Security-Policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ") if d}
    assert directives.get("script-src") == ["'self'"], (what, csp)
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, what
    assert directives.get("frame-ancestors") == ["'none'"], what
    assert directives.get("object-src") == ["'none'"] and directives.get("base-uri") == ["'self'"], what
    if tls:
        assert answer.headers.get(HSTS, "").startswith("max-age=63072000"), (what, answer.status_code)
    else:
        assert HSTS not in answer.headers, (what, answer.status_code)


def every_kind_of_answer(app, client, **kwargs):
    """(what, status, answer) for one of each kind, as an admin where a sign-in is needed."""
    @public
    def boom():
        raise RuntimeError("a bug")
    app.add_url_rule("/test-boom", "test_boom", boom)
    make_component("API")
    anonymous = app.test_client()
    yield "sign-in page", 200, anonymous.get("/login", **kwargs)
    yield "redirect to sign in", 302, anonymous.get("/incidents/", **kwargs)
    yield "static file", 200, anonymous.get("/static/css/app.css", **kwargs)
    yield "vendored script", 200, anonymous.get("/static/vendor/htmx/htmx.min.js", **kwargs)
    yield "health JSON (no engine running)", 503, anonymous.get("/healthz", **kwargs)
    yield "API refusal", 401, anonymous.get("/api/v1/me", **kwargs)
    yield "OpenAPI document", 200, anonymous.get("/api/v1/openapi.json", **kwargs)
    yield "ingestion error", 400, anonymous.post("/v2/enqueue", json={}, **kwargs)
    yield "body too large", 413, anonymous.post("/v2/enqueue", data=b"x" * (600 * 1024),
                                                content_type="application/json", **kwargs)
    yield "unknown page", 404, anonymous.get("/no-such-page", **kwargs)
    yield "wrong method", 405, anonymous.delete("/login", **kwargs)
    yield "server error", 500, anonymous.get("/test-boom", **kwargs)
    yield "calendar feed refused", 404, anonymous.get("/schedules/1/oncall.ics?token=fbcal_wrong", **kwargs)
    for path in ("/status", "/api/v2/summary.json", "/status/feed.atom", "/status/brand.css"):
        yield f"status page {path} (rendered by Flask)", 200, anonymous.get(path, **kwargs)
        cached = anonymous.get(path, **kwargs)
        yield f"status page {path} (from the cache)", 200, cached
        yield f"status page {path} (from the cache, not modified)", 304, anonymous.get(
            path, headers={"If-None-Match": cached.headers["ETag"]}, **kwargs)
    viewer = app.test_client()
    login(viewer, make_user(Role.VIEWER))
    yield "forbidden", 403, viewer.post("/teams/new", data={"name": "x"}, **kwargs)
    login(client, make_user(Role.ADMIN))
    yield "page", 200, client.get("/incidents/", **kwargs)
    yield "htmx fragment", 200, client.get("/people", headers={"HX-Request": "true"}, **kwargs)
    yield "CSRF refusal", 400, client.post("/teams/new", data={"name": "x"}, csrf=False, **kwargs)
    yield "see other after a post", 303, client.post("/teams/new", data={"name": "Ops"},  # Referer: over TLS
                                                     headers={"Referer": "https://localhost/teams/new"}, **kwargs)
    yield "audit log", 200, client.get("/admin/audit/", **kwargs)


def test_every_kind_of_answer_carries_the_headers_and_no_hsts_over_plain_http(app, client):
    seen = 0
    for what, status, answer in every_kind_of_answer(app, client):
        assert answer.status_code == status, what
        assert_protected(answer, what=what)
        seen += 1
    assert seen > 25


def test_a_status_page_answer_from_the_cache_was_really_from_the_cache(app, client):
    """The cache answers without Flask: prove the cached answer above is one."""
    make_component("API")
    client.get("/status")
    from app.statuspage.cache import Entry
    assert isinstance(app.extensions["statuspage_cache"].entries.get("/status"), Entry)


def test_over_tls_every_answer_also_carries_hsts(app, client):
    for what, status, answer in every_kind_of_answer(app, client, base_url="https://localhost"):
        assert answer.status_code == status, what
        assert_protected(answer, tls=True, what=what)


@pytest.mark.parametrize("app_config", [{"PUBLIC_BASE_URL": "https://incidents.example.com", "PROXY_COUNT": 1}])
def test_behind_the_proxy_hsts_follows_x_forwarded_proto(app, client):
    make_component("API")
    tls, plain = {"X-Forwarded-Proto": "https"}, {"X-Forwarded-Proto": "http"}
    for path in ("/login", "/status", "/status", "/api/v2/summary.json", "/static/css/app.css"):
        assert_protected(client.get(path, headers=tls), tls=True, what=path)
        assert_protected(client.get(path, headers=plain), tls=False, what=path)


@pytest.mark.parametrize("app_config", [{"PUBLIC_BASE_URL": "https://incidents.example.com"}])
def test_without_a_trusted_proxy_x_forwarded_proto_is_ignored(app, client):
    """PROXY_COUNT=0: nobody in front is trusted, so a forged header changes nothing
    (and an https PUBLIC_BASE_URL alone does not send HSTS over plain HTTP)."""
    make_component("API")
    for path in ("/login", "/status", "/status"):
        assert_protected(client.get(path, headers={"X-Forwarded-Proto": "https"}), tls=False, what=path)


def test_pages_carry_no_inline_script_or_style_for_the_policy_to_allow(app, client):
    """The policy allows no inline script or style; the pages need none. (The crawl in
    test_access.py checks every page's HTML the same way.)"""
    from tests.test_access import inline_code
    login(client, make_user(Role.ADMIN))
    for path in ("/", "/incidents/", "/people", "/profile", "/services/", "/oncall/", "/status"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert inline_code(answer.get_data(as_text=True)) == [], path
