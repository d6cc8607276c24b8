"""Ingestion endpoints (public, authenticated by their keys) and the alert pages."""
from __future__ import annotations

import json

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, request

from app import clock, nul
from app.alerts import hotpath, ingest
from app.alerts.models import Alert, AlertStatus, Heartbeat
from app.audit.service import Actor
from app.auth.models import Role
from app.database import set_write_intent
from app.errors import NotFound
from app.extensions import db
from app.forms import record_id
from app.services.models import Service
from app.web import no_csrf, public, render, requires

bp = Blueprint("alerts", __name__)

# Concurrent triggers with one dedup key race for the open-alert unique index on
# PostgreSQL; the loser retries and folds into the winner.
ATTEMPTS = 3


class BadBody(Exception):
    pass


def _json_body():
    raw = request.get_data(cache=False)
    if not raw:
        raise BadBody("The request body is empty; send the event as JSON")
    try:
        text = raw.decode("utf-8")
        value = json.loads(text)
        # PostgreSQL stores no NUL; an alert is not lost over one (app.nul).
        return nul.replace_nul(value) if nul.might_hold_nul(text) else value
    except UnicodeDecodeError:
        raise BadBody("The request body is not valid UTF-8") from None
    except RecursionError:
        raise BadBody("The JSON is nested too deeply") from None
    except json.JSONDecodeError as error:
        raise BadBody(f"The request body is not valid JSON ({error.msg} at line {error.lineno} column {error.colno})") from None
    except ValueError:  # a number too long to read (over 4,300 digits)
        raise BadBody("The request body is not valid JSON (a number in it has over 4,300 digits)") from None


def _invalid(message: str, errors: list[str], status: int = 400):
    response = jsonify({"status": "invalid event", "message": message, "errors": errors})
    response.status_code = status
    return response


def _integration_actor(door: str, service: Service, key) -> Actor:
    return ingest.integration_actor(door, key.name if key else None, service.name, request.remote_addr)


def _apply(door: str, events: list[ingest.AlertEvent], service: Service, key) -> list[ingest.Outcome]:
    actor = _integration_actor(door, service, key)
    for attempt in range(ATTEMPTS):
        try:
            now = clock.now()
            outcomes = [ingest.process(event, service, key, now, actor) for event in events]
            db.session.commit()
            return outcomes
        except sa.exc.IntegrityError:
            db.session.rollback()
            if attempt == ATTEMPTS - 1:
                raise
        except sa.exc.OperationalError as error:  # PostgreSQL: chosen to break a deadlock
            db.session.rollback()
            if not hotpath.lock_not_granted(error) or attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


@bp.route("/v2/enqueue", methods=["POST"])
@public
@no_csrf
def enqueue():
    """PagerDuty Events API v2: trigger, acknowledge, resolve."""
    try:
        event = ingest.validate_event(_json_body())
    except BadBody as error:
        return _invalid("Event object is invalid", [str(error)])
    except ingest.InvalidEvent as error:
        return _invalid(error.message, error.errors)
    # The hot path first (a repeat, a new problem: a few Core statements shared by the
    # events that arrive together); whatever it leaves goes the full way, which decides anew.
    if hotpath.eligible(event):
        job = hotpath.Job(event, request.remote_addr)
        _hot(job)
        if job.state is hotpath.JobState.WRITTEN:
            return _accepted(job.dedup_key)
    routed = ingest.route(event.routing_key)
    if routed is None:
        db.session.rollback()
        return _invalid("Event object is invalid", ["Invalid routing key: no active integration has this key"])
    service, key = routed
    [outcome] = _apply("events_v2", [event], service, key)
    return _accepted(outcome.dedup_key)


def _hot(job: hotpath.Job) -> None:
    """The hot path: by this worker's writer process when it has one (SQLite under
    gunicorn, app.alerts.writer), else in this process's group commit."""
    writer = current_app.extensions.get("firebreak.writer")
    if writer is not None and writer.alive:
        writer.run(job)
        if job.state is not hotpath.JobState.FAILED:
            return
    if current_app.config.get("INGEST_GROUP_COMMIT", True):
        group = current_app.extensions.get("firebreak.group_commit")
        if group is None:
            group = current_app.extensions.setdefault("firebreak.group_commit", hotpath.GroupCommit())
        group.run(job)
    if job.state is hotpath.JobState.FAILED:  # alone: no group commit, or its batch was rolled back
        try:
            hotpath.apply_alone(job)
        except (sa.exc.IntegrityError, hotpath.Stale):  # PostgreSQL: another transaction got there first
            db.session.rollback()
            job.dedup_key, job.state = None, hotpath.JobState.FULL
        except sa.exc.OperationalError as error:  # PostgreSQL: a row lock not granted; the full path waits
            if not hotpath.lock_not_granted(error):
                raise
            db.session.rollback()
            job.dedup_key, job.state = None, hotpath.JobState.FULL


