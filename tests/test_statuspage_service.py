"""The status page's rules, without HTTP: components and what they show, publishing
about an incident, maintenance on the page, branding, and the version every change
bumps."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.auth.models import Role
from app.errors import Conflict, DomainError, Forbidden
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import EventKind, IncidentEvent
from app.services import maintenance
from app.services.models import MaintenanceState
from app.statuspage import service
from app.statuspage.models import (
    ComponentStatus, ComponentStatusRange, MaintenanceUpdate, PublicIncident, Stage, StatusNotice,
)
from tests.factories import SYSTEM, actor, make_component, make_group, make_service, make_user

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(app):
    clock.set(T0)
    checkout = make_service("checkout-api")
    group = make_group("Payments")
    cart = make_component("Checkout", group=group, services=[checkout])
    cards = make_component("Card payments", group=group)
    api = make_component("Public API")
    incident = incidents.open_incident(SYSTEM, service=checkout, title="db-7 disk full on payments-db",
                                       severity=2, now=clock.now())
    db.session.commit()
    return type("World", (), {"checkout": checkout, "group": group, "cart": cart, "cards": cards, "api": api,
                              "incident": incident})


def ranges(component) -> list[tuple]:
    return [(r.status.value, r.started_at, r.ended_at) for r in db.session.scalars(
        sa.select(ComponentStatusRange).where(ComponentStatusRange.component_id == component.id)
        .order_by(ComponentStatusRange.id))]


def audits(action: str) -> list[AuditEntry]:
    return db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)).all()


# --- components ----------------------------------------------------------------------------

@pytest.mark.db
def test_components_are_made_in_order_with_their_history_and_an_audit_entry(world):
    assert [c.name for c in service.components_in_order()] == ["Checkout", "Card payments", "Public API"]
    assert world.cart.position == 1 and world.cards.position == 2 and world.api.position == 1
    assert ranges(world.cart) == [("operational", T0, None)]
    assert world.cart.services == [world.checkout]
    assert len(audits("statuspage.component.create")) == 3
    assert len(world.cart.public_id) == 12 and world.cart.public_id.isalnum()


@pytest.mark.db
def test_names_are_unique_and_needed(world):
    with pytest.raises(Conflict):
        service.create_component(SYSTEM, name="checkout", now=clock.now())
    with pytest.raises(DomainError):
        service.create_component(SYSTEM, name="   ", now=clock.now())
    with pytest.raises(Conflict):
        service.create_group(SYSTEM, name="PAYMENTS", now=clock.now())


@pytest.mark.db
def test_only_admins_configure_and_only_responders_publish(world):
    viewer, responder = actor(make_user(Role.VIEWER)), actor(make_user(Role.RESPONDER))
    with pytest.raises(Forbidden):
        service.create_component(responder, name="Search", now=clock.now())
    with pytest.raises(Forbidden):
        service.set_component_status(responder, world.api, "major_outage", clock.now())
    with pytest.raises(Forbidden):
        service.publish_update(viewer, world.incident, "investigating", "Looking", clock.now(), title="Slow")
    service.publish_update(responder, world.incident, "investigating", "Looking", clock.now(), title="Slow")


@pytest.mark.db
def test_a_status_set_by_hand_keeps_its_history_as_time_ranges(world):
    service.set_component_status(SYSTEM, world.api, "degraded_performance", clock.advance(timedelta(minutes=5)))
    t1 = clock.now()
    service.set_component_status(SYSTEM, world.api, "operational", clock.advance(timedelta(minutes=20)))
    db.session.commit()
    assert ranges(world.api) == [("operational", T0, t1), ("degraded_performance", t1, clock.now()),
                                 ("operational", clock.now(), None)]
    assert not service.set_component_status(SYSTEM, world.api, "operational", clock.now())
    with pytest.raises(DomainError, match="maintenance window"):
        service.set_component_status(SYSTEM, world.api, "under_maintenance", clock.now())
    notices = db.session.scalars(sa.select(StatusNotice).where(StatusNotice.kind == "component_update")).all()
    assert [n.data for n in notices] == [{"old_status": "operational", "new_status": "degraded_performance"},
                                         {"old_status": "degraded_performance", "new_status": "operational"}]


def test_what_a_component_shows_is_the_worst_of_its_inputs():
    op, deg, part, major, maint = (ComponentStatus.OPERATIONAL, ComponentStatus.DEGRADED, ComponentStatus.PARTIAL,
                                   ComponentStatus.MAJOR, ComponentStatus.MAINTENANCE)
    assert service.effective_status(op, [], False) == op
    assert service.effective_status(op, [], True) == maint
    assert service.effective_status(op, [deg], True) == deg
    assert service.effective_status(deg, [major, part], False) == major
    assert service.effective_status(part, [deg], False) == part


@pytest.mark.db
def test_every_change_bumps_the_version_once_and_atomically(world):
    before = service.read_version()
    service.set_component_status(SYSTEM, world.api, "partial_outage", clock.now())
    service.set_component_status(SYSTEM, world.api, "operational", clock.now())
    db.session.commit()
    assert service.read_version() == before + 2
    assert service.get_settings().changed_at == clock.now()


# --- publishing about an incident -----------------------------------------------------------

@pytest.mark.db
def test_the_first_update_makes_the_public_incident_and_moves_components(world):
    responder = make_user(Role.RESPONDER, name="Rita Responder")
    update = service.publish_update(actor(responder), world.incident, "investigating",
                                    "Some card payments fail.", clock.now(), title="Card payments failing",
                                    components={world.cards: "major_outage", world.cart.public_id: "degraded_performance"})
    db.session.commit()
    public = update.incident
    assert public.name == "Card payments failing" and public.status == Stage.INVESTIGATING
    assert public.incident_id == world.incident.id and public.impact == "critical"
    assert world.cards.status == ComponentStatus.MAJOR and world.cart.status == ComponentStatus.DEGRADED
    assert update.affected_components == [
        {"code": world.cart.public_id, "name": "Checkout", "old_status": "operational",
         "new_status": "degraded_performance"},
        {"code": world.cards.public_id, "name": "Card payments", "old_status": "operational",
         "new_status": "major_outage"}]
    event = db.session.scalar(sa.select(IncidentEvent).where(IncidentEvent.kind == EventKind.PUBLIC_UPDATE.value))
    assert "Card payments failing" in event.text and event.actor_label == "Rita Responder"
    notice = db.session.scalar(sa.select(StatusNotice).where(StatusNotice.kind == "incident_update"))
    assert notice.sms and notice.data == {"first": True, "resolved": False}
    assert sorted(notice.component_ids) == sorted([world.cards.id, world.cart.id])
    assert audits("statuspage.publish")[0].summary.startswith("Published “Card payments failing” (investigating)")


@pytest.mark.db
def test_a_first_update_needs_a_title_a_stage_and_words(world):
    with pytest.raises(DomainError, match="public title"):
        service.publish_update(SYSTEM, world.incident, "investigating", "Looking", clock.now())
    with pytest.raises(DomainError, match="stage"):
        service.publish_update(SYSTEM, world.incident, "panicking", "Looking", clock.now(), title="Slow")
    with pytest.raises(DomainError, match="customers should know"):
        service.publish_update(SYSTEM, world.incident, "investigating", "  ", clock.now(), title="Slow")
    with pytest.raises(DomainError, match="operational, degraded"):
        service.publish_update(SYSTEM, world.incident, "investigating", "Looking", clock.now(), title="Slow",
                               components={world.api: "under_maintenance"})
    with pytest.raises(DomainError, match="no component"):
        service.publish_update(SYSTEM, world.incident, "investigating", "Looking", clock.now(), title="Slow",
                               components={"nosuchthing0": "major_outage"})


@pytest.mark.db
def test_later_updates_change_impacts_and_resolving_restores_components(world):
    service.publish_update(SYSTEM, world.incident, "investigating", "Failing", clock.now(), title="Payments",
                           components={world.cards: "partial_outage"})
    clock.advance(timedelta(minutes=10))
    service.publish_update(SYSTEM, world.incident, "identified", "Found it", clock.now(),
                           components={world.cards: "major_outage", world.api: "degraded_performance"})
    clock.advance(timedelta(minutes=10))
    service.publish_update(SYSTEM, world.incident, "monitoring", "Fixed, watching", clock.now(),
                           components={world.cards: "operational", world.api: None})
    monitoring_at = clock.now()
    assert world.cards.status == ComponentStatus.OPERATIONAL and world.api.status == ComponentStatus.OPERATIONAL
    clock.advance(timedelta(minutes=10))
    update = service.publish_update(SYSTEM, world.incident, "resolved", "All good", clock.now())
    db.session.commit()
    public = update.incident
    assert public.status == Stage.RESOLVED and public.resolved_at == clock.now()
    assert public.monitoring_at == monitoring_at and public.impact == "critical"  # the worst it ever was
    assert [row.component for row in public.affected] == [world.cards]
    assert [u.status for u in public.updates] == [Stage.RESOLVED, Stage.MONITORING, Stage.IDENTIFIED,
                                                 Stage.INVESTIGATING]
    notices = db.session.scalars(sa.select(StatusNotice).where(StatusNotice.kind == "incident_update")
                                 .order_by(StatusNotice.id)).all()
    assert [n.sms for n in notices] == [True, False, False, True]  # new and resolved only


@pytest.mark.db
def test_two_incidents_on_one_component_show_the_worse_until_both_end(world):
    other = incidents.open_incident(SYSTEM, service=world.checkout, title="second", severity=3, now=clock.now())
    service.publish_update(SYSTEM, world.incident, "investigating", "A", clock.now(), title="A",
                           components={world.api: "major_outage"})
    service.publish_update(SYSTEM, other, "investigating", "B", clock.now(), title="B",
                           components={world.api: "degraded_performance"})
    assert world.api.status == ComponentStatus.MAJOR
    service.publish_update(SYSTEM, world.incident, "resolved", "A over", clock.now())
    assert world.api.status == ComponentStatus.DEGRADED
    service.publish_update(SYSTEM, other, "resolved", "B over", clock.now())
    assert world.api.status == ComponentStatus.OPERATIONAL


@pytest.mark.db
def test_publishing_can_be_quiet(world):
    service.publish_update(SYSTEM, world.incident, "investigating", "Testing", clock.now(), title="T", notify=False)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StatusNotice)
                             .where(StatusNotice.kind == "incident_update")) == 0


@pytest.mark.db
def test_the_postmortem_needs_a_public_incident_and_is_mailed_once(world):
    with pytest.raises(DomainError, match="first"):
        service.publish_postmortem(SYSTEM, world.incident, "What happened", clock.now())
    service.publish_update(SYSTEM, world.incident, "resolved", "Over", clock.now(), title="Payments")
    service.publish_postmortem(SYSTEM, world.incident, "## What happened\nA disk filled.", clock.now())
    service.publish_postmortem(SYSTEM, world.incident, "## What happened\nA disk filled up.", clock.now())
    public = db.session.scalar(sa.select(PublicIncident))
    assert public.postmortem.endswith("filled up.") and public.postmortem_published_at == clock.now()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StatusNotice)
                             .where(StatusNotice.kind == "postmortem")) == 1


@pytest.mark.db
def test_the_public_record_copies_nothing_internal(world):
    incidents.add_note(SYSTEM, world.incident, "root password is hunter2", clock.now())
    service.publish_update(SYSTEM, world.incident, "investigating", "Looking", clock.now(), title="Slow checkout")
    public = db.session.scalar(sa.select(PublicIncident))
    assert public.name == "Slow checkout"
    assert world.incident.title not in public.name


# --- maintenance -------------------------------------------------------------------------------

@pytest.mark.db
def test_an_announced_window_moves_components_and_posts_its_updates(world):
    admin = actor(make_user(Role.ADMIN))
    window = maintenance.schedule(admin, title="Database upgrade", starts_at=T0 + timedelta(hours=3),
                              ends_at=T0 + timedelta(hours=4), services=[world.checkout], now=clock.now(),
                              description="Payments may pause for a minute.", public=True)
    db.session.commit()
    assert window.public and window.components == [world.cart]  # from its services
    assert window.reminder_at == T0 + timedelta(hours=2)
    assert maintenance.run(window.id, T0 + timedelta(hours=3))
    assert window.state == MaintenanceState.IN_PROGRESS and world.cart.status == ComponentStatus.MAINTENANCE
    assert window.reminder_at is None
    assert maintenance.run(window.id, T0 + timedelta(hours=4))
    assert window.state == MaintenanceState.COMPLETED and world.cart.status == ComponentStatus.OPERATIONAL
    updates = db.session.scalars(sa.select(MaintenanceUpdate).order_by(MaintenanceUpdate.id)).all()
    assert [u.status for u in updates] == ["scheduled", "in_progress", "completed"]
    assert updates[0].body == "Payments may pause for a minute."
    notices = db.session.scalars(sa.select(StatusNotice).where(StatusNotice.kind == "maintenance_update")
                                 .order_by(StatusNotice.id)).all()
    assert [n.sms for n in notices] == [False, True, False]  # SMS only when it starts
    assert ranges(world.cart)[-2:] == [("under_maintenance", T0 + timedelta(hours=3), T0 + timedelta(hours=4)),
                                       ("operational", T0 + timedelta(hours=4), None)]


@pytest.mark.db
def test_internal_windows_stay_off_the_page(world):
    window = maintenance.schedule(SYSTEM, title="Rotate db credentials", starts_at=T0, ends_at=T0 + timedelta(hours=1),
                                  services=[world.checkout], now=clock.now())
    db.session.commit()
    assert window.state == MaintenanceState.IN_PROGRESS and not window.public
    assert world.cart.status == ComponentStatus.OPERATIONAL
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MaintenanceUpdate)) == 0


@pytest.mark.db
def test_verifying_and_ending_early_by_hand(world):
    from app.statuspage import maintenance as status_maintenance
    with pytest.raises(DomainError):  # a window needs services, announced or not
        maintenance.schedule(SYSTEM, title="Switch upgrade", starts_at=T0, ends_at=T0 + timedelta(hours=2),
                             services=[], now=clock.now(), public=True, components=[world.api])
    window = maintenance.schedule(SYSTEM, title="Switch upgrade", starts_at=T0, ends_at=T0 + timedelta(hours=2),
                                  services=[world.checkout], now=clock.now(), public=True, components=[world.api])
    assert window.components == [world.api] and world.api.status == ComponentStatus.MAINTENANCE
    status_maintenance.post_update(SYSTEM, window, "", clock.now(), verifying=True)
    assert window.state == MaintenanceState.VERIFYING and world.api.status == ComponentStatus.MAINTENANCE
    maintenance.cancel(SYSTEM, window, clock.advance(timedelta(minutes=30)))
    assert window.state == MaintenanceState.COMPLETED and world.api.status == ComponentStatus.OPERATIONAL
    with pytest.raises(DomainError, match="over"):
        status_maintenance.post_update(SYSTEM, window, "More", clock.now())


@pytest.mark.db
def test_a_reminder_goes_out_before_an_announced_window(world):
    from app.statuspage import maintenance as status_maintenance
    window = maintenance.schedule(SYSTEM, title="Upgrade", starts_at=T0 + timedelta(days=1),
                                  ends_at=T0 + timedelta(days=1, hours=1), services=[world.checkout],
                                  now=clock.now(), public=True)
    db.session.commit()
    assert status_maintenance.due_reminders(T0 + timedelta(hours=22), 10) == []
    due = T0 + timedelta(hours=23)
    assert status_maintenance.due_reminders(due, 10) == [window.id]
    assert status_maintenance.remind(window.id, due)
    assert not status_maintenance.remind(window.id, due)  # once
    assert db.session.scalar(sa.select(StatusNotice.kind).where(StatusNotice.kind == "maintenance_reminder"))


# --- branding ------------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.mark.db
def test_branding_is_checked_and_audited(world):
    service.update_settings(SYSTEM, clock.now(), name="Acme", brand_color="#FFCC00", time_zone="Europe/Berlin")
    settings = service.get_settings()
    assert (settings.name, settings.brand_color, settings.time_zone) == ("Acme", "#ffcc00", "Europe/Berlin")
    for values, field in [({"brand_color": "red"}, "brand_color"), ({"time_zone": "Mars/Olympus"}, "time_zone"),
                          ({"support_url": "javascript:alert(1)"}, "support_url")]:
        with pytest.raises(DomainError) as caught:
            service.update_settings(SYSTEM, clock.now(), **values)
        assert caught.value.field == field
    service.set_logo(SYSTEM, PNG, clock.now())
    assert settings.logo_type == "image/png" and len(settings.logo_hash) == 16
    with pytest.raises(DomainError, match="PNG, JPEG or GIF"):
        service.set_logo(SYSTEM, b"<svg onload=alert(1)>", clock.now())
    with pytest.raises(DomainError, match="256 KB"):
        service.set_logo(SYSTEM, PNG + b"\x00" * 300_000, clock.now())
    service.set_logo(SYSTEM, None, clock.now())
    assert settings.logo_hash is None
    assert [e.action for e in db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action.in_(
        ("statuspage.settings", "statuspage.logo"))).order_by(AuditEntry.id))] == [
        "statuspage.settings", "statuspage.logo", "statuspage.logo"]


def test_brand_colours_keep_aa_contrast():
    from app.statuspage.branding import contrast, darken_for, stylesheet, text_on
    for colour in ["#ffcc00", "#1f4e8c", "#00ff00", "#777777", "#ffffff", "#000000", "#e8710a"]:
        assert contrast(colour, text_on(colour)) >= 4.5
        assert contrast(darken_for(colour), "#ffffff") >= 4.5
    assert "--sp-brand: #ffcc00" in stylesheet("#ffcc00") and "--sp-brand-text: #000000" in stylesheet("#ffcc00")
    assert "--sp-brand: #1f4e8c" in stylesheet("not a colour")
