"""Post-mortems: templates, the review of one incident, its root-cause analysis,
its action items, and the search index over what incidents taught us."""
from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.auth.models import Team, User, enum_column
from app.database import UTCDateTime
from app.extensions import db
from app.incidents.models import Incident


class SectionKind(enum.StrEnum):
    """What a section shows besides the text people write in it."""

    TEXT = "text"                  # only what people write
    SUMMARY = "summary"            # plus the starred timeline entries
    IMPACT = "impact"              # plus the impact table
    MILESTONES = "milestones"      # plus milestone times and durations
    RESPONDERS = "responders"      # plus who responded, in which role
    TIMELINE = "timeline"          # plus milestones, the whole timeline and the communication log
    FACTORS = "factors"            # plus the contributing factors
    RCA = "rca"                    # plus the 5 Whys and the fishbone
    LESSONS = "lessons"            # text, searched as lessons
    ACTION_ITEMS = "action_items"  # plus the action items

    @property
    def label(self) -> str:
        return SECTION_KIND_LABELS[self.value]


SECTION_KIND_LABELS = {
    "text": "Text", "summary": "Summary (with starred timeline entries)", "impact": "Impact table",
    "milestones": "Milestones and durations", "responders": "Responders and roles",
    "timeline": "Timeline and communication log", "factors": "Contributing factors",
    "rca": "Root-cause analysis (5 Whys, fishbone)", "lessons": "Lessons learned",
    "action_items": "Action items",
}


class PostmortemTemplate(db.Model):
    """A template is data: admins edit its sections; new post-mortems copy them."""

    __tablename__ = "postmortem_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    sections: Mapped[list["TemplateSection"]] = relationship(
        back_populates="template", cascade="all, delete-orphan", order_by="TemplateSection.position")


