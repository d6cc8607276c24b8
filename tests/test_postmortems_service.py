"""Post-mortems without HTTP: the draft a resolution creates, what it is filled with,
root-cause analysis, the review workflow, versions, the public summary, Markdown."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.audit.service import Actor
from app.auth.models import Role
from app.errors import Conflict, DomainError, Forbidden
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import IncidentEvent
from app.incidents.timeline import record_event
from app.notify.models import Channel, Notification
from app.notify.outbox import enqueue
from app.postmortems import export, facts, policy
from app.postmortems import service as postmortems
from app.postmortems.models import Postmortem, PostmortemStatus, SectionKind, Version
from tests.factories import SYSTEM, actor, make_service, make_team, make_user, resolve

FRIDAY = datetime(2026, 3, 6, 14, 0, tzinfo=UTC)


@pytest.fixture
def people(app):
    clock.set(FRIDAY - timedelta(hours=1))
    postmortems.ensure_defaults()  # PostgreSQL tests start from empty tables, without migration 0007's rows
    return {
        "dana": make_user(Role.RESPONDER, name="Dana Okafor"),
        "lee": make_user(Role.RESPONDER, name="Lee Tanaka"),
        "priya": make_user(Role.RESPONDER, name="Priya Raman"),
        "viewer": make_user(Role.VIEWER, name="Vic Viewer"),
        "admin": make_user(Role.ADMIN, name="Ada Admin"),
    }


@pytest.fixture
def service(app):
    team = make_team("Payments")
    return make_service("checkout-api", team=team)


def resolved_incident(service, people, severity=2, *, title="Checkout fails for card payments"):
    """Opened by monitoring, acknowledged by Dana, noted, resolved by Lee an hour later."""
    start = FRIDAY - timedelta(hours=1)
    incident = incidents.open_incident(SYSTEM, service=service, title=title, severity=severity, now=start,
                                       source="alert", impact_started_at=start - timedelta(minutes=5))
    incidents.acknowledge(actor(people["dana"]), incident, start + timedelta(minutes=4))
    incidents.add_note(actor(people["dana"]), incident, "Connection pool exhausted on payments-db", start +
                       timedelta(minutes=10))
    resolve(actor(people["lee"]), incident, FRIDAY, note="Raised the pool size")
    db.session.commit()
    return incident


# --- the draft ---------------------------------------------------------------------------

@pytest.mark.db
def test_resolving_a_sev2_creates_the_draft_owned_and_due_in_five_business_days(people, service):
    incident = resolved_incident(service, people, severity=2)
    pm = postmortems.for_incident(incident)
    assert pm is not None and pm.status == PostmortemStatus.DRAFT and pm.required
    assert pm.template_name == "Detailed technical"
    assert [s.heading for s in pm.sections][:4] == ["Overview", "What happened", "Impact", "Responders"]
    assert pm.owner == people["lee"]  # no commander recorded: whoever resolved it
    assert pm.due_on == date(2026, 3, 13)  # Friday + 5 business days skips the weekend
    assert pm.title == incident.title and pm.problem_statement == incident.title
    [version] = postmortems.versions(pm)
    assert version.reason == "Draft created" and "# Post-mortem: Checkout fails" in version.markdown
    assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "postmortem.create")) is not None


@pytest.mark.db
def test_the_engine_drafts_it_as_of_the_resolution_however_late(people, service):
    """Resolved a second before Friday; the engine comes to it on Friday (or an hour
    later, had it been down): due five business days after the Thursday. Drafts are
    the cycle's last work, after paging."""
    from app.engine.core import Engine
    from app.engine.jobs import all_jobs
    thursday = FRIDAY.replace(hour=0) - timedelta(seconds=1)
    incident = incidents.open_incident(SYSTEM, service=service, title="Late one", severity=2,
                                       now=thursday - timedelta(hours=1))
    incidents.resolve(actor(people["lee"]), incident, thursday)
    db.session.commit()
    assert postmortems.for_incident(incident) is None
    clock.set(thursday + timedelta(hours=1))
    jobs = all_jobs()
    assert jobs[-1].name == "resolution_followups"
    assert Engine(jobs, holder="test").cycle().done.get("resolution_followups") == 1
    pm = postmortems.for_incident(incident)
    assert pm.due_on == date(2026, 3, 12) and pm.owner == people["lee"]


