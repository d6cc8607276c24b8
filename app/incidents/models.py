"""Incidents and their timelines."""
from __future__ import annotations

import enum
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.audit.models import ActorKind
from app.auth.models import User, enum_column
from app.database import UTCDateTime
from app.extensions import db
from app.services.models import Service
from app.triage import levels


class Status(enum.StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


OPEN_STATUSES = (Status.TRIGGERED, Status.ACKNOWLEDGED)


class Incident(db.Model):
    __tablename__ = "incidents"
    __table_args__ = (
        sa.Index("ix_incidents_status_severity_created", "status", "severity", "created_at"),
        sa.CheckConstraint("severity BETWEEN 1 AND 4", name="severity_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(1024))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    service_id: Mapped[int] = mapped_column(sa.ForeignKey("services.id"), index=True)
    severity: Mapped[int] = mapped_column()
    initial_severity: Mapped[int] = mapped_column()
    status: Mapped[Status] = enum_column(Status, "incident_status", default=Status.TRIGGERED)
    # How it was opened: alert, web, api, triage, sms.
    source: Mapped[str] = mapped_column(sa.String(20), default="web")
    is_exercise: Mapped[bool] = mapped_column(default=False)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    # Bumped on every change; live pages poll with it and get 204 when it has not moved.
    version: Mapped[int] = mapped_column(default=1)

    # Milestones: every response metric reads these.
    impact_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    mitigated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    declared_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    acknowledged_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("incidents.id"), index=True)

    # Due work for the engine (indexed: a cycle reads only what is due).
    ack_timeout_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    auto_resolve_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # What a resolution owes once it is committed: the post-mortem draft its severity
    # asks for and the knowledge-search entries (app.postmortems.service.follow_up).
    followup_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    # Escalation: the policy as it was when escalation started, and where it is.
    escalation_snapshot: Mapped[dict | None] = mapped_column(sa.JSON)
    escalation_state: Mapped[str | None] = mapped_column(sa.String(12))  # active, stopped, exhausted
    escalation_run: Mapped[int] = mapped_column(default=0)
    escalation_round: Mapped[int] = mapped_column(default=0)
    escalation_step: Mapped[int] = mapped_column(default=0)
    next_escalation_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Objective breaches the engine has yet to record: cleared when met (acknowledged,
    # resolved), moved when the severity changes.
    response_breach_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    resolution_breach_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Set while nobody could be paged (shown in red on the incident page).
    unreachable_since: Mapped[datetime | None] = mapped_column(UTCDateTime)

    service: Mapped[Service] = relationship()
    declared_by: Mapped[User | None] = relationship(foreign_keys=[declared_by_id])
    acknowledged_by: Mapped[User | None] = relationship(foreign_keys=[acknowledged_by_id])
    resolved_by: Mapped[User | None] = relationship(foreign_keys=[resolved_by_id])
    merged_into: Mapped["Incident | None"] = relationship(remote_side=[id])

    @property
    def number(self) -> int:
        return self.id

    @property
    def ref(self) -> str:
        return f"#{self.id}"

    @property
    def level(self) -> levels.Level:
        return levels.level(self.severity)

    @property
    def severity_name(self) -> str:
        return levels.name(self.severity)

    @property
    def urgency(self) -> str:
        return self.level.urgency

    @property
    def is_open(self) -> bool:
        return self.status != Status.RESOLVED

    @property
    def response_due_at(self) -> datetime:
        return clock.utc(self.detected_at) + timedelta(minutes=self.level.response_minutes)

    @property
    def resolution_due_at(self) -> datetime:
        return clock.utc(self.detected_at) + timedelta(minutes=self.level.resolution_minutes)

    def __repr__(self) -> str:
        return f"<Incident #{self.id} {self.severity_name} {self.status}>"


class EventKind(enum.StrEnum):
    """Everything that can appear on an incident's timeline."""

    OPENED = "opened"
    ALERT_TRIGGERED = "alert_triggered"
    ALERT_ACKNOWLEDGED = "alert_acknowledged"
    ALERT_RESOLVED = "alert_resolved"
    ACKNOWLEDGED = "acknowledged"
    ACK_TIMED_OUT = "ack_timed_out"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    SEVERITY_CHANGED = "severity_changed"
    TITLE_CHANGED = "title_changed"
    MILESTONE_CHANGED = "milestone_changed"
    NOTE = "note"
    MERGED_INTO = "merged_into"
    MERGED_FROM = "merged_from"
    CHANGE_EVENT = "change_event"
    PAGED = "paged"                      # a person's rules became outbox rows
    UNREACHABLE = "unreachable"          # someone to page had no usable contact method
    PAGE_SENT = "page_sent"              # one message left for one person (data: user_id, channel)
    DELIVERED = "delivered"              # the provider says it arrived / the call was answered
    DELIVERY_FAILED = "delivery_failed"  # a send failed (retried) or the provider says it never arrived
    HELD_BACK = "held_back"              # a per-method throttle held a message back
    FELL_THROUGH = "fell_through"        # a failing method handed over to the person's next one
    ESCALATED = "escalated"              # an escalation step reached, or a severity trigger
    NOBODY_REACHABLE = "nobody_reachable"  # no one on call / nobody could be paged: an alarm
    OBJECTIVE_BREACHED = "objective_breached"  # the response or resolution objective passed
    TRIAGED = "triaged"                  # the triage wizard's recommendation and what was chosen
    # Response coordination (app.incidents.roles, app.incidents.warroom) and communications (app.comms).
    ROLE_PROPOSED = "role_proposed"      # data: role, user_id, reason
    ROLE_ASSIGNED = "role_assigned"      # data: role, user_id, from_user_id, handover
    ROLE_RELEASED = "role_released"      # data: role, user_id
    DECISION = "decision"                # a note flagged as a decision
    WAR_ROOM_CHANGED = "war_room_changed"  # bridge, chat, status summary, impact
    TASK_ADDED = "task_added"
    TASK_CHANGED = "task_changed"        # done, reopened, owner or due time changed
    SITUATION_REPORT = "situation_report"  # a tactical report (conditions, actions, needs) and executive summary
    TEAM_REQUESTED = "team_requested"    # responders asked from another team, paged through its policy
    RESPONDER_JOINED = "responder_joined"
    STATUS_UPDATE = "status_update"      # an update sent to its audiences (data: update_id, audiences, on_time)
    UPDATE_DUE = "update_due"            # the cadence reminder went to whoever sends updates
    UPDATE_OVERDUE = "update_overdue"    # no update by the time the cadence said
    PUBLIC_UPDATE = "public_update"      # an update published on the status page (app.statuspage)


class EventTag(enum.StrEnum):
    """The phase a timeline entry belongs to, set in the review (app.postmortems)."""

    DETECTION = "detection"
    DIAGNOSIS = "diagnosis"
    REPAIR = "repair"
    KEY_MOMENT = "key_moment"

    @property
    def label(self) -> str:
        return {"detection": "Detection", "diagnosis": "Diagnosis", "repair": "Repair",
                "key_moment": "Key moment"}[self.value]


# What paging and escalation write as they work: reviews and searches read past them.
PAGING_KINDS = frozenset({EventKind.PAGED, EventKind.UNREACHABLE, EventKind.PAGE_SENT, EventKind.DELIVERED,
                          EventKind.DELIVERY_FAILED, EventKind.HELD_BACK, EventKind.FELL_THROUGH,
                          EventKind.ESCALATED, EventKind.NOBODY_REACHABLE})


class IncidentEvent(db.Model):
    """One entry on an incident's timeline. What happened is never edited; the review
    may tag it (Detection, Diagnosis, Repair, Key moment) and star it for the summary."""

    __tablename__ = "incident_events"
    __table_args__ = (sa.Index("ix_incident_events_incident_at", "incident_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # A plain string, validated by EventKind in Python: new kinds need no table rebuild.
    kind: Mapped[str] = mapped_column(sa.String(40))
    actor_kind: Mapped[ActorKind] = enum_column(ActorKind, "event_actor_kind")
    actor_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(sa.String(200))
    # How an action arrived: web, api, sms, voice, integration, engine.
    via: Mapped[str | None] = mapped_column(sa.String(20))
    text: Mapped[str] = mapped_column(sa.Text, default="")
    data: Mapped[dict | None] = mapped_column(sa.JSON)
    # An EventTag's value, or None.
    tag: Mapped[str | None] = mapped_column(sa.String(20))
    starred: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    incident: Mapped[Incident] = relationship()
    actor_user: Mapped[User | None] = relationship()