class TemplateSection(db.Model):
    __tablename__ = "postmortem_template_sections"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(sa.ForeignKey("postmortem_templates.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    heading: Mapped[str] = mapped_column(sa.String(200))
    guidance: Mapped[str] = mapped_column(sa.Text, default="")
    kind: Mapped[SectionKind] = enum_column(SectionKind, "template_section_kind", default=SectionKind.TEXT)

    template: Mapped[PostmortemTemplate] = relationship(back_populates="sections")


class PostmortemStatus(enum.StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    PUBLISHED = "published"

    @property
    def label(self) -> str:
        return {"draft": "Draft", "in_review": "In review", "published": "Published"}[self.value]


class Postmortem(db.Model):
    """The review of one incident."""

    __tablename__ = "postmortems"
    __table_args__ = (sa.Index("ix_postmortems_status_due", "status", "due_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"), unique=True)
    template_id: Mapped[int | None] = mapped_column(sa.ForeignKey("postmortem_templates.id", ondelete="SET NULL"))
    # The template's name when it was used (templates change; this post-mortem does not).
    template_name: Mapped[str] = mapped_column(sa.String(120), default="")
    title: Mapped[str] = mapped_column(sa.String(1024))
    status: Mapped[PostmortemStatus] = enum_column(PostmortemStatus, "postmortem_status",
                                                   default=PostmortemStatus.DRAFT)
    required: Mapped[bool] = mapped_column(default=False)
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    due_on: Mapped[date | None] = mapped_column(sa.Date)
    # The fishbone's head and the first "why".
    problem_statement: Mapped[str] = mapped_column(sa.Text, default="")
    customers_affected: Mapped[str] = mapped_column(sa.String(300), default="")
    cost: Mapped[str] = mapped_column(sa.String(300), default="")
    # Normalised labels, comma separated ("dns,deploy"): search filters on them.
    tags: Mapped[str] = mapped_column(sa.String(500), default="")

    meeting_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    meeting_location: Mapped[str] = mapped_column(sa.String(500), default="")

    public: Mapped[bool] = mapped_column(default=False)
    public_summary: Mapped[str] = mapped_column(sa.Text, default="")
    public_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    # Bumped on every change.
    version: Mapped[int] = mapped_column(default=1)

    incident: Mapped[Incident] = relationship()
    template: Mapped[PostmortemTemplate | None] = relationship()
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    published_by: Mapped[User | None] = relationship(foreign_keys=[published_by_id])
    sections: Mapped[list["PostmortemSection"]] = relationship(
        back_populates="postmortem", cascade="all, delete-orphan", order_by="PostmortemSection.position")
    reviewers: Mapped[list["Reviewer"]] = relationship(
        back_populates="postmortem", cascade="all, delete-orphan", order_by="Reviewer.id")

    @property
    def is_published(self) -> bool:
        return self.status == PostmortemStatus.PUBLISHED

    @property
    def tag_list(self) -> list[str]:
        return [t for t in (self.tags or "").split(",") if t]

    def section_of(self, kind: SectionKind) -> "PostmortemSection | None":
        return next((s for s in self.sections if s.kind == kind), None)

    def __repr__(self) -> str:
        return f"<Postmortem {self.id} of #{self.incident_id} {self.status}>"


class PostmortemSection(db.Model):
    """A template's section copied into one post-mortem, with what people wrote."""

    __tablename__ = "postmortem_sections"

    id: Mapped[int] = mapped_column(primary_key=True)
    postmortem_id: Mapped[int] = mapped_column(sa.ForeignKey("postmortems.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    heading: Mapped[str] = mapped_column(sa.String(200))
    guidance: Mapped[str] = mapped_column(sa.Text, default="")
    kind: Mapped[SectionKind] = enum_column(SectionKind, "section_kind", default=SectionKind.TEXT)
    body: Mapped[str] = mapped_column(sa.Text, default="")
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(sa.String(200), default="")

    postmortem: Mapped[Postmortem] = relationship(back_populates="sections")

    @property
    def anchor(self) -> str:
        return f"section-{self.id}"


class Reviewer(db.Model):
    __tablename__ = "postmortem_reviewers"
    __table_args__ = (sa.UniqueConstraint("postmortem_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    postmortem_id: Mapped[int] = mapped_column(sa.ForeignKey("postmortems.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    postmortem: Mapped[Postmortem] = relationship(back_populates="reviewers")
    user: Mapped[User] = relationship()


class Comment(db.Model):
    """A reviewer's (or anyone's) comment on one section, or on the whole post-mortem."""

    __tablename__ = "postmortem_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    postmortem_id: Mapped[int] = mapped_column(sa.ForeignKey("postmortems.id", ondelete="CASCADE"), index=True)
    section_id: Mapped[int | None] = mapped_column(sa.ForeignKey("postmortem_sections.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    author_label: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    section: Mapped[PostmortemSection | None] = relationship()


class Version(db.Model):
    """The whole post-mortem as Markdown at a moment that matters (created, submitted,
    published, reopened): the change history people can read and compare."""

    __tablename__ = "postmortem_versions"
    __table_args__ = (sa.UniqueConstraint("postmortem_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    postmortem_id: Mapped[int] = mapped_column(sa.ForeignKey("postmortems.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column()
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    actor_label: Mapped[str] = mapped_column(sa.String(200))
    reason: Mapped[str] = mapped_column(sa.String(200))
    markdown: Mapped[str] = mapped_column(sa.Text)


# --- root-cause analysis ----------------------------------------------------------------

class WhyNode(db.Model):
    """One step of a 5 Whys: "why …?" answered "because …". Children ask why of the
    answer; several children are several branches."""

    __tablename__ = "postmortem_whys"

    id: Mapped[int] = mapped_column(primary_key=True)
    postmortem_id: Mapped[int] = mapped_column(sa.ForeignKey("postmortems.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("postmortem_whys.id", ondelete="CASCADE"), index=True)
    why: Mapped[str] = mapped_column(sa.Text)
    because: Mapped[str] = mapped_column(sa.Text, default="")
    root_cause: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


FISHBONE_CATEGORIES = ("People", "Process", "Technology", "Environment")


class FishboneCause(db.Model):
    __tablename__ = "postmortem_fishbone_causes"

    id: Mapped[int] = mapped_column(primary_key=True)
    postmortem_id: Mapped[int] = mapped_column(sa.ForeignKey("postmortems.id", ondelete="CASCADE"), index=True)
    category: Mapped[str] = mapped_column(sa.String(60))
    text: Mapped[str] = mapped_column(sa.String(300))
    position: Mapped[int] = mapped_column(default=0)


class FactorCategory(db.Model):
    """What kind of cause: a fixed list (admins add to it) so causes can be counted
    across incidents."""

    __tablename__ = "contributing_factor_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)


class ContributingFactor(db.Model):
    __tablename__ = "contributing_factors"

    id: Mapped[int] = mapped_column(primary_key=True)
    postmortem_id: Mapped[int] = mapped_column(sa.ForeignKey("postmortems.id", ondelete="CASCADE"), index=True)
    category_id: Mapped[int] = mapped_column(sa.ForeignKey("contributing_factor_categories.id"), index=True)
    description: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    category: Mapped[FactorCategory] = relationship()


# --- action items -----------------------------------------------------------------------

class ActionStatus(enum.StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    WONT_DO = "wont_do"

    @property
    def label(self) -> str:
        return {"open": "Open", "in_progress": "In progress", "done": "Done", "wont_do": "Won't do"}[self.value]

    @property
    def is_closed(self) -> bool:
        return self in (ActionStatus.DONE, ActionStatus.WONT_DO)


OPEN_ACTION_STATUSES = (ActionStatus.OPEN, ActionStatus.IN_PROGRESS)


class Priority(enum.StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class ActionKind(enum.StrEnum):
    DETECTIVE = "detective"
    PREVENTIVE = "preventive"
    CORRECTIVE = "corrective"
    MITIGATING = "mitigating"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class ActionItem(db.Model):
    __tablename__ = "action_items"
    __table_args__ = (sa.Index("ix_action_items_status_due", "status", "due_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    postmortem_id: Mapped[int | None] = mapped_column(sa.ForeignKey("postmortems.id", ondelete="SET NULL"), index=True)
    title: Mapped[str] = mapped_column(sa.String(300))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    due_on: Mapped[date] = mapped_column(sa.Date)
    priority: Mapped[Priority] = enum_column(Priority, "action_priority", default=Priority.MEDIUM)
    kind: Mapped[ActionKind] = enum_column(ActionKind, "action_kind", default=ActionKind.CORRECTIVE)
    ticket_url: Mapped[str] = mapped_column(sa.String(1000), default="")
    status: Mapped[ActionStatus] = enum_column(ActionStatus, "action_status", default=ActionStatus.OPEN)
    wont_do_reason: Mapped[str] = mapped_column(sa.Text, default="")
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by: Mapped[str] = mapped_column(sa.String(200), default="")

    incident: Mapped[Incident] = relationship()
    postmortem: Mapped[Postmortem | None] = relationship()
    owner: Mapped[User | None] = relationship()
    team: Mapped[Team | None] = relationship()

    @property
    def ref(self) -> str:
        return f"AI-{self.id}"

    def is_overdue(self, today: date) -> bool:
        return self.status in OPEN_ACTION_STATUSES and self.due_on < today


class Reminder(db.Model):
    """One reminder about one action item, due at `due_at` (cleared once handled).

    Unique per (item, kind, due date): moving the due date makes new reminders,
    deciding twice never makes two.
    """

    __tablename__ = "action_item_reminders"
    __table_args__ = (sa.UniqueConstraint("action_item_id", "kind", "for_due_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    action_item_id: Mapped[int] = mapped_column(sa.ForeignKey("action_items.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))  # soon, overdue, still_overdue
    for_due_on: Mapped[date] = mapped_column(sa.Date)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notification_id: Mapped[int | None] = mapped_column(sa.ForeignKey("notifications.id", ondelete="SET NULL"))

    action_item: Mapped[ActionItem] = relationship()


# --- knowledge search -------------------------------------------------------------------

class SearchEntry(db.Model):
    """One searchable thing: an incident, a post-mortem, its lessons, an action item.

    Kept current by the service functions that change those things. The full-text
    index over it is backend-specific and made by the migration: an FTS5 table
    (`search_fts`, synced by triggers) on SQLite, a GIN index on its tsvector on
    PostgreSQL (see app.postmortems.search).
    """

    __tablename__ = "search_entries"
    __table_args__ = (sa.UniqueConstraint("kind", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20))  # incident, postmortem, lesson, action_item
    object_id: Mapped[int] = mapped_column()
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    service_id: Mapped[int | None] = mapped_column(sa.ForeignKey("services.id", ondelete="SET NULL"), index=True)
    severity: Mapped[int | None] = mapped_column()
    # " dns deploy ": spaces around every tag, so a filter matches whole tags.
    tags: Mapped[str] = mapped_column(sa.String(600), default="")
    title: Mapped[str] = mapped_column(sa.String(1024))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)
