"""The communications forms: the update composer and the admin pages."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.comms import defaults, render
from app.comms.models import WebhookKind
from app.forms import choices, id_choice, optional_id_choice, record_id


class CheckboxesField(SelectMultipleField):
    """Several choices as checkboxes (works on phones, without JavaScript)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _ints(values) -> list[int]:
    return [ident for ident in map(record_id, values or []) if ident]


STAGE_CHOICES = choices((stage, render.STAGE_LABELS[stage]) for stage in render.STAGES)
AUDIENCE_CHOICES = choices((key, label) for key, (label, _) in defaults.AUDIENCES.items())
SEVERITY_CHOICES = choices((str(n), f"SEV-{n}") for n in (1, 2, 3, 4))


class ComposeForm(FlaskForm):
    template = SelectField("Template")
    stage = SelectField("Stage", choices=STAGE_CHOICES,
                        description="What the status page and customer templates say: investigating … resolved.")
    subject = StringField("Subject", validators=[Optional(), Length(max=2000)])
    body = TextAreaField("Body", validators=[DataRequired(message="The update says nothing: write a body."),
                                             Length(max=render.MAX_SOURCE)],
                         description="Plain words, and fields in double braces: {{ title }}, {{ impact }}, "
                                     "{{ next_update_at }} … Filled in when you preview and when it is sent.")
    lists = CheckboxesField("Stakeholder lists", coerce=id_choice, validate_choice=False)
    status_page = BooleanField("The public status page")
    webhooks = CheckboxesField("Webhooks", coerce=id_choice, validate_choice=False)


class TemplateForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    audience = SelectField("For", choices=AUDIENCE_CHOICES)
    description = StringField("When to use it", validators=[Optional(), Length(max=500)])
    subject = StringField("Subject", validators=[Optional(), Length(max=2000)])
    body = TextAreaField("Body", validators=[DataRequired(), Length(max=render.MAX_SOURCE)])
    active = BooleanField("In use", default=True)


class ListForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    description = StringField("Who they are", validators=[Optional(), Length(max=500)])
    external = BooleanField("Outside the company (customers, partners, regulators)")
    send_sms = BooleanField("Also text members who have a phone")
    severities = CheckboxesField("Subscribed to severities", choices=SEVERITY_CHOICES, validate_choice=False,
                                 description="Proposed for incidents of these severities (none: any).")
    services = CheckboxesField("Subscribed to services", coerce=id_choice, validate_choice=False,
                               description="Proposed for incidents on these services (none: any). A list naming "
                                           "neither is only chosen by hand.")


class MemberForm(FlaskForm):
    user_id = SelectField("A person", coerce=optional_id_choice)
    name = StringField("Or a name", validators=[Optional(), Length(max=120)])
    email = StringField("Email", validators=[Optional(), Length(max=254)])
    phone = StringField("Phone", validators=[Optional(), Length(max=32)], description="International form, +1555…")


class WebhookForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    kind = SelectField("Kind", choices=choices((kind, WebhookKind.LABELS[kind]) for kind in WebhookKind.ALL))
    url = StringField("Address", validators=[DataRequired(), Length(max=1000)],
                      description="The incoming webhook URL Slack or Teams gave you, or your receiver's.")
    secret = StringField("Signing secret", validators=[Optional(), Length(max=200)],
                         description="whsec_… (Standard Webhooks); left empty, one is made for you.")


class PlanForm(FlaskForm):
    items = TextAreaField("Plan", validators=[Optional(), Length(max=20_000)],
                          description="One line each: minutes from detection | who must be told | template key.")


class RoleForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=80)])
    description = TextAreaField("What the role does", validators=[Optional(), Length(max=5000)])
    checklist = TextAreaField("Checklist", validators=[Optional(), Length(max=20_000)],
                              description="One item a line, shown to whoever holds the role.")


def ints(values) -> list[int]:
    return _ints(values)
