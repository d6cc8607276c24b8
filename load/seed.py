"""The database a run starts from: migrated, the demo organisation (teams, 12 people
with verified phones and email, schedules, escalation policies, severity triggers,
the status page with its components and history), a fixed integration key per
service (every other service groups its alerts into the open incident), and
signed-in sessions for the simulated browsers.

Run as its own process with the run's environment (DATABASE_URL, SECRET_KEY, …):

    python -m load.seed BROWSERS USER_AGENT

prints one JSON line: the routing keys, the session cookies, the service ids.
"""
from __future__ import annotations

import json
import sys

import sqlalchemy as sa

# 32 hex characters each; one per demo service, in app.demo.SERVICES order.
ROUTING_KEYS = [f"10ad{n:028x}" for n in range(1, 7)]


def seed(browsers: int, user_agent: str) -> dict:
    from flask import session
    from flask_login import login_user
    from flask_migrate import upgrade

    from app import create_app
    from app.audit.service import Actor
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
                cookies.append(serializer.dumps(dict(session)))
        db.session.remove()
        db.engine.dispose()
    return {"routing_keys": ROUTING_KEYS[:len(ids)], "service_ids": ids, "cookies": cookies,
            "cookie_name": app.config["SESSION_COOKIE_NAME"]}


if __name__ == "__main__":
    print(json.dumps(seed(int(sys.argv[1]), sys.argv[2])))