def _accepted(dedup_key: str):
    response = jsonify({"status": "success", "message": "Event processed", "dedup_key": dedup_key})
    response.status_code = 202
    return response


@bp.route("/v2/change/enqueue", methods=["POST"])
@public
@no_csrf
def change_enqueue():
    """PagerDuty change events: deploys and other changes, for context."""
    try:
        change = ingest.validate_change(_json_body())
    except BadBody as error:
        return _invalid("Event object is invalid", [str(error)])
    except ingest.InvalidEvent as error:
        return _invalid(error.message, error.errors)
    routed = ingest.route(change["routing_key"])
    if routed is None:
        return _invalid("Event object is invalid", ["Invalid routing key: no active integration has this key"])
    service, key = routed
    ingest.record_change(change, service, key, clock.now(), _integration_actor("events_v2", service, key))
    db.session.commit()
    response = jsonify({"status": "success", "message": "Change event processed"})
    response.status_code = 202
    return response


@bp.route("/integrations/alertmanager/<integration_key>", methods=["POST"])
@public
@no_csrf
def alertmanager(integration_key: str):
    """Prometheus Alertmanager webhook (version 4)."""
    routed = ingest.route(integration_key)
    if routed is None:
        return _invalid("Webhook payload is invalid", ["Invalid integration key: no active integration has this key"], 404)
    try:
        events = ingest.parse_alertmanager(_json_body(), integration_key)
    except BadBody as error:
        return _invalid("Webhook payload is invalid", [str(error)])
    except ingest.InvalidEvent as error:
        return _invalid(error.message, error.errors)
    service, key = routed
    outcomes = _apply("alertmanager", events, service, key)
    summary: dict[str, int] = {}
    for outcome in outcomes:
        summary[outcome.result] = summary.get(outcome.result, 0) + 1
    return jsonify({"status": "success", "message": f"{len(outcomes)} alerts processed", "results": summary}), 200


@bp.route("/heartbeats/<token>", methods=["POST", "GET", "HEAD"])
@public
@no_csrf
def heartbeat_ping(token: str):
    """A check-in from a scheduled job. GET works too, for `curl` in a crontab."""
    set_write_intent(True)  # a GET that writes: take the write lock up front
    heartbeat = db.session.scalar(sa.select(Heartbeat).where(Heartbeat.token == token)) if len(token) == 32 else None
    if heartbeat is None or not heartbeat.active:
        return jsonify({"error": "No active heartbeat has this token."}), 404
    ingest.ping(heartbeat, clock.now())
    db.session.commit()
    return jsonify({"status": "ok", "heartbeat": heartbeat.name, "next_due": heartbeat.due_at.isoformat()})


# --- pages ------------------------------------------------------------------------

@bp.route("/alerts")
@requires(Role.VIEWER)
def index():
    args = request.args
    stmt = sa.select(Alert).order_by(Alert.last_seen_at.desc(), Alert.id.desc())
    status = args.get("status", "open")
    if status == "open":
        stmt = stmt.where(Alert.status != AlertStatus.RESOLVED)
    elif status in {s.value for s in AlertStatus}:
        stmt = stmt.where(Alert.status == status)
    if record_id(args.get("service")):
        stmt = stmt.where(Alert.service_id == record_id(args["service"]))
    q = (args.get("q") or "").strip()[:255]  # a dedup key's length; SQLite refuses LIKE patterns over 50 KB
    if q:
        stmt = stmt.where(sa.or_(Alert.summary.ilike(f"%{q}%"), Alert.dedup_key == q, Alert.source.ilike(f"%{q}%")))
    page = db.paginate(stmt, per_page=50, error_out=False)
    services = db.session.scalars(sa.select(Service).order_by(Service.name)).all()
    return render("alerts/index.html", "results", page=page, services=services, args=args, status_filter=status)


@bp.route("/alerts/<int:alert_id>")
@requires(Role.VIEWER)
def show(alert_id: int):
    alert = db.session.get(Alert, alert_id)
    if alert is None:
        raise NotFound("No such alert.")
    return render("alerts/show.html", alert=alert)
