"""The public status page: /status, its incident and maintenance pages, the history,
the Atom feed, the Statuspage-compatible JSON (/api/v2), the brand stylesheet and
logo, and subscribing.

Every GET here is rendered once per change into the cache (app.statuspage.cache)
and served from it; these views run only when the cache has nothing fresh. No
view reads the session or sets a cookie, and no template uses the signed-in
person: the page is the same for everyone.
"""
from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, redirect, request, url_for
from markupsafe import Markup

from app import clock
from app.extensions import db, limiter
from app.forms import add_error
from app.statuspage import public, service, statusjson, subscribers, uptime
from app.statuspage.branding import stylesheet
from app.statuspage.cache import PublicCache, Rendered, answer, cache_key
from app.statuspage.forms import CodeForm, SubscribeForm
from app.statuspage.models import Component, ComponentStatus, PageSettings, PublicIncident, SubscriberChannel
from app.statuspage.present import cached_markdown, day_label, strips, time_tag
from app.web import attempt, no_csrf, public as public_view

bp = Blueprint("statuspage", __name__)

HTML = "text/html; charset=utf-8"
JSON = "application/json; charset=utf-8"
PAST_DAYS = 14
HISTORY_PAGE = 25
IMMUTABLE = "public, max-age=31536000, immutable"


def cache() -> PublicCache:
    return current_app.extensions["statuspage_cache"]


def _serve(key: str, render, *, detail: bool = False) -> Response:
    entry = cache().get(key, render, detail=detail, route=request.url_rule.rule)
    # For HEAD, werkzeug drops the body itself and keeps its Content-Length.
    environ = {**request.environ, "REQUEST_METHOD": "GET"} if request.method == "HEAD" else request.environ
    status, headers, body = answer(entry, environ)
    return Response(body, status=status, headers=headers)


def _layout(settings: PageSettings) -> dict:
    """What every public template needs: the page's name, zone and brand."""
    brand = hashlib.sha256(f"{settings.brand_color}:{settings.logo_hash}".encode()).hexdigest()[:10]
    return {"settings": settings, "zone": service.page_zone(), "brand_version": brand,
            "refresh_seconds": current_app.config["STATUS_REFRESH_SECONDS"], "time_tag": time_tag,
            "day_label": day_label, "statuses": ComponentStatus, "status_url": public.status_url,
            "md": cached_markdown}


def render_public(template: str, **context) -> str:
    """A template without the app's context processors: they would load the signed-in
    person (and touch the session) for a page that must be the same for everyone."""
    return current_app.jinja_env.get_template(template).render(**context)


def _html(template: str, status: int = 200, **context) -> Rendered:
    settings = context.pop("settings", None) or service.get_settings()
    body = render_public(template, **_layout(settings), **context)
    return Rendered(body.encode(), HTML, status=status)


# --- the page ------------------------------------------------------------------------

def _render_page() -> Rendered:
    snap = public.snapshot()
    shown = [c for c in snap.components if not c.only_show_if_degraded or c.status != ComponentStatus.OPERATIONAL]
    bars_html, percents = strips([c for c in shown if c.showcase], snap.zone, snap.now)
    return _html("statuspage/index.html", settings=snap.settings, snap=snap,
                 shown={c.id for c in shown}, strips=bars_html, percents=percents, past_html=_past_incidents(snap),
                 rule=uptime.RULE, days=uptime.DAYS)


