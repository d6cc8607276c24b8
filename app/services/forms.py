from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.forms import choices

SEVERITY_CHOICES = choices([("1", "SEV-1"), ("2", "SEV-2"), ("3", "SEV-3"), ("4", "SEV-4"), ("none", "No incident")])


def _optional_int(value):
    if value in (None, "", "None"):
        return None
    return int(value)


class ServiceForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=4000)])
    team_id = SelectField("Owning team", coerce=_optional_int, validators=[Optional()])
    sev_critical = SelectField("critical events open", choices=SEVERITY_CHOICES, default="2")
    sev_error = SelectField("error events open", choices=SEVERITY_CHOICES, default="3")
    sev_warning = SelectField("warning events open", choices=SEVERITY_CHOICES, default="4")
    sev_info = SelectField("info events open", choices=SEVERITY_CHOICES, default="none")
    alert_grouping = SelectField("Alerts open", choices=choices([
        ("per_alert", "an incident each"), ("grouped", "one incident: new alerts join the open one")]),
        default="per_alert")
    resolve_with_alerts = BooleanField("Resolve the incident when all its alerts resolve", default=True)
    ack_timeout_minutes = IntegerField("Acknowledgement timeout (minutes)", default=30,
                                       validators=[Optional(), NumberRange(min=0, max=10080)],
                                       description="An acknowledged incident returns to triggered after this. Empty: never.")
    auto_resolve_minutes = IntegerField("Auto-resolve after (minutes)", validators=[Optional(), NumberRange(min=0, max=10080)],
                                        description="An open incident resolves itself after this. Empty: never.")
    active = BooleanField("Active (takes events)", default=True)

    def settings(self) -> dict:
        return {"alert_grouping": self.alert_grouping.data, "resolve_with_alerts": self.resolve_with_alerts.data,
                "ack_timeout_minutes": self.ack_timeout_minutes.data, "auto_resolve_minutes": self.auto_resolve_minutes.data}

    def mapping(self) -> dict:
        return {"critical": self.sev_critical.data, "error": self.sev_error.data,
                "warning": self.sev_warning.data, "info": self.sev_info.data}

    def fill_mapping(self, mapping: dict) -> None:
        for key in ("critical", "error", "warning", "info"):
            value = mapping.get(key)
            getattr(self, f"sev_{key}").data = "none" if value is None else str(value)


class KeyForm(FlaskForm):
    name = StringField("Key name", validators=[Optional(), Length(max=120)], default="Events API v2",
                       description="What sends with it, e.g. 'Alertmanager prod'.")


class HeartbeatForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)], description="e.g. nightly-backup")
    interval_minutes = IntegerField("Checks in every (minutes)", default=60,
                                    validators=[DataRequired(), NumberRange(min=1, max=44640)])
    grace_minutes = IntegerField("Grace (minutes)", default=5, validators=[Optional(), NumberRange(min=0, max=1440)],
                                 description="How late a check-in may be before it counts as missed.")
