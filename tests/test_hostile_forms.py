"""Hostile input, the HTML forms: every POST route of the web pages gets generated field
values (text of any script, huge strings, numbers out of range, impossible dates, markup,
options that are not offered, fields left out, no CSRF token) as an admin would send
them. Never a 5xx; and a refused submission (a 4xx, a form shown again with its errors,
or a redirect that flashes an error) changes no row of any table.

The forms are found, not listed: an admin (and a visitor, for the public forms) crawls
the demo organisation, with a little more added so the forms that depend on a state
appear (an open incident with a task and a role, a post-mortem in review, a live
maintenance window, overrides, swaps, feeds, webhooks, subscribers), and every
`<form method="post">` found is mapped to its endpoint through app.url_map. Every POST
endpoint of the app is either such a form, a door other hostile tests cover (the API,
ingestion, Twilio), or named below with the reason it has no form to find.

The GET forms found (filters, searches) get the same values and must change nothing;
an id past what a table holds, in any path, is a 404. Two examples per form inside
`make test`, 60 (100 per filter) under FIREBREAK_HOSTILE=full.
"""
from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import clock
from app.audit.service import Actor
from app.auth.models import User
from app.extensions import db
from tests.conftest import Client, make_app
from tests.factories import login
from tests.hostile import FULL, PAYLOADS, T0, Form, changed_tables, crawl, demo_template, examples, snapshot, tally  # noqa: F401

# Doors other hostile tests drive (test_hostile_api, _ingest, _bodies, test_inbound).
ELSEWHERE = ("/api/", "/v2/", "/integrations/", "/heartbeats/", "/twilio/")
# POST endpoints no page of the demo shows a form for, and why. They still get
# generated fields, at their URL with real ids.
UNREACHED = {
    "insights.survey": "the survey's link is mailed with a one-time token",
    "statuspage.unsubscribe": "RFC 8058's one-click POST from a mail client; the page is a GET",
    "invitations.accept_through_provider": "shown only when OIDC_ISSUER is set (tests/test_oidc.py drives it "
                                           "through the real provider)",
    "two_factor.second_step": "shown only to a browser whose password just passed (tests/test_two_factor.py)",
    "two_factor.confirm": "shown only while a new authenticator waits for its first code (tests/test_two_factor.py)",
    "two_factor.start": "shown only to someone without a second factor; everyone here has one, for the forms of "
                        "those who do (tests/test_two_factor.py)",
    "passkeys.rename": "shown only to the passkey's owner; the world's passkey is Dana's, not the crawling admin's "
                       "(tests/test_passkeys.py)",
    "passkeys.remove": "shown only to the passkey's owner, as rename (tests/test_passkeys.py)",
    "passkeys.second_step": "shown only to a browser whose password just passed, to someone with a passkey "
                            "(tests/test_passkeys.py)",
    # JSON that static/js/passkeys.js posts before calling navigator.credentials: no form.
    "passkeys.registration_options": "asked for by static/js/passkeys.js, no form (tests/test_passkeys.py)",
    "passkeys.sign_in_options": "asked for by static/js/passkeys.js, no form (tests/test_passkeys.py)",
    "passkeys.second_step_options": "asked for by static/js/passkeys.js, no form (tests/test_passkeys.py)",
    "invitations.passkey_options": "asked for by static/js/passkeys.js, no form (tests/test_invitations.py)",
}
# Tables a refused request may write, on purpose.
MAY_WRITE_WHEN_REFUSED = {
    "auth.login": {"users", "audit_log"},        # failed sign-ins are counted, a lock is audited
    "notify.verify": {"contact_methods"},        # wrong codes are counted
    "statuspage.confirm_code": {"subscribers"},  # wrong codes are counted
}
ANONYMOUS_PAGES = ["/login", "/status", "/status/subscribe"]
# Slow answers with no form in them.
NO_FORMS = {"postmortems.pdf", "insights.monthly_report_pdf", "insights.export_csv", "postmortems.markdown",
            "oncall.schedule_feed", "oncall.person_feed", "statuspage.feed", "statuspage.logo", "statuspage.brand_css"}


def _post_endpoints() -> dict[str, str]:
    """endpoint → rule for every POST route of the web pages (import time: the factory
    touches no database)."""
    app = make_app("sqlite://")
    return {rule.endpoint: rule.rule for rule in app.url_map.iter_rules()
            if "POST" in rule.methods and not rule.rule.startswith(ELSEWHERE)}


