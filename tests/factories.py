"""Small explicit factories: each makes one thing through the real service functions."""
from __future__ import annotations

import itertools

from app.audit.service import Actor
from app.auth import service as people
from app.auth.models import Role, Team, User
from app.extensions import db
from app.services import service as services
from app.services.models import Service

PASSWORD = "correct horse battery"
SYSTEM = Actor.system("tests")
_seq = itertools.count(1)


def make_user(role: Role | str = Role.RESPONDER, *, name: str | None = None, email: str | None = None,
              password: str | None = PASSWORD, phone: str | None = None, time_zone: str = "UTC") -> User:
    n = next(_seq)
    user = people.create_user(SYSTEM, email=email or f"person{n}@example.com", name=name or f"Person {n}",
                              role=role, password=password, phone=phone, time_zone=time_zone)
    db.session.commit()
    return user


def make_team(name: str | None = None, members: list[User] = ()) -> Team:
    team = people.create_team(SYSTEM, name=name or f"Team {next(_seq)}")
    for member in members:
        people.add_member(SYSTEM, team, member)
    db.session.commit()
    return team


def make_service(name: str | None = None, team: Team | None = None, **kwargs) -> Service:
    service = services.create_service(SYSTEM, name=name or f"service-{next(_seq)}",
                                      team_id=team.id if team else None, **kwargs)
    db.session.commit()
    return service


def login(client, user: User, *, user_agent: str = "", ip: str = "127.0.0.1"):
    """Sign a test client in as `user` without going through the form: a session row
    and a cookie stamped as just signed in, by the clock, as the form would. Returns
    the row (app.auth.sessions)."""
    from app import clock
    from app.auth import sessions
    now = clock.now()
    record, key = sessions.open_session(user, now=now, ip=ip, user_agent=user_agent)
    db.session.commit()
    stamp = int(now.timestamp())
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
        session[sessions.KEY] = key
        session[sessions.SIGNED_IN_AT] = session[sessions.SEEN_AT] = stamp
    return record


def actor(user: User) -> Actor:
    return Actor.for_user(user)


def reachable(user: User, *, phone: str | None = None, email: bool = True) -> User:
    """Give a person verified SMS, voice and email methods and the default rules."""
    from app import clock
    from app.notify import contacts
    number = phone or user.phone or f"+1555{next(_seq):07d}"
    for channel in ("sms", "voice"):
        contacts.add_method(SYSTEM, user, channel, number, clock.now(), verified=True)
    if email:
        contacts.add_method(SYSTEM, user, "email", user.email, clock.now(), verified=True)
    contacts.ensure_rules(user)
    db.session.commit()
    return user


def reachable_responders(*names: str) -> dict[str, User]:
    """Responders by name, each reachable (`reachable`) at +15551230001, +15551230002, … in order."""
    return {name: reachable(make_user(Role.RESPONDER, name=name, phone=f"+1555123000{n}"))
            for n, name in enumerate(names, start=1)}


# Timeline kinds that paging and escalation add to any incident opened: tests about
# something else compare the timeline without them.


def story(kinds) -> list[str]:
    from app.incidents.models import PAGING_KINDS
    return [kind for kind in kinds if kind not in PAGING_KINDS]


def make_component(name: str | None = None, *, group=None, services=(), **kwargs):
    """A status page component, made now by the system."""
    from app import clock
    from app.statuspage import service as status_page
    component = status_page.create_component(SYSTEM, name=name or f"Component {next(_seq)}", now=clock.now(),
                                             group=group, services=list(services), **kwargs)
    db.session.commit()
    return component


def make_group(name: str | None = None, **kwargs):
    from app import clock
    from app.statuspage import service as status_page
    group = status_page.create_group(SYSTEM, name=name or f"Group {next(_seq)}", now=clock.now(), **kwargs)
    db.session.commit()
    return group


def resolve(actor: Actor, incident, now, **kwargs) -> bool:
    """`incidents.resolve`, then what the engine does next for it (its follow-up: the
    post-mortem draft the severity requires, the search entries), at the same time."""
    from app.incidents import service as incidents
    from app.postmortems import service as postmortems
    done = incidents.resolve(actor, incident, now, **kwargs)
    if incident.followup_at is not None:
        postmortems.follow_up(incident, now)
    return done


def owe(incident_id: int, at) -> None:
    """Escalation under way with a page not yet sent and a sent one, and an update
    owed, as the engine's first cycle leaves them (what resolving must stop)."""
    from datetime import timedelta

    import sqlalchemy as sa

    from app.comms.models import CommsDue
    from app.incidents.models import Incident
    from app.notify.models import Channel, Notification, Status
    db.session.execute(sa.update(Incident).where(Incident.id == incident_id).values(
        escalation_state="active", next_escalation_at=at + timedelta(minutes=10)))
    for n, status in enumerate((Status.QUEUED, Status.SENT)):
        db.session.add(Notification(key=f"page-{incident_id}-{n}", purpose="page", incident_id=incident_id,
                                    channel=Channel.SMS, to_address="+15550100", body="page", status=status,
                                    next_attempt_at=at if status == Status.QUEUED else None, created_at=at))
    db.session.add(CommsDue(incident_id=incident_id, seq=1, due_at=at + timedelta(minutes=30),
                            remind_at=at + timedelta(minutes=25), next_action_at=at + timedelta(minutes=25),
                            state="pending"))
    db.session.commit()
