"""Every kind of due work the engine does, in the order a cycle does it."""
from __future__ import annotations

from app.alerts.jobs import JOBS as ALERT_JOBS
from app.comms.cadence import JOBS as CADENCE_JOBS
from app.comms.webhooks import JOBS as WEBHOOK_JOBS
from app.engine.core import Job
from app.escalation.jobs import JOBS as ESCALATION_JOBS
from app.incidents.jobs import FOLLOWUP_JOBS, JOBS as INCIDENT_JOBS
from app.incidents.warroom import JOBS as WARROOM_JOBS
from app.insights.reviews import JOBS as REVIEW_JOBS
from app.insights.surveys import JOBS as SURVEY_JOBS
from app.notify.dispatch import JOBS as NOTIFY_JOBS
from app.oncall import handovers
from app.postmortems.actions import JOBS as POSTMORTEM_JOBS
from app.services import maintenance
from app.statuspage.jobs import JOBS as STATUSPAGE_JOBS


def all_jobs() -> list[Job]:
    return [
        Job("maintenance", maintenance.due, maintenance.run),
        *ALERT_JOBS,
        *INCIDENT_JOBS,
        Job("handovers", handovers.due_handovers, handovers.run_handovers),
        Job("shift_reminders", handovers.due_reminders, handovers.run_reminders),
        *ESCALATION_JOBS,
        *WARROOM_JOBS,     # responders asked from other teams: their policy's next step
        *POSTMORTEM_JOBS,  # before notifications: a reminder made this cycle goes out this cycle
        *CADENCE_JOBS,     # likewise: update reminders
        *STATUSPAGE_JOBS,  # before the outbox: subscriber messages leave in the same cycle
        *REVIEW_JOBS,
        *SURVEY_JOBS,
        *NOTIFY_JOBS,
        *WEBHOOK_JOBS,
        *FOLLOWUP_JOBS,    # resolutions' post-mortem drafts and search entries: nobody waits on them
    ]
