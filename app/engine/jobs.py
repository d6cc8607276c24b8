"""Every kind of due work the engine does, in the order a cycle does it."""
from __future__ import annotations

from app.alerts.jobs import JOBS as ALERT_JOBS
from app.engine.core import Job
from app.incidents.jobs import JOBS as INCIDENT_JOBS
from app.notify.dispatch import JOBS as NOTIFY_JOBS
from app.services import maintenance
from app.statuspage.jobs import JOBS as STATUSPAGE_JOBS


def all_jobs() -> list[Job]:
    return [
        Job("maintenance", maintenance.due, maintenance.run),
        *ALERT_JOBS,
        *INCIDENT_JOBS,
        *STATUSPAGE_JOBS,  # before the outbox: subscriber messages leave in the same cycle
        *NOTIFY_JOBS,
    ]
