"""Every model, imported once so the metadata (and Alembic) sees every table."""
from app.alerts.models import Alert, ChangeEvent, Heartbeat  # noqa: F401
from app.audit.models import AuditEntry  # noqa: F401
from app.auth.models import ApiToken, Team, TeamMembership, User  # noqa: F401
from app.engine.models import EngineLease  # noqa: F401
from app.escalation.models import EscalationPolicy, EscalationStep, EscalationTarget, SeverityTrigger  # noqa: F401
from app.incidents.models import Incident, IncidentEvent  # noqa: F401
from app.notify.models import ContactMethod, InboundMessage, Notification, NotificationRule  # noqa: F401
from app.oncall.models import (  # noqa: F401
    CalendarFeed, Handover, HandoverNote, Holiday, Override, RotationVersion, Schedule, ScheduleLayer, ShiftReminder,
    Swap, TemporarySchedule,
)
from app.triage.models import ImpactRule, SeverityLevel  # noqa: F401
from app.services.models import IntegrationKey, MaintenanceWindow, Service  # noqa: F401
from app.postmortems.models import (  # noqa: F401
    ActionItem, Comment, ContributingFactor, FactorCategory, FishboneCause, Postmortem, PostmortemSection,
    PostmortemTemplate, Reminder, Reviewer, SearchEntry, TemplateSection, Version, WhyNode,
)
from app.incidents.roles_models import RoleAssignment, RoleCheck, RoleDefinition  # noqa: F401
from app.incidents.warroom_models import SituationReport, Task, TeamRequest, WarRoom  # noqa: F401
from app.comms.models import (  # noqa: F401
    CommsDue, CommsPlan, CommsTemplate, CommsUpdate, PlanCheck, StakeholderList, StakeholderMember, UpdateAudience,
    Webhook, WebhookDelivery,
)
from app.statuspage.models import (  # noqa: F401
    Component, ComponentDay, ComponentGroup, ComponentStatusRange, MaintenanceUpdate, PageSettings, PublicIncident,
    PublicIncidentComponent, PublicIncidentUpdate, StatusNotice, Subscriber, SubscriberDelivery,
)
from app.insights.models import (  # noqa: F401
    DrillAssessment, PageRead, ReviewReminder, ReviewSchedule, SurveyAnswer, SurveyInvitation, SurveyRound,
)
from app.metrics.models import MetricCount  # noqa: F401
from app.importers.models import ImportedObject  # noqa: F401
from app.api.idempotency import IdempotencyKey  # noqa: F401