@pytest.mark.db
def test_lower_severities_need_no_post_mortem_but_can_have_one(people, service):
    sev3 = resolved_incident(service, people, severity=3, title="Slow search")
    sev4 = resolved_incident(service, people, severity=4, title="Typo on a page")
    assert postmortems.for_incident(sev3) is None and postmortems.for_incident(sev4) is None
    light = postmortems.create_postmortem(actor(people["dana"]), sev3, clock.now())
    quick = postmortems.create_postmortem(actor(people["dana"]), sev4, clock.now())
    assert (light.template_name, light.required) == ("Lightweight", False)
    assert [s.heading for s in light.sections] == ["Summary", "Timeline", "Cause", "Action items"]
    assert quick.template_name == "Quick retrospective"
    assert [s.heading for s in quick.sections] == ["What went well", "What didn't", "What we'll change"]
    with pytest.raises(Conflict):
        postmortems.create_postmortem(actor(people["dana"]), sev3, clock.now())
    with pytest.raises(Forbidden):
        postmortems.create_postmortem(actor(people["viewer"]), sev4, clock.now())


def test_the_severity_model_decides_the_review(app):
    assert [(n, policy.for_severity(n).required, policy.for_severity(n).template_key) for n in (1, 2, 3, 4)] == [
        (1, True, "detailed_technical"), (2, True, "detailed_technical"), (3, False, "lightweight"),
        (4, False, "quick_retrospective")]
    from app.triage import service as triage
    triage.update_level(SYSTEM, 3, clock.now(), postmortem="required")  # an admin makes SEV-3's required
    db.session.commit()
    assert policy.for_severity(3) == policy.BY_REQUIREMENT["required"]
    assert policy.required_severities() == [1, 2, 3]
    assert policy.for_severity(None) == policy.DEFAULT_POLICY
    assert policy.add_business_days(date(2026, 3, 7), 5) == date(2026, 3, 13)  # from a Saturday
    assert policy.add_business_days(date(2026, 3, 2), 5) == date(2026, 3, 9)   # Monday → next Monday


@pytest.mark.db
def test_the_commander_owns_it_when_one_is_recorded(people, service):
    start = FRIDAY - timedelta(hours=1)
    incident = incidents.open_incident(SYSTEM, service=service, title="Gateway down", severity=1, now=start)
    record_event(incident, "note", SYSTEM, text="placeholder")  # any kind the lifecycle records
    db.session.add(IncidentEvent(incident=incident, at=start, kind="role_assigned", actor_kind="system",
                                 actor_label="tests", text="Priya is incident commander",
                                 data={"role": "commander", "user_id": people["priya"].id}))
    resolve(actor(people["lee"]), incident, FRIDAY)
    db.session.commit()
    pm = postmortems.for_incident(incident)
    assert pm.owner == people["priya"]
    roles = {r.user.name: r.roles for r in facts.responders(incident)}
    assert roles["Priya Raman"] == ["Incident commander"] and roles["Lee Tanaka"] == ["Resolved"]


@pytest.mark.db
def test_an_engine_resolution_gives_it_to_whoever_acknowledged_and_reopening_keeps_one(people, service):
    start = FRIDAY - timedelta(hours=2)
    incident = incidents.open_incident(SYSTEM, service=service, title="Queue backlog", severity=2, now=start)
    incidents.acknowledge(actor(people["dana"]), incident, start + timedelta(minutes=1))
    resolve(Actor.system(), incident, start + timedelta(hours=1), via="engine")
    incidents.reopen(actor(people["dana"]), incident, start + timedelta(hours=1, minutes=5))
    resolve(actor(people["lee"]), incident, FRIDAY)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Postmortem)) == 1
    assert postmortems.for_incident(incident).owner == people["dana"]