ENDPOINTS = _post_endpoints()


# --- the site, with enough going on that the forms which depend on a state are shown ---------

def _more_state(now: datetime) -> dict[str, str]:
    """What the demo lacks for some forms to appear; returns extra pages to start from."""
    import pyotp

    from app.auth import service as people
    from app.auth import invitations, oidc, password_reset, sessions, twofactor
    from app.auth.models import PasswordReset, Team
    from app.comms import library, webhooks
    from app.incidents import roles, warroom
    from app.insights import drills, reviews
    from app.incidents import service as incidents
    from app.notify import contacts
    from app.oncall import service as oncall
    from app.oncall.models import Schedule
    from app.postmortems import service as postmortems
    from app.postmortems.models import Postmortem
    from app.services import maintenance
    from app.alerts import heartbeats
    from app.services.models import Service
    from app.statuspage import subscribers
    admin_user = db.session.get(User, 1)
    admin = Actor.for_user(admin_user)
    service = db.session.get(Service, 1)
    incident = incidents.open_incident(admin, service=service, title="Checkout slow", severity=2, now=now)
    incidents.add_note(admin, incident, "Looking at the database", now)
    incidents.add_note(admin, incident, "Fail over", now, decision=True)
    warroom.add_task(admin, incident, now, title="Check the pool", owner_id=admin_user.id)
    roles.assign(admin, incident, roles.COMMANDER, admin_user, now)
    drill = drills.start_drill(admin, service=service, title="Game day", severity=3, now=now)
    incidents.acknowledge(admin, drill, now)
    pm = db.session.scalar(sa.select(Postmortem).where(Postmortem.incident_id == 1))  # a draft
    postmortems.add_reviewers(admin, pm, [db.session.get(User, 3)], now)
    first = postmortems.add_why(admin, pm, now, why="Why did it fail?", because="The pool was full")
    postmortems.add_why(admin, pm, now, why="Why was it full?", parent=first)
    postmortems.add_cause(admin, pm, now, category="Process", text="No runbook")
    postmortems.add_factor(admin, pm, now, category_id=postmortems.factor_categories()[0].id, description="Load")
    postmortems.add_comment(admin, pm, now, body="Is this right?", section=pm.sections[0])
    in_review = postmortems.create_postmortem(admin, incidents.get_incident(2), now)
    postmortems.submit_for_review(admin, in_review, now, reviewers=[admin_user, db.session.get(User, 2)])
    reviews.set_schedule(admin, "comms_template", library.all_templates()[0].key, now, owner_id=admin_user.id,
                         next_review_on=None)
    library.save(admin, library.all_templates()[0].key, now, name="Changed", audience="internal_technical",
                 description="", subject="{{ title }}", body="{{ summary }}")
    webhooks.create_webhook(admin, now, name="Chat", kind="slack", url="https://hooks.slack.example/x")
    window = maintenance.schedule(admin, title="Database upgrade", starts_at=now - timedelta(minutes=5),
                                  ends_at=now + timedelta(hours=2), services=[service], now=now, public=True)
    contacts.add_method(admin, admin_user, "sms", "+15557000999", now)
    schedule = db.session.get(Schedule, 1)
    oncall.add_override(admin, schedule, user_id=2, starts_at=now + timedelta(days=1),
                        ends_at=now + timedelta(days=1, hours=4), now=now, note="Cover")
    oncall.add_swap(admin, schedule, first_user_id=2, second_user_id=3, first_starts_at=now + timedelta(days=2),
                    first_ends_at=now + timedelta(days=2, hours=8), now=now)
    oncall.add_override(admin, schedule, user_id=admin_user.id, starts_at=now, ends_at=now + timedelta(hours=2),
                        now=now)  # on call now: the handover note's form
    oncall.add_temporary(admin, schedule, name="Holiday cover", starts_at=now + timedelta(days=3),
                         ends_at=now + timedelta(days=5), participant_ids=[2, 3], shift_unit="days", shift_length=1,
                         now=now)
    oncall.create_feed(admin, now=now, schedule=schedule)
    heartbeats.create(admin, service, name="nightly-backup", interval_seconds=3600, grace_seconds=600, now=now)
    subscribers.subscribe("email", "reader@example.com", now)
    reader = db.session.scalar(sa.select(subscribers.Subscriber).where(
        subscribers.Subscriber.address == "reader@example.com"))
    subscribers.confirm(subscribers.token(reader, "confirm"), now)
    texted = subscribers.subscribe("sms", "+15557000998", now)
    people.create_api_token(admin, admin_user, name="CI")
    sessions.open_session(admin_user, now=now, ip="198.51.100.4", user_agent="Firefox/128.0")  # one to end
    [(_, invited)] = invitations.invite(admin, "newcomer@example.com", "responder", None, now).made  # resend, revoke
    oidc.add_mapping(admin, "sre", db.session.get(Team, 1))  # its removal
    reset_token = "hostile-forms-reset-token"
    db.session.add(PasswordReset(user=db.session.get(User, 2), token_hash=password_reset.token_hash(reset_token),
                                 created_at=now, expires_at=now + password_reset.LIFETIME))
    for person in db.session.scalars(sa.select(User)):  # one's own recovery codes and turning off; an admin's reset
        twofactor.begin(Actor.for_user(person), person)
        twofactor.confirm(Actor.for_user(person), person, pyotp.TOTP(twofactor.pending_secret(person)).at(now), now)
    db.session.commit()
    schedules = {f"schedule {row.id}{page}": f"/schedules/{row.id}{page}" for row in oncall.all_schedules()
                 for page in ("", "/edit")}
    published = db.session.scalar(sa.select(Postmortem.id).where(Postmortem.published_at.is_not(None)))
    return {**schedules, "published": f"/postmortems/{published}", "in review": f"/postmortems/{in_review.id}",
            "incident": f"/incidents/{incident.id}", "public": "/incidents/1", "postmortem": f"/postmortems/{pm.id}",
            "service": f"/services/{service.id}", "two-factor": "/profile/two-factor", "sessions": "/profile/sessions",
            "invitations": "/people/invitations", "single sign-on": "/admin/single-sign-on",
            "invited": urlsplit(invited).path, "reset": f"/password-reset/{reset_token}",
            "window": f"/maintenance/{window.id}",
            "unsubscribe": f"/status/unsubscribe/{subscribers.token(reader, 'unsubscribe')}",
            "confirm_code": f"/status/subscribe/sms/{texted.sms_token}"}


