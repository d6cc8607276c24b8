"""Who may reach what: a crawl of every route as anonymous, viewer, responder, admin."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.auth import service as people
from app.auth.models import Role
from app.extensions import db
from app.web import needed_role
from tests.factories import SYSTEM, login, make_user

# Adding a public route is a decision: it must be named here.
PUBLIC_ENDPOINTS = {
    "static",
    "auth.login",
    "home.healthz",
    "alerts.enqueue",
    "alerts.change_enqueue",
    "alerts.alertmanager",
    "alerts.heartbeat_ping",
    "api.openapi",
    "twilio.sms",
    "twilio.voice",
    "twilio.keypress",
    "twilio.status",
    "oncall.schedule_feed",
    "oncall.person_feed",
    # The status page (app.statuspage.public_views): the page, its feed and JSON, subscribing.
    "statuspage.index",
    "statuspage.incident",
    "statuspage.maintenance",
    "statuspage.history",
    "statuspage.feed",
    "statuspage.brand_css",
    "statuspage.logo",
    "statuspage.api_summary",
    "statuspage.api_status",
    "statuspage.api_components",
    "statuspage.api_incidents",
    "statuspage.api_incidents_unresolved",
    "statuspage.api_scheduled_maintenances",
    "statuspage.api_scheduled_maintenances_upcoming",
    "statuspage.api_scheduled_maintenances_active",
    "statuspage.subscribe",
    "statuspage.subscribe_sent",
    "statuspage.confirm_code",
    "statuspage.confirm",
    "statuspage.unsubscribe",
    "statuspage.resubscribe",
}


def routes(app):
    """(endpoint, method, url, view) for every route and method, with stand-in ids."""
    for rule in app.url_map.iter_rules():
        values = {}
        for arg in rule.arguments:
            converter = rule._converters[arg]
            values[arg] = 1 if type(converter).__name__ == "IntegerConverter" else "x"
        url = rule.build(values, append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url, app.view_functions[rule.endpoint]


def test_only_the_listed_routes_are_public(app):
    public = {endpoint for endpoint, _, _, view in routes(app) if getattr(view, "_public", False)}
    public.add("static")
    assert public == PUBLIC_ENDPOINTS


def test_anonymous_visitors_are_refused_everywhere_else(app, client):
    checked = 0
    for endpoint, method, url, view in routes(app):
        if endpoint in PUBLIC_ENDPOINTS:
            continue
        answer = client.open(url, method=method)
        checked += 1
        if url.startswith("/api/"):
            assert answer.status_code == 401, (method, url)
            assert answer.is_json and "token" in answer.json["error"]
        else:
            assert answer.status_code == 302, (method, url, answer.status_code)
            assert answer.headers["Location"].startswith("/login"), (method, url)
    assert checked > 20


def test_htmx_requests_from_signed_out_browsers_are_told_where_to_sign_in(client):
    answer = client.get("/people", headers={"HX-Request": "true"})
    assert answer.status_code == 401
    assert answer.headers["HX-Redirect"].startswith("/login")


@pytest.mark.parametrize("role", [Role.VIEWER, Role.RESPONDER])
def test_people_below_a_routes_role_are_refused(app, client, role):
    login(client, make_user(role))
    refused = 0
    for endpoint, method, url, view in routes(app):
        if endpoint in PUBLIC_ENDPOINTS or url.startswith("/api/"):
            continue
        if role.allows(needed_role(view, method)):
            continue
        answer = client.open(url, method=method)
        assert answer.status_code == 403, (role, method, url, answer.status_code)
        refused += 1
    assert refused > 5


def test_configuration_is_admin_only(app):
    """People, teams, services and the audit log are configuration: changing them,
    or the pages for changing them, needs an admin."""
    config_prefixes = ("/admin/", "/people/", "/teams/", "/services/")
    for endpoint, method, url, view in routes(app):
        if not url.startswith(config_prefixes):
            continue
        if url.startswith("/admin/") or method != "GET" or url.endswith(("/new", "/edit")):
            assert needed_role(view, method) == Role.ADMIN, (method, url)


def test_changes_need_at_least_a_responder_unless_marked(app):
    """Default for any method that changes things: responder; only a person's own
    profile, tokens and sign-out are open to viewers."""
    viewer_may_post = {"auth.logout", "auth.profile", "auth.change_password", "auth.create_token", "auth.revoke_token",
                       "notify.add_method", "notify.verify", "notify.resend", "notify.remove", "notify.set_rules",
                       "notify.test_page"}
    for endpoint, method, url, view in routes(app):
        if method == "GET" or endpoint in PUBLIC_ENDPOINTS:
            continue
        if needed_role(view, method) == Role.VIEWER:
            assert endpoint in viewer_may_post, (method, url)


def test_viewers_read_but_cannot_change(app, client):
    login(client, make_user(Role.VIEWER))
    assert client.get("/services/").status_code == 200
    assert client.get("/people").status_code == 200
    assert client.get("/services/new").status_code == 403
    answer = client.post("/teams/new", data={"name": "Sneaky"})
    assert answer.status_code == 403
    assert b"needs the admin role" in answer.data


def test_posts_without_a_csrf_token_are_refused_and_change_nothing(app, client):
    admin = make_user(Role.ADMIN)
    login(client, admin)
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    for url, data in [("/teams/new", {"name": "Ops"}), ("/services/new", {"name": "svc"}),
                      ("/people/new", {"name": "X", "email": "x@example.com", "time_zone": "UTC", "role": "viewer"})]:
        answer = client.post(url, data=data, csrf=False)
        assert answer.status_code == 400, url
        assert b"did not come from Firebreak" in answer.data
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == before


def test_a_forged_csrf_token_is_refused(client):
    login(client, make_user(Role.ADMIN))
    answer = client.post("/teams/new", data={"name": "Ops"}, headers={"X-CSRFToken": "forged"})
    assert answer.status_code == 400


def test_api_needs_a_valid_bearer_token(app, client):
    user = make_user(Role.RESPONDER)
    _, secret = people.create_api_token(SYSTEM, user, name="script")
    db.session.commit()
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer fbk_wrong"}).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": f"Basic {secret}"}).status_code == 401
    answer = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 200 and answer.json["email"] == user.email


def test_a_signed_in_browser_session_does_not_open_the_api(client):
    login(client, make_user(Role.ADMIN))
    assert client.get("/api/v1/me").status_code == 401


def test_revoked_tokens_and_tokens_of_inactive_people_stop_working(app, client):
    user = make_user(Role.RESPONDER)
    token, secret = people.create_api_token(SYSTEM, user, name="script")
    db.session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    people.revoke_api_token(SYSTEM, token)
    db.session.commit()
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    _, secret2 = people.create_api_token(SYSTEM, user, name="second")
    user.active = False
    db.session.commit()
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret2}"}).status_code == 401


def test_security_headers_on_every_page(client):
    answer = client.get("/login")
    csp = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "same-origin"
    assert "<script>" not in answer.get_data(as_text=True)  # no inline script to allow


_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.I | re.S)
_HANDLER = re.compile(r"<[^>]*\s(on[a-z]+|hx-on[:\w-]*|style)\s*=", re.I)
_JS_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.I)


def inline_code(html: str) -> list[str]:
    """What in a page the Content-Security-Policy would block: inline scripts, event
    handler and style attributes, hx-on (evaluated code), javascript: URLs."""
    found = [f"<script{attrs}>" for attrs, body in _SCRIPT.findall(html) if "src=" not in attrs or body.strip()]
    found += [f"{m.group(1)}= attribute" for m in _HANDLER.finditer(html)]
    found += ["javascript: URL" for _ in _JS_URL.finditer(html)]
    return found