def _past_incidents(snap: public.Snapshot) -> Markup:
    """The last PAST_DAYS days of incidents, rendered again only when one of them changed
    (or the day did): a component flapping does not re-render them."""
    today = uptime.local_day(snap.now, snap.zone)
    start, _ = uptime.day_bounds(today - timedelta(days=PAST_DAYS - 1), snap.zone)
    end = snap.now + timedelta(seconds=1)
    versions = tuple(db.session.execute(
        sa.select(PublicIncident.id, PublicIncident.updated_at, PublicIncident.postmortem_published_at)
        .where(PublicIncident.started_at >= start, PublicIncident.started_at < end)
        .order_by(PublicIncident.id)).all())
    key = (today, snap.zone.key, snap.settings.time_zone, versions)
    memo = current_app.extensions.setdefault("statuspage_past_incidents", {})
    html = memo.get(key)
    if html is None:
        past: dict = {today - timedelta(days=n): [] for n in range(PAST_DAYS)}
        for incident in public.incidents_between(start, end):
            past.setdefault(uptime.local_day(incident.started_at, snap.zone), []).append(incident)
        html = Markup(render_public("statuspage/_past.html", **_layout(snap.settings),
                                    past=sorted(past.items(), reverse=True)))
        if len(memo) > 100:
            memo.clear()
        memo[key] = html
    return html


@bp.route("/status")
@public_view
def index():
    return _serve("/status", _render_page)


def _not_found() -> Response:
    return _serve("/status/_not_found", lambda: _html("statuspage/not_found.html", status=404))


def _known():
    return cache().value("ids", public.known_ids).value


@bp.route("/status/incidents/<public_id>")
@public_view
def incident(public_id: str):
    if public_id not in _known()[0]:
        return _not_found()

    def render() -> Rendered:
        found = public.incident_by_public_id(public_id)
        if found is None:
            return _html("statuspage/not_found.html", status=404)
        return _html("statuspage/incident.html", incident=found)
    return _serve(request.path, render, detail=True)


@bp.route("/status/maintenance/<public_id>")
@public_view
def maintenance(public_id: str):
    if public_id not in _known()[1]:
        return _not_found()

    def render() -> Rendered:
        found = public.maintenances(public.WITH_CANCELLED, 1,
                                    public_id=public_id)
        if not found:
            return _html("statuspage/not_found.html", status=404)
        return _html("statuspage/maintenance.html", m=found[0])
    return _serve(request.path, render, detail=True)


@bp.route("/status/history")
@public_view
def history():
    key = cache_key(request.path, request.query_string.decode("latin-1"))
    page = int(key.rsplit("=", 1)[1]) if "?page=" in key else 1

    def render() -> Rendered:
        incidents = public.incidents_page(page, HISTORY_PAGE + 1, per_page=HISTORY_PAGE)
        more = len(incidents) > HISTORY_PAGE
        incidents = incidents[:HISTORY_PAGE]
        zone = service.page_zone()
        months: dict = {}
        for item in incidents:
            months.setdefault(public_month(item.started_at, zone), []).append(item)
        return _html("statuspage/history.html", months=list(months.items()), page=page, more=more)
    return _serve(key, render, detail=True)


def public_month(at, zone) -> str:
    return clock.utc(at).astimezone(zone).strftime("%B %Y")


# --- the feed, the stylesheet, the logo --------------------------------------------------

def _render_feed() -> Rendered:
    snap = public.snapshot()
    incidents = public.recent_incidents(50)
    windows = public.maintenances(public.WITH_CANCELLED, 25)
    items = [{"kind": "incident", "title": i.name, "url": public.status_url(f"/incidents/{i.public_id}"),
              "id": f"{snap.settings.public_id}:incident:{i.public_id}", "published": i.created_at,
              "updated": i.updated_at, "incident": i} for i in incidents]
    items += [{"kind": "maintenance", "title": m.window.title, "url": public.status_url(f"/maintenance/{m.public_id}"),
               "id": f"{snap.settings.public_id}:maintenance:{m.public_id}", "published": m.window.created_at,
               "updated": m.window.updated_at or m.window.created_at, "maintenance": m} for m in windows]
    items.sort(key=lambda item: clock.utc(item["updated"]), reverse=True)
    updated = max([clock.utc(snap.settings.changed_at)] + [clock.utc(item["updated"]) for item in items])
    body = render_public("statuspage/feed.xml", **_layout(snap.settings), snap=snap, items=items, updated=updated,
                           iso=lambda value: clock.utc(value).isoformat().replace("+00:00", "Z"))
    return Rendered(body.encode(), "application/atom+xml; charset=utf-8")


