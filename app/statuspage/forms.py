"""The status page's forms: the public subscribe form (no CSRF token: the page sets
no cookie, and double opt-in makes a forged request harmless) and the forms
admins and responders use."""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField, DateField, EmailField, Form, IntegerField, RadioField, SelectField, SelectMultipleField, StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.forms import choices
from app.statuspage.models import ComponentStatus, Stage
from app.statuspage.service import MAX_BODY, MAX_NAME, MAX_TITLE

STAGE_CHOICES = choices((s.value, s.label) for s in Stage)
MANUAL_CHOICES = choices((s.value, s.label) for s in ComponentStatus if s != ComponentStatus.MAINTENANCE)
IMPACT_CHOICES = [("", "Not affected"), *((s.value, s.label) for s in (
    ComponentStatus.DEGRADED, ComponentStatus.PARTIAL, ComponentStatus.MAJOR, ComponentStatus.OPERATIONAL))]


class SubscribeForm(Form):
    channel = RadioField("How", choices=choices([("email", "Email"), ("sms", "SMS (text message)"),
                                                 ("webhook", "Webhook")]), default="email")
    email = EmailField("Email address", validators=[Optional(), Length(max=254)],
                       description="For email updates, and to confirm a webhook.",
                       render_kw={"autocomplete": "email"})
    phone = StringField("Mobile number", validators=[Optional(), Length(max=32)],
                        description="International form, e.g. +15551230001. SMS only for new incidents, "
                                    "their resolution and maintenance starting.",
                        render_kw={"autocomplete": "tel", "inputmode": "tel"})
    url = StringField("Webhook URL", validators=[Optional(), Length(max=2000)],
                      description="We POST JSON (Statuspage's webhook shape) to it, signed per Standard Webhooks.",
                      render_kw={"inputmode": "url"})
    components = SelectMultipleField("Only these components", choices=[], validate_choice=False)


class CodeForm(Form):
    code = StringField("Code from the SMS", validators=[DataRequired(message="Type the code."), Length(max=12)],
                       render_kw={"inputmode": "numeric", "autocomplete": "one-time-code"})


class PublishForm(FlaskForm):
    title = StringField("Public title", validators=[Optional(), Length(max=MAX_TITLE)],
                        description="What customers notice, e.g. “Card payments fail at checkout”. "
                                    "Nothing internal: no hosts, no people.")
    stage = SelectField("Stage", choices=STAGE_CHOICES, default=Stage.INVESTIGATING.value)
    body = TextAreaField("Message to customers", validators=[DataRequired(message="Say what customers should know."),
                                                             Length(max=MAX_BODY)])
    notify = BooleanField("Notify subscribers", default=True)


class PostmortemForm(FlaskForm):
    postmortem = TextAreaField("Public post-mortem summary", validators=[Optional(), Length(max=50_000)],
                               description="Markdown. What happened, the impact, what we change. Empty withdraws it.")


class ComponentForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=MAX_NAME)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    group_id = SelectField("Group", coerce=lambda v: int(v) if v not in (None, "", "None") else None, choices=[])
    service_ids = SelectMultipleField("Services", coerce=int, choices=[],
                                      description="Maintenance on these services puts the component under maintenance.")
    position = IntegerField("Position", validators=[Optional(), NumberRange(min=0, max=10_000)])
    start_date = DateField("Uptime counts from", validators=[Optional()])
    showcase = BooleanField("Show 90-day uptime", default=True)
    only_show_if_degraded = BooleanField("Show only when not operational")


class GroupForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=MAX_NAME)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    position = IntegerField("Position", validators=[Optional(), NumberRange(min=0, max=10_000)])


class StatusForm(FlaskForm):
    status = SelectField("Status", choices=MANUAL_CHOICES)


class SettingsForm(FlaskForm):
    name = StringField("Organisation name", validators=[DataRequired(), Length(max=MAX_NAME)])
    time_zone = StringField("Time zone", validators=[DataRequired(), Length(max=64)],
                            description="Times and days on the page are in this zone.",
                            render_kw={"list": "time-zones"})
    brand_color = StringField("Brand colour", validators=[DataRequired(), Length(min=7, max=7)],
                              description="Text on it and links are adjusted to keep AA contrast.",
                              render_kw={"type": "color"})
    about = TextAreaField("About", validators=[Optional(), Length(max=2000)],
                          description="A line under the header, e.g. where else to reach support.")
    support_url = StringField("Support link", validators=[Optional(), Length(max=255)])


class LogoForm(FlaskForm):
    logo = FileField("Logo", description="PNG, JPEG or GIF, up to 256 KB.")
    remove = BooleanField("Remove the logo")


class MaintenanceUpdateForm(FlaskForm):
    body = TextAreaField("Update for customers", validators=[Optional(), Length(max=MAX_BODY)])
