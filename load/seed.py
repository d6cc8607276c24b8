"""The database a run starts from: migrated, the demo organisation (teams, 12 people
with verified phones and email, schedules, escalation policies, severity triggers,
the status page with its components and history), a fixed integration key per
service (every other service groups its alerts into the open incident), and
signed-in sessions for the simulated browsers.

Run as its own process with the run's environment (DATABASE_URL, SECRET_KEY, …):

    python -m load.seed BROWSERS USER_AGENT [DRILL_SECONDS]

prints one JSON line: the routing keys, the session cookies, the service ids.

With DRILL_SECONDS (the fault runs), every service escalates by the "Drill" policy
(whoever is on call on "Drill on-call", a minute later the Platform manager, twice
over) and "Drill on-call" changes hands every 20 seconds for that long, starting
30 seconds from now (overrides over a base rotation): escalations and handovers
fall due all through a run.
"""
from __future__ import annotations

import json
import sys

import sqlalchemy as sa

# 32 hex characters each; one per demo service, in app.demo.organisation.SERVICES order.
ROUTING_KEYS = [f"10ad{n:028x}" for n in range(1, 7)]


DRILL_SHIFT_SECONDS = 20


def seed_drill(actor, seconds: float) -> dict:
    from datetime import date, time as day_time, timedelta

    from app import clock
    from app.auth.models import User
    from app.escalation import policies
    from app.extensions import db
    from app.oncall import service as oncall
    from app.services.models import Service

    now = clock.now()
    people = {u.email: u for u in db.session.scalars(sa.select(User))}
    schedule = oncall.create_schedule(actor, name="Drill on-call", time_zone="UTC", now=now, reminder_minutes=0,
                                      description="Changes hands every 20 seconds: the fault runs' handovers.")
    oncall.add_layer(actor, schedule, name="Base", start_date=date(2026, 1, 5), now=now,
                     participant_ids=[people["dana@example.com"].id], shift_unit="weeks", shift_length=1,
                     handoff_time=day_time(9), handoff_weekday=0, restrictions=[])
    cover = [people[e] for e in ("lee@example.com", "priya@example.com", "marco@example.com")]
    first = now.replace(microsecond=0) + timedelta(seconds=30)
    changes = int(seconds // DRILL_SHIFT_SECONDS) + 1
    for k in range(changes):
        start = first + timedelta(seconds=k * DRILL_SHIFT_SECONDS)
        oncall.add_override(actor, schedule, user_id=cover[k % len(cover)].id, starts_at=start,
                            ends_at=start + timedelta(seconds=DRILL_SHIFT_SECONDS), now=now)
    policy = policies.create_policy(actor, name="Drill", repeat=1, now=now,
                                    description="On call for the drill, then the Platform manager, twice over.")
    step = policies.add_step(actor, policy, delay_minutes=1, mode="all", now=now)
    policies.add_target(actor, step, "schedule", schedule.id, now)
    step = policies.add_step(actor, policy, delay_minutes=1, mode="all", now=now)
    policies.add_target(actor, step, "user", people["admin@example.com"].id, now)
    for service in db.session.scalars(sa.select(Service)):
        policies.set_service_policy(actor, service, policy.id, service.fallback_team_id)
        service.ack_timeout_minutes = None
    db.session.commit()
    return {"drill_schedule_id": schedule.id, "drill_first_change": first.isoformat(), "drill_changes": changes * 2}


def seed(browsers: int, user_agent: str, drill_seconds: float = 0) -> dict:
    from flask import session
    from flask_login import login_user
    from flask_migrate import upgrade

    from app import clock, create_app
    from app.audit.service import Actor
    from app.auth import sessions
    from app.auth.models import User
    from app.demo import seed_demo
    from app.extensions import db
    from app.services import service as services
    from app.services.models import IntegrationKey, Service

    app = create_app({"RATELIMIT_ENABLED": False})
    with app.app_context():
        upgrade()
        seed_demo(password="load-test-password")
        db.session.commit()
        actor = Actor.system("load test")
        ids = []
        for n, (key, service) in enumerate(zip(ROUTING_KEYS, db.session.scalars(sa.select(Service).order_by(Service.id)))):
            if db.session.scalar(sa.select(IntegrationKey.id).where(IntegrationKey.key == key)) is None:
                services.add_integration_key(actor, service, name="load", key=key)
            # Half the services put their alerts on the open incident, as noisy services are set up.
            service.alert_grouping = "grouped" if n % 2 else "per_alert"
            ids.append(service.id)
        db.session.commit()
        people = db.session.scalars(sa.select(User).where(User.active.is_(True)).order_by(User.id)).all()
        serializer = app.session_interface.get_signing_serializer(app)
        cookies = []
        for n in range(browsers):
            person = people[n % len(people)]
            environ = {"REMOTE_ADDR": "127.0.0.1", "HTTP_USER_AGENT": user_agent}
            with app.test_request_context("/", environ_base=environ):
                login_user(person)
                sessions.start(clock.now())  # a session without its stamps counts as ended
                cookies.append(serializer.dumps(dict(session)))
        drill = seed_drill(actor, drill_seconds) if drill_seconds else {}
        db.session.remove()
        db.engine.dispose()
    return {"routing_keys": ROUTING_KEYS[:len(ids)], "service_ids": ids, "cookies": cookies,
            "cookie_name": app.config["SESSION_COOKIE_NAME"], **drill}


if __name__ == "__main__":
    print(json.dumps(seed(int(sys.argv[1]), sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 0)))
