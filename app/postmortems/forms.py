"""Forms for post-mortems, action items, templates and categories (the rules are
checked again in the service functions)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField, DateField, HiddenField, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.database import MAX_ID
from app.forms import choices
from app.incidents.forms import LocalTimeField
from app.postmortems.actions import MAX_DESCRIPTION, MAX_TITLE
from app.postmortems.models import ActionKind, ActionStatus, Priority
from app.postmortems.service import MAX_TEXT

TAG_CHOICES = choices([("", "No tag"), ("detection", "Detection"), ("diagnosis", "Diagnosis"), ("repair", "Repair"),
                       ("key_moment", "Key moment")])
PRIORITY_CHOICES = choices((p.value, p.label) for p in Priority)
KIND_CHOICES = choices((k.value, k.label) for k in ActionKind)
STATUS_CHOICES = choices((s.value, s.label) for s in ActionStatus)


def optional_int(value):
    return int(value) if value not in (None, "", "None") else None


class NewPostmortemForm(FlaskForm):
    incident_id = IntegerField(validators=[DataRequired(), NumberRange(min=1, max=MAX_ID)])
    template_id = SelectField("Template", coerce=optional_int, validators=[Optional()])


class DetailsForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=1024)])
    owner_id = SelectField("Owner", coerce=optional_int, validators=[Optional()])
    due_on = DateField("Due", validators=[DataRequired(message="Give it a due date.")])
    problem_statement = TextAreaField("Problem statement", validators=[Optional(), Length(max=2000)],
                                      description="The head of the fishbone, and where the 5 Whys start.")
    customers_affected = StringField("Customers affected", validators=[Optional(), Length(max=300)],
                                     description="An estimate is fine, e.g. “about 4% of checkouts”.")
    cost = StringField("Estimated cost", validators=[Optional(), Length(max=300)])
    tags = StringField("Tags", validators=[Optional(), Length(max=500)],
                       description="Comma separated, e.g. database, deploy. Search filters on them.")


class SectionForm(FlaskForm):
    body = TextAreaField("Text", validators=[Optional(), Length(max=MAX_TEXT)], description="Markdown.")


class TemplateChoiceForm(FlaskForm):
    template_id = SelectField("Switch to template", coerce=optional_int, validators=[DataRequired()])


class EventTagForm(FlaskForm):
    tag = SelectField("Tag", choices=TAG_CHOICES, validators=[Optional()])
    starred = BooleanField("Star for the summary")


class WhyForm(FlaskForm):
    parent_id = HiddenField()
    why = StringField("Why?", validators=[DataRequired(message="Ask the question."), Length(max=2000)])
    because = StringField("Because", validators=[Optional(), Length(max=2000)])


class WhyEditForm(FlaskForm):
    why = StringField("Why?", validators=[DataRequired(message="Ask the question."), Length(max=2000)])
    because = StringField("Because", validators=[Optional(), Length(max=2000)])
    root_cause = BooleanField("Root cause")


class CauseForm(FlaskForm):
    category = StringField("Category", validators=[DataRequired(message="Choose or name a category."),
                                                   Length(max=60)],
                           description="People, Process, Technology, Environment, or a name of your own.")
    text = StringField("Cause", validators=[DataRequired(message="Say what the cause is."), Length(max=300)])


class FactorForm(FlaskForm):
    category_id = SelectField("Category", coerce=optional_int, validators=[DataRequired(message="Choose a category.")])
    description = StringField("Contributing factor", validators=[DataRequired(message="Describe the factor."),
                                                                 Length(max=2000)])


class ReviewersForm(FlaskForm):
    reviewers = SelectMultipleField("Reviewers", coerce=int, validators=[DataRequired(message="Choose someone.")])


class CommentForm(FlaskForm):
    section_id = HiddenField()
    body = TextAreaField("Comment", validators=[DataRequired(message="The comment is empty."), Length(max=10_000)])


class ReasonForm(FlaskForm):
    reason = StringField("Reason", validators=[Optional(), Length(max=2000)])


class MeetingForm(FlaskForm):
    at = LocalTimeField("When", description="Your time zone.")
    location = StringField("Where", validators=[Optional(), Length(max=500)],
                           description="A room or a video-call link.")


class PublicSummaryForm(FlaskForm):
    public_summary = TextAreaField("Public summary", validators=[Optional(), Length(max=10_000)],
                                   description="For customers: what happened, what it affected, what we changed. "
                                               "No names, no internals.")
    public = BooleanField("Show on the status page")


class ActionItemForm(FlaskForm):
    incident_id = HiddenField()
    postmortem_id = HiddenField()
    title = StringField("Action", validators=[DataRequired(message="Say what is to be done."),
                                              Length(max=MAX_TITLE)])
    owner_id = SelectField("Owner", coerce=optional_int, validators=[Optional()])
    team_id = SelectField("Team", coerce=optional_int, validators=[Optional()],
                          description="Default: the owner's team, else the service's.")
    due_on = DateField("Due", validators=[DataRequired(message="Give a due date.")])
    priority = SelectField("Priority", choices=PRIORITY_CHOICES, default="medium")
    kind = SelectField("Type", choices=KIND_CHOICES, default="corrective")
    ticket_url = StringField("Ticket", validators=[Optional(), Length(max=1000)],
                             description="A link to the issue tracker, if there is one.")
    description = TextAreaField("Details", validators=[Optional(), Length(max=MAX_DESCRIPTION)],
                                description="Markdown.")


class StatusForm(FlaskForm):
    status = SelectField("Status", choices=STATUS_CHOICES)
    reason = StringField("Reason (for won't do)", validators=[Optional(), Length(max=5000)])


class TemplateForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    description = StringField("Description", validators=[Optional(), Length(max=2000)])
    sections = TextAreaField("Sections", validators=[DataRequired()],
                             description="One “## Heading [kind]” line per section, its guidance below it. Kinds: "
                                         "text (the default), summary, impact, milestones, responders, timeline, "
                                         "factors, rca, lessons, action_items.")
    active = BooleanField("Offered for new post-mortems", default=True)


class CategoryForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=80)])
    description = StringField("Description", validators=[Optional(), Length(max=2000)])
