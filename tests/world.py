"""One of everything: the demo organisation (`flask seed-demo`) and, on top, a row in every
table it leaves empty, each made the way the product makes it (service functions, the
ingestion endpoints, engine cycles), with the ids and secrets a crawler needs.

Used by the route crawl (tests/test_access.py), the migration tests on a populated
database (tests/test_migrations.py) and the backup restore test (tests/test_cli.py).
`EMPTY_ALLOWED` lists the few tables left empty, with why; a new table nobody fills
fails `test_the_world_fills_every_table`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from app import clock
from app.audit.service import Actor
from app.auth import service as people, sessions
from app.auth.models import Passkey, Role, Team, User
from app.extensions import db
from tests.factories import resolve

DEMO_PASSWORD = "demo password 123"
DEMO_KEY = "4e1c9f7a2b3d4c5e8f9a0b1c2d3e4f5a"  # checkout-api's fixed integration key (app/demo/organisation.py)
# A fixed moment, so every run builds the same world (the demo dates its history back from it).
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)

# A 1×1 PNG.
LOGO = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                     "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082")

# Tables nobody fills here, and why.
EMPTY_ALLOWED: dict[str, str] = {}


@dataclass
class World:
    ids: dict[str, int | str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)  # role → a demo person's email


def _user(email: str) -> User:
    return db.session.scalar(sa.select(User).where(User.email == email))


def _commit():
    db.session.commit()


def _two_factor(as_admin: Actor, person: User, now: datetime) -> None:
    """The policy row, and an authenticator for `person` with one recovery code used."""
    import pyotp

    from app.auth import twofactor
    twofactor.set_policy(as_admin, "nobody")
    twofactor.begin(Actor.for_user(person), person)
    code = pyotp.TOTP(twofactor.pending_secret(person)).at(now)
    codes = twofactor.confirm(Actor.for_user(person), person, code, now)
    twofactor.check_code(person, codes[0], now)


def _passkey(person: User, now: datetime) -> None:
    """A passkey for `person`, registered as a browser would (tests/authenticator.py),
    and a challenge handed out for a passkey sign-in and not yet answered."""
    from app.auth import passkeys
    from tests.authenticator import Authenticator
    session: dict = {}
    options = json.loads(passkeys.registration_options(Actor.for_user(person), person, session, now))
    made = Authenticator().create(options, passkeys.origin())
    passkeys.register(Actor.for_user(person), person, session, made, "Dana's laptop", now)
    passkeys.sign_in_options({}, now)


def populate(app, client) -> World:
    """Fill the database behind `app` (migrated, empty). Leaves the clock set at the end."""
    from app.alerts import heartbeats
    from app.comms import library, plan, stakeholders, updates, webhooks
    from app.demo import seed_demo
    from app.engine.core import Engine
    from app.engine.jobs import all_jobs
    from app.escalation.models import EscalationPolicy
    from app.incidents import roles, warroom
    from app.incidents import service as incidents
    from app.incidents.models import Incident, IncidentEvent
    from app.notify import inbound
    from app.notify.models import ContactMethod, Notification
    from app.oncall import service as oncall
    from app.oncall.models import Schedule
    from app.postmortems import actions
    from app.postmortems import service as postmortems
    from app.postmortems.models import FactorCategory, Postmortem, PostmortemTemplate
    from app.services import maintenance
    from app.services.models import IntegrationKey, Service
    from app.statuspage import maintenance as status_maintenance
    from app.statuspage import service as status_page
    from app.statuspage import subscribers
    from app.statuspage.models import Component, ComponentGroup, PublicIncident

    world = World()
    clock.set(T0)
    seed_demo(password=DEMO_PASSWORD)
    _commit()
    admin, dana, viewer = _user("admin@example.com"), _user("dana@example.com"), _user("morgan@example.com")
    # Priya manages Payments (team A of the crawl); Platform is team B.
    world.emails = {"admin": admin.email, "responder": dana.email, "viewer": viewer.email,
                    "manager": "priya@example.com"}
    as_admin, as_dana = Actor.for_user(admin), Actor.for_user(dana)
    checkout = db.session.scalar(sa.select(Service).where(Service.name == "checkout-api"))
    payments = db.session.scalar(sa.select(Team).where(Team.name == "Payments"))
    schedule = db.session.scalar(sa.select(Schedule).where(Schedule.name == "Payments on-call"))
    now = clock.now()

    # Monitoring: an alert that opens an incident, a repeat, a change event.
    event = {"routing_key": DEMO_KEY, "event_action": "trigger", "dedup_key": "checkout/http-5xx",
             "payload": {"summary": "checkout-api: HTTP 5xx 7.2%", "source": "prod-1", "severity": "critical"}}
    assert client.post("/v2/enqueue", json=event).status_code == 202
    assert client.post("/v2/enqueue", json=event).status_code == 202
    assert client.post("/v2/change/enqueue", json={"routing_key": DEMO_KEY, "payload": {
        "summary": "Deploy checkout-api v2.4.1", "source": "ci", "timestamp": now.isoformat()}}).status_code == 202
    db.session.expire_all()
    incident = db.session.scalar(sa.select(Incident).where(Incident.service_id == checkout.id,
                                                           Incident.status != "resolved").order_by(Incident.id.desc()))

    # The response: roles, war room, tasks, a report, another team asked in, a note.
    roles.assign(as_admin, incident, "commander", admin, now)
    roles.propose(incident, now, as_admin)
    commander_items = roles.definition("commander").checklist
    roles.check(as_admin, incident, "commander", commander_items[0], True, now)
    warroom.update_room(as_admin, incident, now, bridge_url="https://meet.example.com/checkout",
                        status_summary="Card payments fail for about 7% of orders.")
    task = warroom.add_task(as_admin, incident, now, title="Roll back v2.4.1", owner_id=dana.id)
    warroom.report(as_admin, incident, now, conditions="5xx at 7%", actions="Rolling back", needs="DBA on call")
    warroom.request_team(as_admin, incident, db.session.scalar(sa.select(Team).where(Team.name == "Platform")), now)
    incidents.add_note(as_dana, incident, "Rollback started.", now, decision=True)
    plan_items = plan.progress(incident, now)
    plan.tick(as_admin, incident, plan_items[0].key, True, now)
    plan.save(as_admin, 1, plan.items_for(1), now)
    _commit()

    # Communications: a template of our own, a webhook, an update to a list and the webhook.
    library.save(as_admin, None, now, name="Partner heads-up", audience="partner", description="For partners.",
                 subject="{{ ref }}: {{ title }}", body="We are working on {{ title }}.")
    hook = webhooks.create_webhook(as_admin, now, name="Slack #incidents", kind="slack",
                                   url="https://hooks.example.com/services/T000/B000/demo")
    internal = next(row for row in stakeholders.lists() if not row.external)
    _commit()
    updates.send(as_admin, incident, updates.Draft(
        template_key="internal_technical", stage="identified", subject="Rolling back checkout-api",
        body="Cause found; rolling back.", list_ids=[internal.id], webhook_ids=[hook.id], status_page=True), now)
    _commit()

    # A draft post-mortem under review: sections, whys, causes, factors, comments, reviewers, an action item.
    draft_incident = incidents.open_incident(as_admin, service=checkout, title="Ledger drift after failover",
                                             severity=3, now=now - timedelta(days=2))
    resolve(as_admin, draft_incident, now - timedelta(days=2, hours=-1))
    pm = postmortems.create_postmortem(as_admin, draft_incident, now - timedelta(days=1),
                                       template=postmortems.template_by_key("lightweight"), owner=dana)
    postmortems.update_section(as_dana, pm, pm.sections[0], "The ledger drifted by 3 entries.", now)
    why = postmortems.add_why(as_dana, pm, now, why="Why did it drift?", because="The replica lagged.")
    cause = postmortems.add_cause(as_dana, pm, now, category="technology", text="Replica lag unmonitored")
    category = db.session.scalar(sa.select(FactorCategory).order_by(FactorCategory.id))
    factor = postmortems.add_factor(as_dana, pm, now, category_id=category.id, description="No lag alert")
    [reviewer] = postmortems.add_reviewers(as_dana, pm, [admin], now)
    comment = postmortems.add_comment(as_admin, pm, now, body="Add the lag graph.", section=pm.sections[0])
    item = actions.create_item(as_dana, draft_incident, now, title="Alert on replica lag", due_on=date(2026, 3, 20),
                               owner_id=dana.id, postmortem=pm)
    template = postmortems.save_template(as_admin, None, name="Security review", description="For breaches.",
                                         sections_text="## What was exposed\n## Who was told [summary]\n",
                                         active=True, now=now)
    _commit()

    # On-call: a swap, a temporary schedule, a handover note, a calendar link each way.
    rota = [u.id for u in db.session.scalars(sa.select(User).where(User.email.in_(
        ["dana@example.com", "lee@example.com"])).order_by(User.id))]
    swap = oncall.add_swap(as_admin, schedule, first_user_id=rota[0], second_user_id=rota[1],
                           first_starts_at=now + timedelta(days=20), first_ends_at=now + timedelta(days=21), now=now)
    temporary = oncall.add_temporary(as_admin, schedule, name="Offsite", starts_at=now + timedelta(days=30),
                                     ends_at=now + timedelta(days=32), participant_ids=rota, shift_unit="days",
                                     shift_length=1, now=now)
    oncall.save_handover_note(as_admin, schedule, "Watch the ledger replica.", now)
    feed, feed_secret = oncall.create_feed(as_dana, now=now, schedule=schedule)
    person_feed, person_feed_secret = oncall.create_feed(as_dana, now=now, person=dana)
    _commit()

    # Services: a heartbeat, maintenance announced on the status page with an update.
    beat = heartbeats.create(as_admin, checkout, name="nightly-settlement", interval_seconds=86400,
                             grace_seconds=3600, now=now)
    component = db.session.scalar(sa.select(Component).order_by(Component.id))
    window = maintenance.schedule(as_admin, title="Database upgrade", starts_at=now - timedelta(minutes=30),
                                  ends_at=now + timedelta(hours=2), services=[checkout], now=now - timedelta(hours=1),
                                  public=True, components=[component])
    status_maintenance.post_update(as_admin, window, "Upgrading the primary now.", now)
    gateway = db.session.scalar(sa.select(Service).where(Service.name == "api-gateway"))
    window_b = maintenance.schedule(as_admin, title="Gateway certificates", starts_at=now + timedelta(days=3),
                                    ends_at=now + timedelta(days=3, hours=1), services=[gateway], now=now,
                                    public=True)
    _commit()

    # People: tokens (write and read), a subscriber of each kind, an inbound SMS.
    token, token_secret = people.create_api_token(as_admin, admin, name="crawler")
    read_token, read_secret = people.create_api_token(as_admin, admin, name="reader", scope="read")
    responder_token, responder_secret = people.create_api_token(as_dana, dana, name="dana-script")
    viewer_token, viewer_secret = people.create_api_token(Actor.for_user(viewer), viewer, name="viewer-script")
    _two_factor(as_admin, dana, now)
    _passkey(dana, now)
    dana_session, _ = sessions.open_session(dana, now=now, ip="203.0.113.7",
                                            user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
    from app.auth import oidc
    from app.auth.models import OidcIdentity
    mapping = oidc.add_mapping(as_admin, "payments-oncall", payments)  # single sign-on's group → team
    db.session.add(OidcIdentity(user=dana, issuer="https://id.example.com", subject="dana-1", created_at=now))
    from app.api.idempotency import IdempotencyKey
    db.session.add(IdempotencyKey(token_id=token.id, key="retry-1", request_hash="0" * 64, created_at=now,
                                  status=201, body="{}", headers="{}"))  # a POST the crawler's token may repeat
    from app.importers.core import Ledger
    Ledger("pagerduty").remember("team", "PT4KHLK", payments)  # the team, as an import from PagerDuty made it
    subscribers.subscribe("email", "reader@example.com", now, components=[component])
    subscribers.subscribe("webhook", "https://hooks.example.com/status", now, email="ops@example.com")
    requested = subscribers.subscribe("sms", "+15005550010", now)
    _commit()
    from app.statuspage.models import Subscriber
    email_subscriber, hook_subscriber = db.session.scalars(sa.select(Subscriber).order_by(Subscriber.id)).all()[:2]
    subscribers.confirm(subscribers.token(email_subscriber, "confirm"), now)
    subscribers.confirm(subscribers.token(hook_subscriber, "confirm"), now)
    inbound.receive_sms("SM" + "1" * 32, dana.phone, "HELP", now)
    _commit()
    status_page.set_component_status(as_admin, component, "degraded_performance", now)
    status_page.set_logo(as_admin, LOGO, now)
    _commit()

    # The engine: pages, handovers, reminders, deliveries, roll-ups, as the clock moves on.
    engine = Engine(all_jobs(), holder="world")
    for at in (now, now + timedelta(minutes=1)):
        clock.set(at)
        engine.cycle()
    handover_at = db.session.scalar(sa.select(sa.func.min(Schedule.next_handover_at)))
    clock.set(max(clock.now(), handover_at + timedelta(minutes=1)))
    engine.cycle()
    clock.set(clock.now() + timedelta(days=1))
    engine.cycle()
    engine.release()
    _commit()
    clock.set(T0 + timedelta(days=8))

    # Learning: a drill with an assessment, a review scheduled and recorded, a page read,
    # a culture survey answered (its one-use link read from the invitation email).
    from app.escalation.models import SeverityTrigger
    from app.insights import drills, reads, reviews, surveys
    from app.insights.models import SurveyInvitation
    now = clock.now()
    drill = drills.start_drill(as_admin, service=checkout, title="Game day: the primary database fails over",
                               severity=2, now=now)
    drills.assess(as_admin, drill, dana, now, score=85, note="Failed over in 4 minutes.")
    reviews.set_schedule(as_admin, "severity_level", "1", now, owner_id=admin.id, next_review_on=None)
    reviews.record_review(as_admin, "severity_level", "2", now, note="Objectives still right.")
    _commit()
    reads._insert(dana.id, "postmortem", pm.id, now)  # what a page view records after its answer
    resolve(as_admin, drill, now + timedelta(minutes=30))
    _commit()
    engine = Engine(all_jobs(), holder="world")
    for minutes in (31, 32, 24 * 60 * 100):  # the survey goes out; a review reminder falls due
        clock.set(now + timedelta(minutes=minutes))
        engine.cycle()
    engine.release()
    _commit()
    invitation = db.session.scalar(sa.select(SurveyInvitation).order_by(SurveyInvitation.id))
    if invitation is not None:
        link = db.session.get(Notification, invitation.notification_id).body
        survey_token = link.split("/survey/", 1)[1].split()[0]
        surveys.answer(survey_token, invitation.invited_at, blameless=5, safety=4)
        _commit()
    # An invitation still open, for the crawl (as run_round makes one, to someone not asked yet).
    asked = set(db.session.scalars(sa.select(SurveyInvitation.user_id).where(SurveyInvitation.incident_id == drill.id)))
    other = db.session.scalar(sa.select(User).where(User.id.not_in(asked or {0})).order_by(User.id))
    world.secrets["survey"] = "crawl-survey-link-" + "7" * 24
    db.session.add(SurveyInvitation(incident_id=drill.id, user_id=other.id,
                                    token_hash=surveys.token_hash(world.secrets["survey"]), invited_at=now,
                                    expires_at=T0 + timedelta(days=30), answered=False))
    _commit()
    clock.set(T0 + timedelta(days=8))
    # An ingestion attempt (the engine pruned the first ones a day on): the resolve of a
    # key with nothing open writes only that.
    assert client.post("/v2/enqueue", json={"routing_key": DEMO_KEY, "event_action": "resolve",
                                            "dedup_key": "checkout/disk-full"}).status_code == 202

    policy = db.session.scalar(sa.select(EscalationPolicy).order_by(EscalationPolicy.id))
    step = policy.steps[0]
    target = step.targets[0]
    from app.alerts.models import Alert
    from app.oncall.models import Holiday, Override
    override = db.session.scalar(sa.select(Override).order_by(Override.id))
    notification = db.session.scalar(sa.select(Notification).where(Notification.channel == "voice")
                                     .order_by(Notification.id)) or db.session.scalar(
        sa.select(Notification).order_by(Notification.id))
    method = db.session.scalar(sa.select(ContactMethod).where(ContactMethod.user_id == dana.id)
                               .order_by(ContactMethod.id))
    published = db.session.scalar(sa.select(Postmortem).where(Postmortem.id != pm.id).order_by(Postmortem.id))
    public_incident = db.session.scalar(sa.select(PublicIncident).order_by(PublicIncident.id))
    proposal = next((a for a in roles.assignments(incident) if a.state == "proposed"), None)
    # Access (issue 24): a pending invitation to Payments, a reset asked for, a known browser.
    from app.auth import invitations, known_devices, password_reset
    [(invitation, invitation_link)] = invitations.invite(as_admin, "newcomer@example.com", "responder", payments,
                                                         clock.now()).made
    password_reset.request_reset(dana.email, clock.now())
    reset_mail = db.session.scalar(sa.select(Notification).where(Notification.purpose == "security",
                                                                 Notification.user_id == dana.id,
                                                                 Notification.key.like("security:password_reset:%")))
    known_devices.signed_in(dana, "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                            "192.0.2.10", clock.now())
    _commit()
    world.ids.update({
        "invitation": invitation.id,
        "incident": incident.id, "event": db.session.scalar(sa.select(IncidentEvent.id).where(
            IncidentEvent.incident_id == incident.id).order_by(IncidentEvent.id)),
        "task": task.id, "proposal": proposal.id if proposal else None,
        "alert": db.session.scalar(sa.select(Alert.id).where(Alert.incident_id == incident.id)),
        "service": checkout.id, "key": db.session.scalar(sa.select(IntegrationKey.id).where(
            IntegrationKey.service_id == checkout.id).order_by(IntegrationKey.id)),
        "integration_key": DEMO_KEY, "heartbeat": beat.id, "heartbeat_token": beat.token,
        "team": payments.id, "user": dana.id, "team_member": dana.id,
        "schedule": schedule.id, "layer": schedule.layers[0].id, "swap": swap.id, "temporary": temporary.id,
        "feed": feed.id, "holiday": db.session.scalar(sa.select(Holiday.id).order_by(Holiday.id)),
        "override": override.id, "override_schedule": override.schedule_id,
        "policy": policy.id, "step": step.id, "target": target.id,
        "postmortem": pm.id, "published_postmortem": published.id, "section": pm.sections[0].id,
        "why": why.id, "comment": comment.id, "cause": cause.id, "factor": factor.id, "reviewer": reviewer.id,
        "item": item.id, "template": template.id, "category": category.id, "version": 1,
        "component": component.id, "group": db.session.scalar(sa.select(ComponentGroup.id).order_by(ComponentGroup.id)),
        "window": window.id, "public_incident": public_incident.public_id,
        "public_maintenance": window.public_id,
        "subscriber": email_subscriber.id, "webhook": hook.id, "list": internal.id,
        "list_member": internal.members[0].id if internal.members else None,
        "method": method.id, "notification": notification.id if notification else None,
        "token": token.id, "responder_token": responder_token.id, "session": dana_session.id, "mapping": mapping.id,
        "passkey": db.session.scalar(sa.select(Passkey.id)),
        # Team B's (Platform's) and nobody's: what a manager of Payments may not change.
        "team_b": db.session.scalar(sa.select(Team.id).where(Team.name == "Platform")), "service_b": gateway.id,
        "schedule_b": db.session.scalar(sa.select(Schedule.id).where(Schedule.name == "Platform on-call")),
        "schedule_none": db.session.scalar(sa.select(Schedule.id).where(Schedule.team_id.is_(None))),
        "policy_b": db.session.scalar(sa.select(EscalationPolicy.id).where(EscalationPolicy.name == "Platform escalation")),
        "window_b": window_b.id,
        "drill": drill.id, "trigger": db.session.scalar(sa.select(SeverityTrigger.id).order_by(SeverityTrigger.id)),
    })
    world.secrets.update({
        "admin": token_secret, "read": read_secret, "responder": responder_secret, "viewer": viewer_secret,
        "schedule_feed": feed_secret, "person_feed": person_feed_secret,
        "confirm": subscribers.token(email_subscriber, "confirm"),
        "unsubscribe": subscribers.token(email_subscriber, "unsubscribe"),
        "sms": requested.sms_token or "",
        "invitation": invitation_link.rsplit("/", 1)[1],
        "password_reset": reset_mail.body.split("/password-reset/", 1)[1].split()[0],
    })
    return world
