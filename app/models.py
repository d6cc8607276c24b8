"""Every model, imported once so the metadata (and Alembic) sees every table."""
from app.alerts.models import Alert, ChangeEvent, Heartbeat  # noqa: F401
from app.audit.models import AuditEntry  # noqa: F401
from app.auth.models import ApiToken, Team, TeamMembership, User  # noqa: F401
from app.engine.models import EngineLease  # noqa: F401
from app.incidents.models import Incident, IncidentEvent  # noqa: F401
from app.notify.models import ContactMethod, InboundMessage, Notification, NotificationRule  # noqa: F401
from app.services.models import IntegrationKey, MaintenanceWindow, Service  # noqa: F401
from app.statuspage.models import (  # noqa: F401
    Component, ComponentDay, ComponentGroup, ComponentStatusRange, MaintenanceUpdate, PageSettings, PublicIncident,
    PublicIncidentComponent, PublicIncidentUpdate, StatusNotice, Subscriber, WebhookDelivery,
)