# --- filled from the incident -----------------------------------------------------------------

@pytest.mark.db
def test_the_draft_reads_timeline_milestones_responders_communications_and_impact(people, service):
    incident = resolved_incident(service, people)
    # A kind this domain has never heard of (added later by another) still shows.
    db.session.add(IncidentEvent(incident=incident, at=FRIDAY - timedelta(minutes=30), kind="war_room_opened",
                                 actor_kind="system", actor_label="tests", text="Bridge opened"))
    enqueue(key="update-1", purpose="update", channel=Channel.EMAIL, to_address="execs@example.com",
            subject="Checkout degraded: investigating", body="We are investigating card failures.",
            due=FRIDAY - timedelta(minutes=40), incident_id=incident.id)
    db.session.commit()
    pm = postmortems.for_incident(incident)
    doc = export.gather(pm)
    kinds = [e.kind for e in doc.events]
    assert kinds[0] == "opened" and "war_room_opened" in kinds and kinds[-1] == "resolved"
    assert facts.kind_label("war_room_opened") == "War room opened"
    assert [label for label, _ in doc.milestones] == ["Impact started", "Detected", "Acknowledged", "Mitigated",
                                                       "Resolved"]
    spans = {f.label: f.value for f in doc.durations}
    assert spans["Time to detect"] == "5 min" and spans["Time to acknowledge"] == "4 min"
    assert spans["Time to resolve"] == "1 h 0 min" and spans["Customer impact lasted"] == "1 h 5 min"
    assert [(r.user.name, r.roles) for r in doc.responders] == [
        ("Dana Okafor", ["First to acknowledge"]), ("Lee Tanaka", ["Resolved"])]
    [update] = doc.communications
    assert update.subject == "Checkout degraded: investigating" and update.to == "execs@example.com"
    impact = {f.label: f.value for f in doc.impact}
    assert impact["Severity"] == "SEV-2" and impact["Service"] == "checkout-api"
    assert impact["Status updates sent"] == "1"
    text = export.markdown(pm)
    assert "Bridge opened" in text and "Connection pool exhausted on payments-db" in text
    assert "| Time to acknowledge | 4 min |" in text and "Checkout degraded: investigating" in text


@pytest.mark.db
def test_tagged_and_starred_entries_belong_to_the_incident_and_fill_the_summary(people, service):
    incident = resolved_incident(service, people)
    pm = postmortems.for_incident(incident)
    note = db.session.scalar(sa.select(IncidentEvent).where(IncidentEvent.incident_id == incident.id,
                                                            IncidentEvent.kind == "note"))
    version = incident.version
    assert postmortems.tag_event(actor(people["dana"]), note, clock.now(), tag="diagnosis", starred=True)
    assert not postmortems.tag_event(actor(people["dana"]), note, clock.now(), tag="diagnosis", starred=True)
    db.session.commit()
    assert (note.tag, note.starred) == ("diagnosis", True) and incident.version == version + 1
    assert [e.id for e in facts.starred(incident)] == [note.id]
    assert "**Key moments**" in export.markdown(pm) and "Diagnosis: Connection pool exhausted" in export.markdown(pm)
    with pytest.raises(DomainError):
        postmortems.tag_event(actor(people["dana"]), note, clock.now(), tag="blame")
    with pytest.raises(Forbidden):
        postmortems.tag_event(actor(people["viewer"]), note, clock.now(), starred=False)


# --- root-cause analysis ----------------------------------------------------------------------

