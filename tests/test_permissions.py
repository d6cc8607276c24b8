"""Team managers (app.auth.permissions): the rule itself, the service functions that
ask it again behind the access check, choosing managers, and the edit controls a
manager sees. The route-by-route crawl is in tests/test_access.py."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.auth import permissions
from app.auth import service as people
from app.auth.models import Role, TeamMembership
from app.errors import DomainError, Forbidden
from app.extensions import db
from app.oncall import service as oncall
from app.services import maintenance
from app.services import service as services
from tests.factories import SYSTEM, actor, login, make_service, make_team, make_user

pytestmark = pytest.mark.db
NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


@pytest.fixture
def teams(app):
    """Team A managed by Mia (a responder), team B, Rob a plain responder of A."""
    clock.set(NOW)
    mia, rob = make_user(Role.RESPONDER, name="Mia"), make_user(Role.RESPONDER, name="Rob")
    a, b = make_team("A", members=[rob]), make_team("B")
    people.add_member(SYSTEM, a, mia, is_manager=True)
    db.session.commit()
    yield a, b, mia, rob
    clock.reset()


def test_a_manager_manages_their_teams_things_and_nothing_else(teams):
    a, b, mia, rob = teams
    service_a, service_b, loose = make_service(team=a), make_service(team=b), make_service()
    schedule_a = oncall.create_schedule(SYSTEM, name="A on-call", time_zone="UTC", now=NOW, team_id=a.id)
    window = maintenance.schedule(SYSTEM, title="Both", starts_at=NOW + timedelta(hours=1),
                                  ends_at=NOW + timedelta(hours=2), services=[service_a, service_b], now=NOW)
    admin = make_user(Role.ADMIN)
    assert permissions.manages(mia, service_a) and permissions.manages(mia, schedule_a) and permissions.manages(mia, a)
    assert not permissions.manages(mia, service_b) and not permissions.manages(mia, b)
    assert not permissions.manages(mia, loose)  # no team: the admins'
    assert not permissions.manages(mia, window)  # a window is every one of its services' teams'
    assert not permissions.manages(rob, service_a) and not permissions.can_manage_team(rob, a)
    assert all(permissions.manages(admin, thing) for thing in (service_b, loose, window, b))
    assert permissions.can_manage_team(mia, a) and permissions.can_manage_team(mia, a.id)
    assert not permissions.can_manage_team(mia, b) and not permissions.can_manage_team(mia, None)


def test_a_viewer_marked_manager_manages_nothing_and_cannot_be_made_one(teams):
    a, b, mia, rob = teams
    viewer = make_user(Role.VIEWER)
    people.add_member(SYSTEM, b, viewer)
    db.session.execute(sa.update(TeamMembership).where(TeamMembership.user_id == viewer.id)
                       .values(is_manager=True))  # as an older install may hold it
    assert not permissions.manages(viewer, b) and not permissions.manages_some_team(viewer)
    with pytest.raises(DomainError, match="make .* a responder first"):
        people.set_manager(SYSTEM, b, viewer, True)
    with pytest.raises(DomainError, match="responder first"):
        people.add_member(SYSTEM, a, make_user(Role.VIEWER), is_manager=True)


def test_a_manager_chooses_their_teams_managers_and_it_is_audited(teams):
    a, b, mia, rob = teams
    people.set_manager(actor(mia), a, rob, True)
    db.session.commit()
    assert permissions.can_manage_team(rob, a)
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "team.set_manager"))
    assert entry.actor_user_id == mia.id and entry.after == {"user_id": rob.id, "is_manager": True}
    people.add_member(SYSTEM, b, make_user(Role.RESPONDER))
    with pytest.raises(Forbidden):
        people.set_manager(actor(mia), b, b.memberships[0].user, True)
    with pytest.raises(Forbidden):
        people.add_member(actor(mia), b, rob)


def test_the_services_refuse_what_the_manager_does_not_manage(teams):
    a, b, mia, rob = teams
    as_mia = actor(mia)
    made = services.create_service(as_mia, name="a-api", team_id=a.id)
    assert made.team_id == a.id and made.integration_keys  # its first key too
    with pytest.raises(Forbidden):
        services.create_service(as_mia, name="b-api", team_id=b.id)
    with pytest.raises(Forbidden):
        services.create_service(as_mia, name="loose-api", team_id=None)
    with pytest.raises(Forbidden):  # giving a team's service away is changing team B's
        services.update_service(as_mia, made, name="a-api", description="", team_id=b.id, severity_mapping=None)
    with pytest.raises(Forbidden):
        maintenance.schedule(as_mia, title="Theirs", starts_at=NOW, ends_at=NOW + timedelta(hours=1),
                             services=[make_service(team=b)], now=NOW)
    with pytest.raises(Forbidden):  # a plain responder no longer schedules maintenance
        maintenance.schedule(actor(rob), title="Mine", starts_at=NOW, ends_at=NOW + timedelta(hours=1),
                             services=[made], now=NOW)
    window = maintenance.schedule(as_mia, title="Ours", starts_at=NOW + timedelta(hours=1),
                                  ends_at=NOW + timedelta(hours=2), services=[made], now=NOW)
    assert window.services == [made]


def test_a_manager_sees_edit_controls_only_where_they_work(teams, client):
    a, b, mia, rob = teams
    service_a, service_b = make_service("a-api", team=a), make_service("b-api", team=b)
    login(client, mia)
    page_a, page_b = client.get(f"/teams/{a.id}").get_data(as_text=True), client.get(f"/teams/{b.id}").get_data(as_text=True)
    assert "Make manager" in page_a and "Add a member" in page_a and "Edit team" not in page_a
    assert "Make manager" not in page_b and "Add a member" not in page_b
    assert f"/services/{service_a.id}/edit" in client.get(f"/services/{service_a.id}").get_data(as_text=True)
    assert f"/services/{service_b.id}/edit" not in client.get(f"/services/{service_b.id}").get_data(as_text=True)
    assert "New service" in client.get("/services/").get_data(as_text=True)
    form = client.get("/services/new").get_data(as_text=True)
    assert ">A</option>" in form and ">B</option>" not in form and "No team" not in form
    answer = client.post(f"/teams/{a.id}/members/{rob.id}/manager", data={"is_manager": "1"})
    assert answer.status_code == 303 and permissions.can_manage_team(rob, a)
    assert client.post(f"/teams/{b.id}/members/{rob.id}/manager", data={"is_manager": "1"}).status_code == 403
    login(client, make_user(Role.RESPONDER))
    assert "New service" not in client.get("/services/").get_data(as_text=True)