@pytest.fixture(scope="session")
def site(demo_template, tmp_path_factory):
    """(the database file, endpoint → the form found for it, and the same for GET forms):
    the demo with more state, crawled once per worker. Each test works on its own copy."""
    path = tmp_path_factory.mktemp("forms") / "forms.db"
    shutil.copyfile(demo_template[0], path)
    app = make_app(f"sqlite:///{path}")
    app.test_client_class = Client  # each request in a context of its own, like a browser's
    forms: dict[str, tuple[str, Form]] = {}
    filters: dict[str, tuple[str, Form]] = {}  # GET forms: filters and searches
    with app.app_context():
        clock.set(T0)
        extra = _more_state(T0)
        adapter = app.url_map.bind("localhost")
        public = [extra.pop(key) for key in ("unsubscribe", "confirm_code", "invited", "reset")]
        for user_id, seeds in ((1, ["/", *extra.values()]), (None, ANONYMOUS_PAGES + public)):
            client = app.test_client()
            if user_id:
                login(client, db.session.get(User, user_id))
            for visit in crawl(app, client, seeds, per_endpoint=1, skip=NO_FORMS):
                for form in visit.page.forms if visit.page else []:
                    action = urlsplit(form.action or visit.url)
                    method = "POST" if form.method == "post" else "GET"
                    try:
                        endpoint, _ = adapter.match(action.path, method=method)
                    except Exception:  # noqa: BLE001 - a form sent elsewhere is not ours to test
                        continue
                    found = forms if method == "POST" else filters
                    found.setdefault(endpoint, (action.path + (f"?{action.query}" if action.query else ""), form))
        db.session.remove()
        db.engine.dispose()
        clock.reset()
    return path, forms, filters


@pytest.fixture
def database_url(site, tmp_path):
    path = tmp_path / "firebreak.db"
    shutil.copyfile(site[0], path)
    return f"sqlite:///{path}"


