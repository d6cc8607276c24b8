"""The demo organisation's status page: grouped components on the demo services, and
two weeks of history with a few past incidents, made through the service functions.

Idempotent like the rest of the demo: missing groups and components are added; the
history is written only for components this run made, so an existing page is never
rewritten.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from app.audit.service import Actor
from app.extensions import db
from app.incidents import service as incidents
from app.postmortems import service as postmortems
from app.services.models import Service
from app.statuspage import service
from app.statuspage.models import Component, ComponentGroup, PageSettings

HISTORY_DAYS = 14
# group, component, demo service, description
COMPONENTS = [
    ("Payments", "Checkout", "checkout-api", "Basket, delivery options and payment."),
    ("Payments", "Card payments", "payments-db", "Card authorisation and refunds."),
    ("Platform", "Public API", "api-gateway", "The REST API for partners and apps."),
    ("Platform", "Sign-in", "auth-service", "Accounts, sign-in and sessions."),
    ("Storefront", "Website", "web-frontend", "The shop and account pages."),
    ("Storefront", "Order notifications", "notifications-worker", "Order emails, SMS and push messages."),
]
# days ago, hour, minutes long, public title, component, impact, [(minutes in, stage, words)], post-mortem
PAST = [
    (11, 14, 38, "Card payments declined for some customers", "Card payments", "partial_outage",
     [(0, "investigating", "Some card payments are declined. We are looking into it."),
      (12, "identified", "A certificate at our card processor's gateway expired; we are switching to the standby."),
      (38, "resolved", "Card payments work again. Payments that failed can be retried.")],
     "A certificate on the connection to our card processor expired. Payments failed for 38 minutes for "
     "about a third of customers. We now renew and monitor these certificates automatically."),
    (6, 3, 22, "Slow search and product pages", "Website", "degraded_performance",
     [(0, "investigating", "Product pages load slowly."),
      (22, "resolved", "Pages load at normal speed again.")], ""),
    (2, 9, 95, "Order emails delayed", "Order notifications", "degraded_performance",
     [(0, "investigating", "Order confirmation emails are arriving late."),
      (30, "monitoring", "A fix is in place; the backlog of emails is being sent."),
      (95, "resolved", "All delayed emails have been sent.")], ""),
]


def seed(actor: Actor, now: datetime) -> int:
    """Add what is missing; the number of components made."""
    if db.session.get(PageSettings, service.SETTINGS_ID) is None:
        service.update_settings(actor, now, name="Acme Shop", brand_color="#1f4e8c",
                                about="Questions? Write to support@example.com.")
    groups = {g.name: g for g in db.session.scalars(sa.select(ComponentGroup))}
    made: dict[str, Component] = {}
    start = now - timedelta(days=HISTORY_DAYS)
    for group_name, name, service_name, description in COMPONENTS:
        if group_name not in groups:
            groups[group_name] = service.create_group(actor, name=group_name, now=start)
        if db.session.scalar(sa.select(Component.id).where(Component.name == name)) is not None:
            continue
        services = list(db.session.scalars(sa.select(Service).where(Service.name == service_name)))
        made[name] = service.create_component(actor, name=name, now=start, description=description,
                                              group=groups[group_name], services=services)
    for days, hour, minutes, title, component_name, impact, updates, postmortem in PAST:
        component = made.get(component_name)
        if component is None or not component.services:
            continue
        began = (now - timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)
        incident = incidents.open_incident(actor, service=component.services[0], title=f"{title} (demo)",
                                           severity=2 if impact == "partial_outage" else 3, now=began)
        for offset, stage, words in updates:
            at = began + timedelta(minutes=offset)
            service.publish_update(actor, incident, stage, words, at, title=title if offset == 0 else None,
                                   components={component: impact} if offset == 0 else None, notify=False)
        incidents.resolve(actor, incident, began + timedelta(minutes=minutes))
        postmortems.follow_up(incident, incident.resolved_at)  # as the engine did then
        if postmortem:
            service.publish_postmortem(actor, incident, postmortem, began + timedelta(days=1))
    return len(made)
