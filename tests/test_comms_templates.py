"""Update templates: the sandboxed language, the shipped templates, admins' edits, and
refusal before anything is sent."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app import clock
from app.auth.models import Role
from app.comms import defaults, library, render, stakeholders, updates
from app.comms.models import CommsDue, CommsTemplate, CommsUpdate, WebhookDelivery
from app.comms.render import TemplateRefused
from app.comms import webhooks
from app.errors import Forbidden
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import EventKind, IncidentEvent
from app.notify.models import Notification
from tests.factories import SYSTEM, actor, make_service, make_user

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FIELDS = render.sample_fields(T0)


@pytest.fixture
def sev1(app):
    clock.set(T0)
    incident = incidents.open_incident(SYSTEM, service=make_service("checkout-api"), title="Checkout fails",
                                       severity=1, now=T0)
    db.session.commit()
    return incident


# --- the language ----------------------------------------------------------------------------

def test_fields_fill_in_with_filters_conditions_and_loops():
    text = render.render("{{ severity }} {{ ref }}: {{ title|upper }}\n{% if needs %}Needs: {{ needs }}{% endif %}\n"
                         "{% for s in services %}- {{ s }}{% endfor %} {{ roles.commander }} {{ commander or 'nobody' }}",
                         FIELDS)
    assert text.startswith("SEV-1 #42: CHECKOUT FAILS FOR CARD PAYMENTS\nNeeds: A payments-db expert")
    assert "- checkout-api Dana Okafor Dana Okafor" in text


@pytest.mark.parametrize("source, says", [
    ("Hello {{ customer_name }}", "{{ customer_name }}, which is not a field"),
    ("{{ roles.janitor }}", "{{ janitor }}, which is not a field"),
    ("{% if impcat %}x{% endif %}", "{{ impcat }}, which is not a field"),
])
def test_an_undefined_field_is_refused_with_its_name_and_the_fields_there_are(source, says):
    with pytest.raises(TemplateRefused) as refused:
        render.render(source, FIELDS)
    assert says in refused.value.message
    assert "Fields: acknowledged_at, actions," in refused.value.message


@pytest.mark.parametrize("source, says", [
    ("{{ ''.__class__.__mro__ }}", "reaches for '__mro__'"),
    ("{{ ''.__class__ }}", "reaches for '__class__'"),
    ("{{ title.__len__ }}", "reaches for '__len__'"),
    ("{{ title.upper() }}", "calls a function or method"),
    ("{{ roles.items }}", "may not do: access to attribute 'items'"),
    ("{{ services.pop }}", "may not do"),
    ("{{ cycler }}", "{{ cycler }}, which is not a field"),
    ("{{ range(10) }}", "calls a function"),
    ("{{ title|attr('upper') }}", "filter 'attr'"),
    ("{{ services|map('upper')|list }}", "filter 'map'"),
    ("{{ title|format(1) }}", "filter 'format'"),
    ("{% include 'base.html' %}", "{% include %}"),
    ("{% import 'x' as y %}", "{% import %}"),
    ("{% macro m() %}{% endmacro %}", "{% macro %}"),
    ("{% for a in title %}{% for b in title %}x{% endfor %}{% endfor %}", "a loop inside a loop"),
    ("{{ 'x' * 1000000 }}", "repeating text is limited"),
    ("{{ 9 ** 99999 }}", "powers are limited"),
    ("{{ title", "does not parse"),
    ("{{ title is callable }}", "test 'callable'"),
])
def test_unsafe_constructs_are_refused_with_a_clear_reason(source, says):
    with pytest.raises(TemplateRefused) as refused:
        render.render(source, FIELDS)
    assert says in refused.value.message


def test_what_a_template_may_produce_is_bounded():
    with pytest.raises(TemplateRefused, match="more than 20,000 characters"):
        render.render("{% for s in title %}" + "{{ impact }}" * 20 + "{% endfor %}", {**FIELDS, "impact": "x" * 200})


@pytest.mark.parametrize("spec", defaults.TEMPLATES, ids=lambda spec: spec["key"])
@pytest.mark.parametrize("stage", render.STAGES)
def test_every_shipped_template_fills_in_at_every_stage(spec, stage):
    fields = {**FIELDS, "stage": stage, "stage_label": render.STAGE_LABELS[stage]}
    body = render.render(spec["body"], fields)
    assert body and "{{" not in body and "{%" not in body
    render.render(spec["subject"], fields, part="subject")


def test_there_is_a_template_for_every_audience_the_response_needs():
    audiences = {spec["audience"] for spec in defaults.TEMPLATES}
    assert audiences == {"internal_technical", "management", "resolution", "customer", "partner", "regulatory",
                         "social", "press"}
    assert len(defaults.TEMPLATES) == 8


@pytest.mark.db
def test_fields_of_a_real_incident_are_plain_values(sev1):
    fields = render.fields(sev1, T0, stage="investigating")
    assert fields["ref"] == f"#{sev1.id}" and fields["severity"] == "SEV-1" and fields["services"] == ["checkout-api"]
    assert fields["next_update_at"] == "2026-03-02 09:30 UTC"  # what sending now promises (SEV-1: 30 min)
    assert all(isinstance(v, (str, int, list, dict)) for v in fields.values())


# --- admins' edits ------------------------------------------------------------------------------

@pytest.mark.db
def test_an_admin_edits_a_shipped_template_and_restores_it(app):
    admin = actor(make_user(Role.ADMIN))
    saved = library.save(admin, "customer_notice", T0, name="Customer notice", audience="customer",
                         description="Ours", subject="{{ service }} — {{ stage_label }}",
                         body="We are on it: {{ impact }}")
    db.session.commit()
    assert saved.edited and library.get("customer_notice").body == "We are on it: {{ impact }}"
    assert [t.key for t in library.all_templates()][:8] == list(defaults.TEMPLATE_KEYS)
    assert library.restore(admin, "customer_notice")
    db.session.commit()
    assert library.get("customer_notice").body == defaults.TEMPLATES[3]["body"]


@pytest.mark.db
def test_a_template_that_does_not_fill_in_is_never_saved(app):
    admin = actor(make_user(Role.ADMIN))
    with pytest.raises(TemplateRefused, match="customer_name"):
        library.save(admin, None, T0, name="Apology", audience="customer", description="", subject="Sorry",
                     body="Dear {{ customer_name }}")
    db.session.rollback()
    with pytest.raises(Forbidden):
        library.save(actor(make_user(Role.RESPONDER)), None, T0, name="Mine", audience="customer", description="",
                     subject="", body="Hi")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CommsTemplate)) == 0
    made = library.save(admin, None, T0, name="Apology", audience="customer", description="", subject="Sorry",
                        body="We are sorry about {{ service }}.")
    assert made.key == "custom_apology" and not made.shipped


# --- refused before anything is sent ------------------------------------------------------------------

@pytest.mark.db
@pytest.mark.parametrize("body", ["Update on {{ incident.customer }}", "{{ title.__class__ }}", "{{ title.upper() }}"])
def test_a_refused_update_sends_nothing_at_all(sev1, body):
    now = clock.now()
    people = stakeholders.create_list(SYSTEM, now, name="Executives")
    stakeholders.add_member(SYSTEM, people, now, user_id=make_user(Role.RESPONDER).id)
    hook = webhooks.create_webhook(SYSTEM, now, name="Slack", kind="slack", url="https://hooks.example.com/x")
    db.session.commit()
    before = {model: db.session.scalar(sa.select(sa.func.count()).select_from(model))
              for model in (Notification, CommsUpdate, WebhookDelivery, IncidentEvent, CommsDue)}
    draft = updates.Draft(template_key="", stage="investigating", subject="Hi", body=body, list_ids=[people.id],
                          webhook_ids=[hook.id])
    with pytest.raises(TemplateRefused):
        updates.preview(sev1, draft, now)
    with pytest.raises(TemplateRefused):
        updates.send(actor(make_user(Role.RESPONDER)), sev1, draft, now)
    db.session.rollback()
    after = {model: db.session.scalar(sa.select(sa.func.count()).select_from(model)) for model in before}
    assert after == before
    assert not db.session.scalars(sa.select(IncidentEvent).where(IncidentEvent.kind == EventKind.STATUS_UPDATE)).all()