def test_every_post_route_has_a_form_to_find(site):
    """A new route whose form no page shows is a gap in this suite: find its form or say why."""
    _, forms, _ = site
    lost = sorted(set(ENDPOINTS) - set(forms) - set(UNREACHED))
    assert not lost, f"no form found for {lost}"
    assert not set(UNREACHED) & set(forms), "found after all: take it out of UNREACHED"


# --- what is typed -----------------------------------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=300)  # any script, controls, astral
class Long(str):
    """A long run of one letter, shown short when hypothesis reports an example."""

    def __repr__(self) -> str:
        return f"{self[:1]!r} * {len(self):,}"


HUGE = st.sampled_from([1_000, 5_000, 70_000]).map(lambda n: Long("x" * n))  # over every field's limit
OVERSIZED = Long("x" * 600_000)  # over the request limit: 413 before any form is read
NUMBERS = st.sampled_from(["-1", "0", "-0", "1.5", "1e309", "NaN", "inf", "0x10", " 7 ", "9" * 30, "-9" * 20,
                           "2147483648", "9223372036854775808", "١٢"])
DATES = st.sampled_from(["2026-02-30", "2026-13-01", "0000-01-01", "0001-01-01", "9999-12-31", "10000-01-01",
                         "-0001-01-01", "2026-11-27T25:00", "2026-11-27T23:59:60", "9999-12-31T23:59",
                         "0001-01-01T00:00", "27/11/2026", "yesterday", "2026-W48", "23:60", "24:00"])
ANYTHING = st.one_of(TEXT, HUGE, NUMBERS, DATES, st.sampled_from(PAYLOADS), st.just(""))
NUMERIC = ("number", "range")
TEMPORAL = ("date", "datetime-local", "time", "month", "week")


def value(field) -> st.SearchStrategy:
    """One field's value: as the page filled it, a plausible one of its kind, or anything."""
    kept = st.just(field.value)
    if field.kind in ("select", "radio"):
        options = [o for o in field.options if o] or [field.value]
        plausible = st.sampled_from(options)
        if field.multiple:
            plausible = st.lists(plausible, max_size=4) | st.lists(ANYTHING, max_size=3)
    elif field.kind == "checkbox":
        plausible = st.sampled_from(["on", "y", "1", "true", "false", "off"])
    elif field.kind in NUMERIC:
        plausible = st.integers(-10**20, 10**20).map(str) | st.floats().map(str)
    elif field.kind in TEMPORAL:
        plausible = (st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))
                     .map(lambda d: d.strftime({"date": "%Y-%m-%d", "time": "%H:%M", "month": "%Y-%m",
                                                "week": "%G-W%V"}.get(field.kind, "%Y-%m-%dT%H:%M"))))
    elif field.kind == "file":
        plausible = st.sampled_from([b"GIF89a" + b"\0" * 10, b"\x89PNG\r\n\x1a\n", b"<svg onload=alert(1)>",
                                     b"x" * 300_000])
    else:
        plausible = TEXT | st.sampled_from(PAYLOADS)
    return st.one_of(kept, plausible, ANYTHING)


@st.composite
def submission(draw, form: Form | None):
    """(form data, with a CSRF token?): each field kept, changed or left out."""
    fields = {name: f for name, f in (form.fields.items() if form else ()) if name != "csrf_token"}
    data = {}
    for name, field in fields.items():
        if draw(st.integers(0, 9)) == 0:
            continue  # left out
        chosen = draw(value(field))
        if field.kind == "file" and isinstance(chosen, bytes):
            import io
            chosen = (io.BytesIO(chosen), "logo.png")
        elif isinstance(chosen, bytes) or (field.kind == "file" and not chosen):
            continue
        data[name] = chosen
    for name in draw(st.lists(st.sampled_from(["id", "role", "next", Long("x" * 300), "csrf_token"]), max_size=1)):
        data.setdefault(name, draw(ANYTHING))  # fields no form has
    if draw(st.integers(0, 29)) == 0:
        data["oversized"] = OVERSIZED
    return data, draw(st.integers(0, 14)) > 0


def refused(client, answer) -> bool:
    """A 4xx, a form shown again with its errors, or a redirect that flashes an error."""
    with client.session_transaction() as session:
        flashes = session.pop("_flashes", [])
    if 400 <= answer.status_code < 500 or any(category == "error" for category, _ in flashes):
        return True
    if answer.status_code == 200 and answer.mimetype == "text/html":
        html = answer.get_data(as_text=True)
        return 'aria-invalid="true"' in html or 'class="field-error"' in html or 'class="form-errors"' in html
    return False