@bp.route("/status/feed.atom")
@public_view
def feed():
    return _serve("/status/feed.atom", _render_feed)


@bp.route("/status/brand.css")
@public_view
def brand_css():
    return _serve("/status/brand.css", lambda: Rendered(stylesheet(service.get_settings().brand_color).encode(),
                                                        "text/css; charset=utf-8", cache_control=IMMUTABLE))


def _render_logo() -> Rendered:
    settings = db.session.get(PageSettings, service.SETTINGS_ID)
    if settings is None or not settings.logo:
        return Rendered(b"No logo", "text/plain; charset=utf-8", status=404)
    return Rendered(bytes(settings.logo), settings.logo_type or "application/octet-stream", cache_control=IMMUTABLE)


@bp.route("/status/logo")
@public_view
def logo():
    return _serve("/status/logo", _render_logo)


# --- the JSON -----------------------------------------------------------------------------

def _json(make) -> Rendered:
    doc = make(public.snapshot())
    return Rendered(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode(), JSON,
                    headers=(("Access-Control-Allow-Origin", "*"),))


DOCUMENTS = {
    "summary": lambda snap: statusjson.summary_doc(snap),
    "status": lambda snap: statusjson.status_doc(snap),
    "components": lambda snap: statusjson.components_doc(snap),
    "incidents": lambda snap: statusjson.incidents_doc(snap, public.recent_incidents(50)),
    "incidents/unresolved": lambda snap: statusjson.incidents_doc(snap, snap.open_incidents),
    "scheduled-maintenances": lambda snap: statusjson.maintenances_doc(snap, public.maintenances(limit=50)),
    "scheduled-maintenances/upcoming": lambda snap: statusjson.maintenances_doc(snap, snap.upcoming_maintenance),
    "scheduled-maintenances/active": lambda snap: statusjson.maintenances_doc(snap, snap.active_maintenance),
}


def _json_view(name: str):
    def view():
        return _serve(request.path, lambda: _json(DOCUMENTS[name]))
    view.__name__ = "api_" + name.replace("/", "_").replace("-", "_")
    return public_view(view)


for _name in DOCUMENTS:
    bp.add_url_rule(f"/api/v2/{_name}.json", endpoint="api_" + _name.replace("/", "_").replace("-", "_"),
                    view_func=_json_view(_name))


# --- subscribing --------------------------------------------------------------------------

def _subscribe_limit() -> str:
    return current_app.config["STATUS_SUBSCRIBE_RATE_LIMIT"]


def _components() -> list[Component]:
    return service.components_in_order()


def _subscribe_page(form: SubscribeForm, status: int = 200) -> Rendered:
    return _html("statuspage/subscribe.html", status=status, form=form, components=_components())


@bp.route("/status/subscribe", methods=["GET", "POST"])
@public_view
@no_csrf
@limiter.limit(_subscribe_limit, methods=["POST"])
def subscribe():
    if request.method == "GET":
        return _serve("/status/subscribe", lambda: _subscribe_page(SubscribeForm()))
    form = SubscribeForm(request.form)
    channel = form.channel.data if form.channel.data in ("email", "sms", "webhook") else "email"
    picked = [p for p in request.form.getlist("components") if p][:200]
    chosen = list(db.session.scalars(sa.select(Component).where(Component.public_id.in_(picked)))) if picked else []
    address = {"email": form.email.data, "sms": form.phone.data, "webhook": form.url.data}[channel] or ""
    if form.validate():
        result, refused = attempt(lambda: subscribers.subscribe(channel, address, clock.now(), email=form.email.data,
                                                                components=chosen))
        if refused is None:
            if result.channel == SubscriberChannel.SMS:
                return redirect(url_for("statuspage.confirm_code", token=result.sms_token), code=303)
            return redirect(url_for("statuspage.subscribe_sent"), code=303)
        if refused.field == "url" and channel != "webhook":
            refused.field = None
        add_error(form, refused)
    rendered = _subscribe_page(form, status=400)
    return Response(rendered.body, status=rendered.status, content_type=rendered.content_type)


