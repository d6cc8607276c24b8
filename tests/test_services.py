"""Services and integration keys."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.auth.models import Role
from app.errors import Conflict, DomainError, Forbidden
from app.extensions import db
from app.services import service as services
from tests.factories import actor, login, make_service, make_team, make_user


@pytest.mark.db
def test_a_new_service_gets_a_32_character_integration_key(app):
    team = make_team("Payments")
    service = make_service("checkout-api", team=team)
    assert service.team.name == "Payments"
    [key] = service.active_keys
    assert re.fullmatch(r"[0-9a-f]{32}", key.key)
    assert services.service_for_key(key.key) == (service, key)


@pytest.mark.db
def test_default_severity_mapping_follows_the_design(app):
    service = make_service()
    assert [service.severity_for(s) for s in ("critical", "error", "warning", "info")] == [2, 3, 4, None]


def test_severity_mapping_is_validated(app):
    with pytest.raises(DomainError, match="1 to 4"):
        services.clean_severity_mapping({"critical": 7})
    with pytest.raises(DomainError, match="Unknown event severity"):
        services.clean_severity_mapping({"catastrophic": 1})
    assert services.clean_severity_mapping({"critical": "1", "info": "none"}) == {
        "critical": 1, "error": 3, "warning": 4, "info": None}


@pytest.mark.db
def test_revoked_keys_and_inactive_services_route_nowhere(app):
    admin = make_user(Role.ADMIN)
    service = make_service()
    [key] = service.active_keys
    second = services.add_integration_key(actor(admin), service, name="Alertmanager")
    services.revoke_integration_key(actor(admin), key)
    db.session.commit()
    assert services.service_for_key(key.key) is None
    assert services.service_for_key(second.key) == (service, second)
    services.update_service(actor(admin), service, name=service.name, description="", team_id=None,
                            severity_mapping=None, active=False)
    db.session.commit()
    assert services.service_for_key(second.key) is None
    assert services.service_for_key("short") is None
    actions = db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.object_type == "services")).all()
    assert {"service.create", "service.add_key", "service.revoke_key", "service.update"} <= set(actions)


def test_names_are_unique_and_only_admins_configure(app):
    make_service("checkout-api")
    with pytest.raises(Conflict):
        make_service("Checkout-API")
    db.session.rollback()
    with pytest.raises(Forbidden):
        services.create_service(actor(make_user(Role.RESPONDER)), name="other")


def test_a_given_key_must_have_the_right_shape(app):
    service = make_service()
    with pytest.raises(DomainError, match="32 letters"):
        services.add_integration_key(actor(make_user(Role.ADMIN)), service, key="too-short")


def test_admin_creates_a_service_through_the_form(app, client):
    team = make_team("Platform")
    login(client, make_user(Role.ADMIN))
    answer = client.post("/services/new", data={"name": "api-gateway", "description": "The edge",
                                                "team_id": str(team.id), "sev_critical": "1", "sev_error": "3",
                                                "sev_warning": "4", "sev_info": "none", "active": "y"})
    assert answer.status_code == 303
    page = client.get(answer.headers["Location"])
    assert b"api-gateway" in page.data and b"SEV-1" in page.data
    assert re.search(rb"<code>[0-9a-f]{32}</code>", page.data)


def test_a_bad_service_form_keeps_what_was_typed(app, client):
    make_service("taken")
    login(client, make_user(Role.ADMIN))
    answer = client.post("/services/new", data={"name": "taken", "description": "kept text",
                                                "team_id": "", "sev_critical": "2", "sev_error": "3",
                                                "sev_warning": "4", "sev_info": "none"})
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    assert "A service with that name exists." in html and "kept text" in html
    assert 'aria-invalid="true"' in html


def test_viewers_see_only_the_start_of_integration_keys(app, client):
    service = make_service()
    key = service.active_keys[0].key
    login(client, make_user(Role.VIEWER))
    page = client.get(f"/services/{service.id}").get_data(as_text=True)
    assert key not in page and key[:6] in page
