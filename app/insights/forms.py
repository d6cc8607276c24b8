"""Forms of the insights pages. The dashboard's filters are a GET form (plain
WTForms, no CSRF: reading changes nothing); every change is a FlaskForm post."""
from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask_wtf import FlaskForm
from wtforms import DateField, Form, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.database import MAX_ID
from app.forms import choices, record_id
from app.incidents.forms import SEVERITY_CHOICES
from app.insights import periods
from app.insights.metrics import Filters
from app.insights.surveys import QUESTIONS, SCALE

SEVERITY_FILTER = choices([("", "All severities"), *[(str(n), f"SEV-{n}") for n in (1, 2, 3, 4)]])


class FilterForm(Form):
    period = SelectField("Period", choices=choices(periods.PRESETS.items()), default=periods.DEFAULT_PRESET)
    start = DateField("From", validators=[Optional()], description="With “Dates I choose”.")
    end = DateField("To", validators=[Optional()])
    team = SelectField("Team", validate_choice=False)
    service = SelectField("Service", validate_choice=False)
    severity = SelectField("Severity", choices=SEVERITY_FILTER, validate_choice=False)
    by = SelectField("Trend by", choices=choices(periods.GRANULARITIES.items()), default="week",
                     validate_choice=False)


def _number(value) -> int | None:
    return record_id(value)


def filters_from(form: FilterForm, zone: ZoneInfo, today: date) -> tuple[Filters, list[str]]:
    """The filters the form asks for; what does not make sense is said and replaced
    by the default (so a bad link still shows a dashboard)."""
    problems = []
    form.validate()
    preset = form.period.data if form.period.data in periods.PRESETS else periods.DEFAULT_PRESET
    start, end = form.start.data, form.end.data
    if form.start.errors or form.end.errors:
        problems.append("Dates look like 2026-03-31.")
        start = end = None
    if preset == "custom":
        if not (start and end):
            problems.append("Choose both dates for your own period.")
            period = periods.from_preset(periods.DEFAULT_PRESET, today, zone)
        elif end < start:
            problems.append("The period ends before it starts.")
            period = periods.from_preset(periods.DEFAULT_PRESET, today, zone)
        elif (end - start).days + 1 > periods.MAX_DAYS:
            problems.append("A period is at most three years.")
            period = periods.Period(end - timedelta(days=periods.MAX_DAYS - 1), end, zone, "Your dates")
        else:
            period = periods.Period(start, end, zone, "Your dates")
    else:
        period = periods.from_preset(preset, today, zone)
    severity = _number(form.severity.data)
    granularity = form.by.data if form.by.data in periods.GRANULARITIES else "week"
    return Filters(period, team_id=_number(form.team.data), service_id=_number(form.service.data),
                   severity=severity if severity in (1, 2, 3, 4) else None, granularity=granularity), problems


class DrillForm(FlaskForm):
    title = StringField("Scenario", validators=[DataRequired(message="Say what the drill is about."), Length(max=200)],
                        description="e.g. “Game day: payments database fails over”. People paged see this title.")
    service_id = SelectField("Service", coerce=int, validators=[DataRequired()])
    severity = SelectField("Severity to practise", choices=SEVERITY_CHOICES, default="2")
    scenario = TextAreaField("What happens, for the people running it", validators=[Optional(), Length(max=20_000)],
                             description="Markdown. Injects, timings, what good looks like.")


class AssessForm(FlaskForm):
    user_id = IntegerField(validators=[DataRequired(), NumberRange(min=1, max=MAX_ID)])
    score = IntegerField("Score (0–100)", validators=[InputRequired(message="Give a score from 0 to 100."),
                                                      NumberRange(min=0, max=100, message="From 0 to 100.")])
    note = StringField("Note", validators=[Optional(), Length(max=2000)])


class ScheduleForm(FlaskForm):
    owner_id = SelectField("Owner", validate_choice=False)
    next_review_on = DateField("Next review", validators=[Optional()],
                               description="Empty: a quarter from today when there is an owner.")


class ReviewedForm(FlaskForm):
    next_review_on = DateField("Next review", validators=[Optional()], description="Empty: a quarter from today.")
    note = StringField("What changed", validators=[Optional(), Length(max=2000)])


class SurveyForm(FlaskForm):
    blameless = RadioField(QUESTIONS[0].text, choices=choices((str(k), f"{k} · {v}") for k, v in SCALE.items()),
                           validators=[DataRequired(message="Choose one answer.")])
    safety = RadioField(QUESTIONS[1].text, choices=choices((str(k), f"{k} · {v}") for k, v in SCALE.items()),
                        validators=[DataRequired(message="Choose one answer.")])
