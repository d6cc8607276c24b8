"""Every model, imported once so the metadata (and Alembic) sees every table."""
from app.audit.models import AuditEntry  # noqa: F401
from app.auth.models import ApiToken, Team, TeamMembership, User  # noqa: F401
from app.engine.models import EngineLease  # noqa: F401
from app.services.models import IntegrationKey, Service  # noqa: F401