@pytest.mark.db
def test_five_whys_branch_and_removing_a_why_removes_those_below(people, service):
    pm = postmortems.for_incident(resolved_incident(service, people))
    dana, now = actor(people["dana"]), clock.now()
    first = postmortems.add_why(dana, pm, now, why="Why did card payments fail?",
                                because="The payments database refused connections")
    second = postmortems.add_why(dana, pm, now, parent=first, why="Why did it refuse connections?",
                                 because="The pool was exhausted")
    branch = postmortems.add_why(dana, pm, now, parent=first, why="Why did nobody notice for five minutes?",
                                 because="No alert on pool saturation")
    deeper = postmortems.add_why(dana, pm, now, parent=second, why="Why was the pool exhausted?",
                                 because="A release doubled the connections per worker")
    postmortems.update_why(dana, pm, deeper, now, why=deeper.why, because=deeper.because, root_cause=True)
    db.session.commit()
    [tree] = postmortems.why_tree(pm)
    assert tree.node == first and [c.node for c in tree.children] == [second, branch]
    assert tree.children[0].children[0].node.root_cause
    text = export.markdown(pm)
    assert "1. Why did card payments fail? — because The payments database refused connections" in text
    assert "      1. Why was the pool exhausted? — because A release doubled the connections per worker " \
           "**(root cause)**" in text
    postmortems.delete_why(dana, pm, second, now)
    db.session.commit()
    assert [w.id for w in postmortems.whys(pm)] == [first.id, branch.id]
    with pytest.raises(DomainError):
        postmortems.add_why(dana, pm, now, why="  ")


@pytest.mark.db
def test_fishbone_categories_standard_and_custom_drawn_as_svg(people, service):
    pm = postmortems.for_incident(resolved_incident(service, people))
    dana, now = actor(people["dana"]), clock.now()
    postmortems.add_cause(dana, pm, now, category="technology", text="Pool size fixed at 20")
    postmortems.add_cause(dana, pm, now, category="Process", text="No load test before release")
    postmortems.add_cause(dana, pm, now, category="vendor", text="Card network retries <doubled> traffic")
    db.session.commit()
    names = [name for name, _ in postmortems.fishbone(pm)]
    assert names == ["People", "Process", "Technology", "Environment", "Vendor"]
    svg = str(export.gather(pm).fishbone_svg)
    assert svg.startswith("<svg") and "Pool size fixed at 20" in svg and "&lt;doubled&gt;" in svg
    assert "style=" not in svg and "<script" not in svg  # nothing the CSP would block
    with pytest.raises(DomainError):
        postmortems.add_cause(dana, pm, now, category="", text="x")


@pytest.mark.db
def test_contributing_factors_are_counted_by_category(people, service):
    dana, now = actor(people["dana"]), clock.now()
    categories = {c.name: c for c in postmortems.factor_categories()}
    assert {"Change or deployment", "Capacity", "Monitoring gap"} <= set(categories)
    for title in ("First", "Second"):
        pm = postmortems.for_incident(resolved_incident(service, people, title=title))
        postmortems.add_factor(dana, pm, now, category_id=categories["Capacity"].id, description="Pool too small")
    postmortems.add_factor(dana, pm, now, category_id=categories["Monitoring gap"].id, description="No alert")
    db.session.commit()
    assert postmortems.factor_counts() == [("Capacity", 2), ("Monitoring gap", 1)]
    assert "- **Capacity**: Pool too small" in export.markdown(pm)


# --- review ------------------------------------------------------------------------------------

