"""The service functions the REST API added for configuration, without HTTP:
maintenance.update (what may move before and after a window starts, and what the
status page and the engine then owe) and policies.replace_steps (a policy's steps set
whole, through the page's own step and target functions)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.auth import service as people
from app.auth.models import Role
from app.errors import Conflict, DomainError
from app.escalation import policies
from app.extensions import db
from app.services import maintenance
from app.services.models import MaintenanceState
from tests.factories import SYSTEM, actor, make_component, make_service, make_team, make_user

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def actions(prefix: str) -> list[str]:
    return db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.action.startswith(prefix))
                              .order_by(AuditEntry.id)).all()


@pytest.mark.db
def test_a_window_moves_freely_until_it_starts_then_only_its_end_moves(app):
    clock.set(T0)
    service, other = make_service("vault"), make_service("dns")
    make_component("Vault", services=[service])
    window = maintenance.schedule(SYSTEM, title="Upgrade", starts_at=T0 + 3 * HOUR, ends_at=T0 + 4 * HOUR,
                                  services=[service], now=T0, public=True)
    assert window.reminder_at == T0 + 2 * HOUR  # an hour before it starts

    maintenance.update(SYSTEM, window, T0, title="Upgrade, again", description="", starts_at=T0 + 5 * HOUR,
                       ends_at=T0 + 6 * HOUR, services=[service, other])
    assert (window.next_transition_at, window.reminder_at) == (T0 + 5 * HOUR, T0 + 4 * HOUR)
    assert {s.name for s in window.services} == {"dns", "vault"} and actions("maintenance.update") == [
        "maintenance.update"]
    maintenance.update(SYSTEM, window, T0, title="Upgrade, again", description="", starts_at=T0 + 5 * HOUR,
                       ends_at=T0 + 6 * HOUR, services=[other, service])
    assert len(actions("maintenance.update")) == 1  # nothing changed, nothing recorded

    # A start moved to now starts it at once, as scheduling one does.
    maintenance.update(SYSTEM, window, T0, title="Now", description="", starts_at=T0, ends_at=T0 + HOUR,
                       services=[service])
    assert window.state == MaintenanceState.IN_PROGRESS and window.next_transition_at == T0 + HOUR
    assert window.reminder_at is None and window.covers(T0)

    with pytest.raises(Conflict):
        maintenance.update(SYSTEM, window, T0, title="Now", description="", starts_at=T0 - HOUR, ends_at=T0 + HOUR,
                           services=[service])
    with pytest.raises(Conflict):
        maintenance.update(SYSTEM, window, T0, title="Now", description="", starts_at=T0, ends_at=T0 + HOUR,
                           services=[other])
    with pytest.raises(DomainError, match="future"):
        maintenance.update(SYSTEM, window, T0 + HOUR / 2, title="Now", description="", starts_at=T0,
                           ends_at=T0 + HOUR / 4, services=[service])
    maintenance.update(SYSTEM, window, T0, title="Now", description="", starts_at=T0, ends_at=T0 + 2 * HOUR,
                       services=[service])
    assert window.next_transition_at == T0 + 2 * HOUR  # the engine ends it at the new end

    maintenance.cancel(SYSTEM, window, T0 + HOUR)
    with pytest.raises(Conflict, match="already over"):
        maintenance.update(SYSTEM, window, T0 + HOUR, title="Later", description="", starts_at=T0,
                           ends_at=T0 + 3 * HOUR, services=[service])


@pytest.mark.db
def test_only_a_manager_of_every_service_moves_a_window(app):
    clock.set(T0)
    manager = make_user(Role.RESPONDER)
    team = make_team("Payments", members=[manager])
    people.set_manager(SYSTEM, team, manager, True)
    ours, theirs = make_service("ledger", team=team), make_service("dns")
    window = maintenance.schedule(SYSTEM, title="Ledger", starts_at=T0 + HOUR, ends_at=T0 + 2 * HOUR,
                                  services=[ours], now=T0)
    maintenance.update(actor(manager), window, T0, title="Ledger move", description="", starts_at=T0 + HOUR,
                       ends_at=T0 + 2 * HOUR, services=[ours])
    with pytest.raises(DomainError) as refused:
        maintenance.update(actor(manager), window, T0, title="Ledger move", description="", starts_at=T0 + HOUR,
                           ends_at=T0 + 2 * HOUR, services=[ours, theirs])
    assert refused.value.status == 403
    db.session.rollback()


@pytest.mark.db
def test_replacing_steps_keeps_steps_by_position_and_writes_nothing_when_one_is_wrong(app):
    clock.set(T0)
    ada, bo = make_user(Role.RESPONDER, name="Ada"), make_user(Role.RESPONDER, name="Bo")
    team = make_team("Payments")
    policy = policies.create_policy(SYSTEM, name="Payments", now=T0)
    policies.replace_steps(SYSTEM, policy, [(5, "round_robin", [("user", ada.id), ("user", bo.id)]),
                                            (10, "all", [("team", team.id)])], T0)
    db.session.commit()
    first = policy.steps[0]
    first.rr_cursor = 1  # Bo's turn next
    db.session.commit()

    policies.replace_steps(SYSTEM, policy, [(7, "round_robin", [("user", ada.id), ("user", bo.id)])], T0)
    db.session.commit()
    assert [(s.id, s.delay_minutes, s.rr_cursor) for s in policy.steps] == [(first.id, 7, 1)]
    assert actions("escalation.")[-2:] == ["escalation.remove_step", "escalation.update_step"]

    before = len(actions("escalation."))
    with pytest.raises(DomainError, match="Step 2: No such target"):
        policies.replace_steps(SYSTEM, policy, [(7, "all", []), (5, "all", [("user", 9999)])], T0)
    with pytest.raises(Conflict, match="twice"):
        policies.replace_steps(SYSTEM, policy, [(7, "all", [("user", ada.id), ("user", ada.id)])], T0)
    with pytest.raises(DomainError, match="At most"):
        policies.replace_steps(SYSTEM, policy, [(5, "all", [])] * (policies.MAX_STEPS + 1), T0)
    db.session.rollback()
    assert len(actions("escalation.")) == before and [s.mode for s in policy.steps] == ["round_robin"]