def _target(endpoint: str, forms: dict) -> tuple[str, Form | None]:
    """Where the form posts; for the routes with no form to find, their rule with real ids."""
    if endpoint in forms:
        return forms[endpoint]
    rule = ENDPOINTS[endpoint]
    import re
    return re.sub(r"<(?:int:)?(\w+)>", lambda m: "1" if "int:" in m.group(0) else "x", rule), None


ANONYMOUS = {"auth.login", "statuspage.subscribe", "statuspage.confirm_code", "statuspage.resubscribe",
             "statuspage.unsubscribe", "insights.survey"}
# `make hostile`: a test per endpoint. `make test`: four tests sharing the endpoints (a
# copy of the database and an app per test is most of what a small run costs).
BATCHES = [[e] for e in sorted(ENDPOINTS)] if FULL else [sorted(ENDPOINTS)[n::4] for n in range(4)]


@pytest.mark.parametrize("endpoints", BATCHES, ids=lambda batch: batch[0] if len(batch) == 1 else f"{batch[0]}…")
def test_generated_form_posts_never_fail_and_refusals_change_nothing(app, client, site, tally, endpoints):
    _, forms, _ = site
    admin = db.session.get(User, 1)
    for endpoint in endpoints:
        url, form = _target(endpoint, forms)

        @settings(max_examples=examples(2, 60), deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(sent=submission(form))
        def run(sent):
            data, with_csrf = sent
            tally.examples += 1
            clock.set(T0)
            if endpoint not in ANONYMOUS:
                login(client, db.session.get(User, admin.id))
            before = snapshot()
            uploads = form is not None and any(f.kind == "file" for f in form.fields.values())
            if uploads:  # werkzeug's test client spools a multipart body over 500 KB to a file it
                data.pop("oversized", None)  # never closes when the app refuses it unread (413)
            answer = client.post(url, data=data, csrf=with_csrf, content_type="multipart/form-data" if uploads
                                 else "application/x-www-form-urlencoded")
            tally.saw(answer.status_code)
            assert answer.status_code < 500, (endpoint, url, {k: str(v)[:80] for k, v in data.items()},
                                              answer.get_data(as_text=True)[:300])
            if refused(client, answer):
                changed = set(changed_tables(before, snapshot())) - MAY_WRITE_WHEN_REFUSED.get(endpoint, set())
                assert not changed, (endpoint, answer.status_code, sorted(changed), {k: str(v)[:80] for k, v in data.items()})

        run()


def test_generated_filters_and_searches_never_fail_and_change_nothing(app, client, site, tally):
    """The GET forms (lists' filters, searches, the insights period): same values, same rules."""
    _, _, filters = site
    assert len(filters) >= 8, sorted(filters)
    admin = db.session.get(User, 1)
    login(client, admin)
    for endpoint, (url, form) in sorted(filters.items()):

        @settings(max_examples=examples(3, 100), deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(sent=submission(form))
        def run(sent):
            data, _ = sent
            data.pop("oversized", None)  # a query string that long is the server's to refuse, not the app's
            tally.examples += 1
            clock.set(T0)
            before = snapshot()
            answer = client.get(url, query_string=data)
            tally.saw(answer.status_code)
            assert answer.status_code < 500, (endpoint, url, {k: str(v)[:80] for k, v in data.items()})
            assert not changed_tables(before, snapshot()), (endpoint, data)

        run()


def test_an_id_no_table_can_hold_is_not_found_in_any_path(app, client, tally):
    """`<int:…>` past MAX_ID (the API's bound, 32-bit on PostgreSQL) is a 404 like any
    unknown id: 2**64 once reached SQLite and answered 500 on every page with an id."""
    import re
    login(client, db.session.get(User, 1))
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or "int:" not in rule.rule:
            continue
        for huge in (2**31, 2**64, 10**40):
            url = re.sub(r"<int:\w+>", str(huge), re.sub(r"<(?:string:)?\w+>", "x", rule.rule))
            answer = client.get(url)
            tally.saw(answer.status_code)
            assert answer.status_code == 404, (url, answer.status_code)


# --- what the generated values found, pinned down --------------------------------------------

BIG = str(2**63)  # past SQLite's integer (and 2**31 - 1, PostgreSQL's)
FOUND_BY_GETS = ["/incidents/new?service_id=²", "/incidents/?page=²", "/incidents/?service=" + BIG, "/incidents/?q=²",
                 "/alerts?service=²", "/alerts?service=" + BIG, "/insights/?team=²", "/insights/report?team=²",
                 "/admin/audit/?actor=" + BIG, "/admin/audit/?q=" + "x" * 60_000,
                 "/admin/audit/?action=" + "x" * 60_000, "/alerts?q=" + "x" * 60_000, "/people?q=" + "x" * 60_000,
                 "/status/history?page=" + "9" * 5_000, "/oncall/handovers?schedule_id=" + BIG]


@pytest.mark.parametrize("url", FOUND_BY_GETS, ids=lambda url: url[:40])
def test_numbers_that_name_no_row_and_overlong_searches_are_answered(app, client, url):
    """"²" is a digit int() refuses; 2**63 does not fit SQLite; int() refuses 5,000
    digits; SQLite refuses a LIKE pattern over 50 KB: each answered 500."""
    login(client, db.session.get(User, 1))
    assert client.get(url).status_code == 200


def test_a_digit_that_is_no_number_in_a_link_or_a_choice_is_refused(app, client, site):
    _, forms, _ = site
    assert client.get("/status/unsubscribe/²-" + "0" * 32).status_code == 404
    login(client, db.session.get(User, 1))
    before = snapshot()
    answer = client.post(forms["escalation.add_target"][0], data={"target": "user:²"})
    assert answer.status_code == 303
    answer = client.post(forms["comms.edit_plan"][0], data={"items": "² | Executives | management"})
    assert answer.status_code == 400
    answer = client.post(forms["incidents.release_role"][0], data={"user_id": BIG})
    assert answer.status_code == 400
    assert not changed_tables(before, snapshot())


def test_posted_ids_that_name_no_row_are_refused(app, client, site):
    _, forms, _ = site
    login(client, db.session.get(User, 1))
    before = snapshot()
    for endpoint, data in [("incidents.merge", {"target": BIG}), ("postmortems.create_action_item",
                                                                   {"incident_id": BIG, "title": "x"}),
                           ("services.set_escalation", {"escalation_policy_id": BIG}),
                           ("comms.compose", {"lists": BIG, "subject": "s", "body": "b"}),
                           ("insights.assess", {"user_id": BIG, "score": "5"})]:
        answer = client.post(forms[endpoint][0], data=data)
        assert 300 <= answer.status_code < 500, (endpoint, answer.status_code)
    assert not changed_tables(before, snapshot())


def test_a_window_without_its_times_is_refused_beside_the_field(app, client, site):
    """The times' fields are Optional, which skipped `validate_ends_at`: 500 on None."""
    _, forms, _ = site
    login(client, db.session.get(User, 1))
    for endpoint, data in [("oncall.add_override", {"user_id": "2"}),
                           ("oncall.add_override", {"user_id": "2", "starts_at": "2026-11-28T09:00"}),
                           ("oncall.add_temporary", {"name": "Cover", "shift_unit": "days", "shift_length": "1"})]:
        answer = client.post(forms[endpoint][0], data=data)
        assert answer.status_code == 400 and "Give the start and the end." in answer.get_data(as_text=True), endpoint


def test_a_restriction_with_days_that_are_not_days_is_refused(app, client, site):
    _, forms, _ = site
    login(client, db.session.get(User, 1))
    url, form = forms["oncall.new_layer"]
    data = {name: field.value for name, field in form.fields.items() if name != "csrf_token"}
    data.update({"restricted": "y", "restrictions-0-days": ["on", "", "9"], "restrictions-0-start": "09:00",
                 "restrictions-0-end": "17:00"})
    assert client.post(url, data=data).status_code == 400


def test_a_name_taken_in_another_case_or_script_is_refused_not_a_500(app, client):
    """SQLite's lower() folds ASCII only: "Ë9" typed twice got past the check for a
    name already taken, and the unique index refused it with a 500."""
    login(client, db.session.get(User, 1))
    assert client.post("/admin/factor-categories", data={"name": "Ë9"}).status_code == 303
    for name in ("Ë9", "ë9"):
        answer = client.post("/admin/factor-categories", data={"name": name})
        assert answer.status_code == 400 and "That category exists." in answer.get_data(as_text=True)