@pytest.mark.db
def test_review_workflow_from_draft_to_published_and_read_only(people, service):
    pm = postmortems.for_incident(resolved_incident(service, people))
    lee, dana, priya, now = actor(people["lee"]), actor(people["dana"]), actor(people["priya"]), clock.now()
    overview = pm.sections[0]
    postmortems.update_section(lee, pm, overview, "Card payments failed for an hour.", now)
    with pytest.raises(DomainError, match="at least one reviewer"):
        postmortems.submit_for_review(lee, pm, now)
    with pytest.raises(DomainError, match="owns this post-mortem"):
        postmortems.add_reviewers(lee, pm, [people["lee"]], now)
    postmortems.submit_for_review(lee, pm, now, reviewers=[people["dana"], people["priya"]])
    db.session.commit()
    assert pm.status == PostmortemStatus.IN_REVIEW
    asked = db.session.scalars(sa.select(Notification).where(Notification.purpose == "review")).all()
    assert sorted(n.to_address for n in asked) == sorted([people["dana"].email, people["priya"].email])
    assert all(n.channel == Channel.EMAIL and f"/postmortems/{pm.id}" in n.body for n in asked)

    postmortems.add_comment(dana, pm, now, body="Say which release.", section=overview)
    with pytest.raises(Forbidden):
        postmortems.approve(actor(people["admin"]), pm, now)
    postmortems.approve(dana, pm, now)
    with pytest.raises(Conflict, match="Priya Raman"):
        postmortems.publish(lee, pm, now)
    postmortems.request_changes(priya, pm, now, reason="Name the release")
    assert pm.status == PostmortemStatus.DRAFT and postmortems.approvals_missing(pm) == [people["dana"],
                                                                                          people["priya"]]
    postmortems.update_section(lee, pm, overview, "Card payments failed for an hour after release 2026.03.1.", now)
    postmortems.submit_for_review(lee, pm, now)
    postmortems.approve(dana, pm, now)
    postmortems.approve(priya, pm, now)
    with pytest.raises(Forbidden):
        postmortems.publish(dana, pm, now)  # a reviewer, not the owner
    postmortems.publish(lee, pm, clock.advance(timedelta(minutes=5)))
    db.session.commit()
    assert pm.is_published and pm.published_by == people["lee"]

    with pytest.raises(Conflict, match="read-only"):
        postmortems.update_section(lee, pm, overview, "Changed after the fact", clock.now())
    with pytest.raises(Conflict):
        postmortems.add_why(lee, pm, clock.now(), why="Why?")
    with pytest.raises(DomainError, match="Say why"):
        postmortems.reopen(lee, pm, clock.now(), reason="")
    postmortems.reopen(actor(people["admin"]), pm, clock.now(), reason="Add the vendor's findings")
    db.session.commit()
    reasons = [v.reason for v in postmortems.versions(pm)]
    assert reasons == ["Reopened: Add the vendor's findings", "Published", "Sent for review", "Sent for review",
                       "Draft created"]
    published = postmortems.get_version(pm, 4)
    assert "after release 2026.03.1" in published.markdown and "Published" in published.markdown
    actions = [e.action for e in postmortems.history(pm)]
    assert {"postmortem.publish", "postmortem.approve", "postmortem.section", "postmortem.reopen"} <= set(actions)


@pytest.mark.db
def test_the_review_meeting_mails_its_agenda(people, service):
    pm = postmortems.for_incident(resolved_incident(service, people))
    lee, now = actor(people["lee"]), clock.now()
    postmortems.add_reviewers(lee, pm, [people["dana"]], now)
    postmortems.add_why(lee, pm, now, why="Why did payments fail?", because="The pool was exhausted")
    with pytest.raises(DomainError):
        postmortems.schedule_meeting(lee, pm, now, at=now - timedelta(days=1))
    postmortems.schedule_meeting(lee, pm, now, at=datetime(2026, 3, 10, 15, 0, tzinfo=UTC), location="Room 4")
    db.session.commit()
    sent = db.session.scalars(sa.select(Notification).where(Notification.purpose == "review")).all()
    assert sorted(n.to_address for n in sent) == sorted([people["lee"].email, people["dana"].email])
    body = sent[0].body
    assert "Tuesday 10 March 2026 at 15:00 UTC (Room 4)" in body
    for heading in ("Timeline walk-through", "Analysis", "Action items", "Lessons learned"):
        assert heading in body
    assert "Root cause: The pool was exhausted" in body
    titles = [item.title for item in export.agenda(pm)]
    assert titles == ["Welcome and ground rules", "Timeline walk-through",
                      "Analysis: root causes and contributing factors", "Action items", "Lessons learned"]


