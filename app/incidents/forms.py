from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.database import MAX_ID
from app.forms import choices, optional_id_choice, within_years
from app.incidents.service import MAX_NOTE, MAX_TITLE, MILESTONE_LABELS, MILESTONES
from app.triage.levels import LEVELS

# What <input type="datetime-local"> sends and shows (seconds when a browser adds them).
LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]


def LocalTimeField(label, **kwargs):  # noqa: N802 - reads like the field class it makes
    return DateTimeLocalField(label, format=LOCAL_FORMATS, validators=[Optional(), within_years], **kwargs)


SEVERITY_CHOICES = choices((str(n), f"{lvl.name} · {lvl.label}") for n, lvl in LEVELS.items())


class DeclareForm(FlaskForm):
    title = StringField("What is happening?", validators=[DataRequired(), Length(max=MAX_TITLE)],
                        description="One line customers' impact first, e.g. 'Checkout fails for card payments'.")
    service_id = SelectField("Service", coerce=int, validators=[DataRequired()])
    severity = SelectField("Severity", choices=SEVERITY_CHOICES, default="3",
                           description="Not sure? The triage wizard recommends one.")
    description = TextAreaField("Details", validators=[Optional(), Length(max=MAX_NOTE)],
                                description="Markdown. What you know so far.")
    impact_started_at = LocalTimeField("Impact started", description="If you know; your time zone.")
    is_exercise = BooleanField("This is a drill or game day",
                               description="Runs like a real incident; counted only under training, never in the "
                                           "response metrics.")


class NoteForm(FlaskForm):
    text = TextAreaField("Add a note", validators=[DataRequired(message="The note is empty."), Length(max=MAX_NOTE)],
                         description="Markdown. Everyone watching sees it at once.")
    decision = BooleanField("This is a decision")


class SeverityForm(FlaskForm):
    severity = SelectField("New severity", choices=SEVERITY_CHOICES)
    reason = StringField("Why", validators=[DataRequired(message="Say why the severity changes."), Length(max=500)])


class ResolveForm(FlaskForm):
    note = StringField("Resolution note", validators=[Optional(), Length(max=500)])


class ReopenForm(FlaskForm):
    reason = StringField("Why reopen", validators=[Optional(), Length(max=500)])


class RenameForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=MAX_TITLE)])


class MergeForm(FlaskForm):
    target = IntegerField("Merge into incident #", validators=[DataRequired(), NumberRange(min=1, max=MAX_ID)],
                          description="This incident's alerts and timeline move there; a link remains here.")


class MilestonesForm(FlaskForm):
    impact_started_at = LocalTimeField(MILESTONE_LABELS["impact_started_at"])
    detected_at = LocalTimeField(MILESTONE_LABELS["detected_at"])
    acknowledged_at = LocalTimeField(MILESTONE_LABELS["acknowledged_at"])
    mitigated_at = LocalTimeField(MILESTONE_LABELS["mitigated_at"])
    resolved_at = LocalTimeField(MILESTONE_LABELS["resolved_at"])

    def fill(self, incident, zone: ZoneInfo) -> None:
        for name in MILESTONES:
            value = getattr(incident, name)
            getattr(self, name).data = to_local(value, zone)

    def values(self, zone: ZoneInfo) -> dict:
        return {name: from_local(getattr(self, name).data, zone) for name in MILESTONES}


def to_local(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    """An aware UTC time as the naive local time a datetime-local input shows."""
    return value.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0) if value else None


def from_local(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    """What a person typed in their zone, as an aware time (fold=0 picks the first of a repeated hour)."""
    return value.replace(tzinfo=zone) if value else None


# --- the war room (app.incidents.roles, app.incidents.warroom) -------------------------------

class RoleForm(FlaskForm):
    role = SelectField("Role")
    user_id = SelectField("Person", coerce=int, validators=[DataRequired(message="Choose a person.")],
                          description="For a role one person holds, this hands it over.")


class WarRoomForm(FlaskForm):
    bridge_url = StringField("Video bridge", validators=[Optional(), Length(max=500)],
                             description="A link, e.g. https://meet.example.com/incident-42")
    bridge_phone = StringField("Dial-in", validators=[Optional(), Length(max=100)],
                               description="Number and code, for people on the road.")
    chat_url = StringField("Chat channel", validators=[Optional(), Length(max=500)])
    status_summary = TextAreaField("Current status", validators=[Optional(), Length(max=5000)],
                                   description="What is going on now, in a sentence or two.")
    impact = TextAreaField("Customer impact", validators=[Optional(), Length(max=5000)],
                           description="Who is affected and how, in customers' words: updates use it.")


class TaskForm(FlaskForm):
    title = StringField("Task", validators=[DataRequired(message="Say what is to be done."), Length(max=300)])
    owner_id = SelectField("Owner", coerce=optional_id_choice)
    due_in = IntegerField("Due in (minutes)", validators=[Optional(), NumberRange(min=1, max=7 * 24 * 60)])


class ReportForm(FlaskForm):
    conditions = TextAreaField("Conditions", validators=[Optional(), Length(max=10_000)],
                               description="What is happening: the situation now.")
    actions = TextAreaField("Actions", validators=[Optional(), Length(max=10_000)],
                            description="What is being done, and by whom.")
    needs = TextAreaField("Needs", validators=[Optional(), Length(max=10_000)],
                          description="What the response needs: people, decisions, access.")
    executive_summary = TextAreaField("Executive summary", validators=[Optional(), Length(max=10_000)],
                                      description="Two lines for leaders: impact and outlook.")


class TeamRequestForm(FlaskForm):
    team_id = SelectField("Team", coerce=int, validators=[DataRequired(message="Choose a team.")],
                          description="Paged through the team's own escalation policy until one of them joins.")
    note = StringField("What you need from them", validators=[Optional(), Length(max=500)])
