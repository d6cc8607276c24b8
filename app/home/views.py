"""The home page, the health checks, and the short incident link a page SMS carries.

Three health checks, for three askers: `/healthz/live` for a supervisor that restarts a
process that no longer answers (it touches nothing else), `/healthz/ready` for a load
balancer that should send requests only where they can be served (the database answers
and, on SQLite, its disk has room), and `/healthz` for people and monitoring, the full
report, the engine included. The engine is not part of readiness: an engine that stops
cycling must not take ingestion and the status page out with it."""
from __future__ import annotations

import os

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, redirect, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from app import clock
from app.auth.models import Role, Team, User
from app.engine import memo
from app.engine.core import LEASE_NAME, wall_now
from app.engine.models import EngineLease
from app.escalation import targets
from app.escalation.models import EscalationPolicy, EscalationStep
from app.extensions import db
from app.incidents import queries
from app.incidents.service import get_incident
from app.notify import reach
from app.oncall import queries as oncall_queries
from app.oncall.service import all_schedules
from app.services.models import Service
from app.web import public, render, requires

bp = Blueprint("home", __name__)


@bp.route("/")
@requires(Role.VIEWER)
def index():
    counts = {
        "teams": db.session.scalar(sa.select(sa.func.count()).select_from(Team)),
        "people": db.session.scalar(sa.select(sa.func.count()).select_from(User).where(User.active.is_(True))),
        "services": db.session.scalar(sa.select(sa.func.count()).select_from(Service).where(Service.active.is_(True))),
    }
    open_incidents = queries.list_page(queries.IncidentFilter(), per_page=10).items
    now = clock.now()
    schedules = all_schedules()
    on_call = oncall_queries.on_call_now(schedules, now, with_gaps=False, with_since=False)
    unpageable, soon = [], []
    if current_user.can(Role.ADMIN):
        unpageable, soon = _unpageable(schedules, now)
    return render("home/index.html", counts=counts, my_teams=current_user.teams, open_incidents=open_incidents,
                  open_counts=queries.open_counts(), on_call=on_call, unpageable=unpageable, soon=soon)


def _unpageable(schedules, now) -> tuple[list, list]:
    """For admins: everyone on a schedule or an escalation policy who cannot be paged,
    and the first shift in the next 7 days of each of them who is on call by then."""
    people: set[int] = set()
    with memo.sharing():  # a schedule several policies name is read once
        for schedule in schedules:
            people |= oncall_queries.people_on(schedule, now)
        policies = db.session.scalars(sa.select(EscalationPolicy).options(
            selectinload(EscalationPolicy.steps).selectinload(EscalationStep.targets))).all()
        for policy in policies:
            people |= targets.people_on(policy, now)
    return reach.unpageable(people), oncall_queries.unpageable_on_call(schedules, now)


@bp.route("/i/<int:incident_id>")
@requires(Role.VIEWER)
def short_link(incident_id: int):
    """`/i/42`, the link in a page SMS (one segment has no room for /incidents/42):
    302 to the incident page; 404 when there is no such incident. Signed in first, so
    nobody learns which numbers exist without an account."""
    return redirect(url_for("incidents.show", incident_id=get_incident(incident_id).id))


@bp.route("/healthz/live")
@public
def live():
    """200 while the process answers requests; nothing else is asked."""
    return _no_store(jsonify({"ok": True}), 200)


@bp.route("/healthz/ready")
@public
def ready():
    """200 when the database answers and, on SQLite, has room on its disk (a full
    disk stops every write); 503 otherwise. What load balancers ask."""
    body: dict = {}
    healthy = _check_database(body)
    return _no_store(jsonify(body), 200 if healthy else 503)


@bp.route("/healthz")
@public
def healthz():
    """200 when the database answers (with room on its disk) and an engine holds the
    lease with a fresh heartbeat, else 503."""
    now = wall_now()  # liveness is about real time, whatever the app clock says
    body: dict = {"time": now.isoformat()}
    if not _check_database(body):
        body["engine"] = {"ok": False, "state": "unknown"}
        return _no_store(jsonify(body), 503)
    healthy = body.get("disk", {}).get("ok", True)
    stale_after = current_app.config["ENGINE_STALE_SECONDS"]
    try:
        lease = db.session.get(EngineLease, LEASE_NAME)
    except sa.exc.SQLAlchemyError as error:  # went away since SELECT 1, or not migrated yet
        db.session.rollback()
        body["database"] = {"ok": False, "error": type(error).__name__}
        body["engine"] = {"ok": False, "state": "unknown"}
        return _no_store(jsonify(body), 503)
    if lease is None:
        body["engine"] = {"ok": False, "state": "not running"}
        healthy = False
    else:
        age = (now - lease.heartbeat_at).total_seconds()
        # Nobody holds an expired lease: a standby takes it within a cycle, so an expiry
        # older than a couple of cycles means no engine runs (stopped, or killed and
        # not replaced), however recent its last heartbeat.
        expired = (now - lease.expires_at).total_seconds()
        stopped = expired > 2 * current_app.config["ENGINE_INTERVAL_SECONDS"] + 1
        ok = age <= stale_after and not stopped
        # "stopped" first: nobody holds the lease, however long ago the last beat was
        # (an engine dead 20 s is as stopped as one dead 10 s); "stale" is a lease still
        # held by an engine that no longer beats (hung).
        body["engine"] = {"ok": ok, "state": "stopped" if stopped else "stale" if age > stale_after else "running",
                          "heartbeat_age_seconds": round(age, 3), "holder": lease.holder,
                          "cycles": lease.cycles, "last_cycle_ms": round(lease.last_cycle_ms, 2)}
        if stopped:
            body["engine"]["lease_expired_seconds_ago"] = round(expired, 3)
        healthy = healthy and ok
    return _no_store(jsonify(body), 200 if healthy else 503)


def _check_database(body: dict) -> bool:
    """SELECT 1, and on SQLite the free space under the file: fills `body["database"]`
    (and `body["disk"]`) and says whether both are fine."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as error:
        db.session.rollback()
        body["database"] = {"ok": False, "error": type(error).__name__}
        return False
    body["database"] = {"ok": True, "backend": db.engine.dialect.name}
    disk = _disk_space()
    if disk is None:
        return True
    body["disk"] = disk
    return disk["ok"]


def _no_store(response, status: int):
    """Health answers are about this moment: no cache may keep one."""
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _disk_space() -> dict | None:
    """Free space where the SQLite file lives: writes fail once it runs out (SQLITE_FULL),
    so too little is unhealthy before the first write fails. None on other databases."""
    url = db.engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    try:
        stat = os.statvfs(os.path.dirname(os.path.abspath(url.database)))
    except OSError:
        return None
    free = stat.f_bavail * stat.f_frsize
    return {"ok": free >= current_app.config["HEALTHZ_MIN_FREE_BYTES"], "free_bytes": free}