@pytest.mark.db
def test_a_public_summary_goes_to_the_status_page_only_once_published(people, service):
    from app.statuspage import service as status_page
    from app.statuspage.models import StatusNotice
    incident = resolved_incident(service, people)
    pm = postmortems.for_incident(incident)
    lee, now = actor(people["lee"]), clock.now()
    with pytest.raises(Conflict):
        postmortems.set_public_summary(lee, pm, now, text="We had an outage.", public=True)
    postmortems.set_public_summary(lee, pm, now, text="Card payments failed for an hour.", public=False)
    postmortems.submit_for_review(lee, pm, now, reviewers=[people["dana"]])
    postmortems.approve(actor(people["dana"]), pm, now)
    postmortems.publish(lee, pm, now)
    with pytest.raises(Conflict, match="not on the status page"):
        postmortems.set_public_summary(lee, pm, now, text="Card payments failed for an hour.", public=True)
    assert not pm.public

    status_page.publish_update(lee, incident, "resolved", "Card payments work again.", now, title="Card payments failing")
    postmortems.set_public_summary(lee, pm, now, text="Card payments failed for an hour.", public=True)
    db.session.commit()
    public = status_page.public_incident_for(incident)
    assert (public.postmortem, public.postmortem_published_at) == ("Card payments failed for an hour.", now)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StatusNotice)
                             .where(StatusNotice.kind == "postmortem")) == 1  # subscribers hear of it once
    postmortems.set_public_summary(lee, pm, now, text="Card payments failed for 50 minutes.", public=True)
    assert public.postmortem == "Card payments failed for 50 minutes."
    postmortems.set_public_summary(lee, pm, now, text="Card payments failed for 50 minutes.", public=False)
    assert (public.postmortem, public.postmortem_published_at, pm.public) == ("", None, False)


@pytest.mark.db
def test_admins_edit_templates_as_text_and_post_mortems_keep_their_copy(people, service):
    admin, now = actor(people["admin"]), clock.now()
    template = postmortems.template_by_key("lightweight")
    text = postmortems.sections_as_text(template.sections)
    assert text.startswith("## Summary [summary]\nWhat happened and what it affected.\n\n## Timeline [timeline]")
    incident = resolved_incident(service, people, severity=3)
    pm = postmortems.create_postmortem(actor(people["dana"]), incident, now)
    postmortems.save_template(admin, template, name="Lightweight", description=template.description,
                              sections_text=text + "\n## Detection gaps\nHow could we have known sooner?\n",
                              active=True, now=now)
    db.session.commit()
    assert [s.heading for s in template.sections][-1] == "Detection gaps"
    assert template.sections[-1].kind == SectionKind.TEXT
    assert len(pm.sections) == 4
    with pytest.raises(DomainError, match="not a section kind"):
        postmortems.save_template(admin, template, name="Lightweight", description="", sections_text="## X [bogus]",
                                  active=True, now=now)
    with pytest.raises(Forbidden):
        postmortems.save_template(actor(people["dana"]), None, name="Mine", description="", sections_text="## A",
                                  active=True, now=now)
    postmortems.change_template(actor(people["dana"]), pm, postmortems.template_by_key("detailed_technical"), now)
    assert pm.template_name == "Detailed technical" and len(pm.sections) == 13


@pytest.mark.db
def test_versions_are_numbered_per_post_mortem(people, service):
    a = postmortems.for_incident(resolved_incident(service, people, title="A"))
    b = postmortems.for_incident(resolved_incident(service, people, title="B"))
    assert [v.number for v in db.session.scalars(sa.select(Version).order_by(Version.id))] == [1, 1]
    assert a.id != b.id