@bp.route("/status/subscribe/sent")
@public_view
def subscribe_sent():
    return _serve("/status/subscribe/sent", lambda: _html("statuspage/message.html", heading="Check your inbox",
                                                          message="If the address can get our updates, a message "
                                                                  "with a confirmation link is on its way. Nothing "
                                                                  "is sent until the link is opened."))


def _page(template: str, status: int = 200, **context) -> Response:
    rendered = _html(template, status=status, **context)
    response = Response(rendered.body, status=status, content_type=HTML)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/status/subscribe/sms/<token>", methods=["GET", "POST"])
@public_view
@no_csrf
@limiter.limit(_subscribe_limit, methods=["POST"])
def confirm_code(token: str):
    form = CodeForm(request.form if request.method == "POST" else None)
    if request.method == "POST" and form.validate():
        if subscribers.confirm_sms(token, form.code.data, clock.now()):
            db.session.commit()
            return _page("statuspage/message.html", heading="You are subscribed",
                         message="You will get an SMS when an incident starts, when it is resolved, and when "
                                 "maintenance starts. Reply STOP to any of them to unsubscribe.")
        db.session.commit()  # keep the attempt count
        form.code.errors = ["That code is not right, or it has expired. Check the SMS, or subscribe again."]
    return _page("statuspage/code.html", status=400 if form.errors else 200, form=form, token=token)


@bp.route("/status/subscribe/confirm/<token>")
@public_view
def confirm(token: str):
    subscriber = subscribers.confirm(token, clock.now())
    if subscriber is None:
        return _page("statuspage/message.html", status=404, heading="That link does not work",
                     message="It may have been copied incompletely. Subscribe again to get a new one.")
    db.session.commit()
    return _page("statuspage/confirmed.html", subscriber=subscriber,
                 unsubscribe=subscribers.unsubscribe_url(subscriber))


@bp.route("/status/unsubscribe/<token>", methods=["GET", "POST"])
@public_view
@no_csrf
def unsubscribe(token: str):
    """One click from any message (and RFC 8058's one-click POST)."""
    subscriber = subscribers.unsubscribe(token, clock.now())
    if subscriber is None:
        return _page("statuspage/message.html", status=404, heading="That link does not work",
                     message="It may have been copied incompletely.")
    db.session.commit()
    return _page("statuspage/unsubscribed.html", subscriber=subscriber, token=token)


@bp.route("/status/unsubscribe/<token>/undo", methods=["POST"])
@public_view
@no_csrf
def resubscribe(token: str):
    subscriber = subscribers.resubscribe(token, clock.now())
    if subscriber is None:
        return _page("statuspage/message.html", status=404, heading="That link does not work",
                     message="Subscribe again from the status page.")
    db.session.commit()
    return _page("statuspage/message.html", heading="You are subscribed again",
                 message="Updates will reach you as before.")


def error_page(status: int, heading: str, message: str) -> Response:
    """Errors under /status in the page's own style (see app.error_pages)."""
    try:
        return _page("statuspage/message.html", status=status, heading=heading, message=message)
    except Exception:  # the database may be what failed: say it plainly
        db.session.rollback()
        return Response(f"{heading}\n\n{message}\n", status=status, content_type="text/plain; charset=utf-8")


@bp.errorhandler(429)
def too_many(error):
    """Too many requests, said on the status page's own terms (no cookie, no sign-in)."""
    return _page("statuspage/message.html", status=429, heading="Slow down",
                 message="Too many requests from your network. Wait a few minutes and try again.")
