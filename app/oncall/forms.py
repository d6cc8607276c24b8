"""On-call forms. Times people type are in their own zone (datetime-local);
quick actions on the calendar carry exact UTC instants in hidden fields."""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField, DateField, FieldList, FormField, HiddenField, IntegerField, SelectField, SelectMultipleField,
    StringField, TextAreaField, TimeField,
)
from wtforms.form import Form
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from app.forms import choices, within_years
from app.incidents.forms import LocalTimeField, from_local
from app.oncall.models import ShiftUnit

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
UNIT_CHOICES = choices((u.value, u.value) for u in ShiftUnit)
WEEKDAY_CHOICES = choices((str(i), name) for i, name in enumerate(WEEKDAYS))
WEEKDAY_VALUES = {str(i) for i in range(7)}
PARTICIPANT_SLOTS = 8


def _optional_int(value):
    if value in (None, "", "None"):
        return None
    return int(value)


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ScheduleForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)],
                       description="e.g. Payments primary")
    time_zone = StringField("Time zone", validators=[DataRequired(), Length(max=64)], default="UTC",
                            render_kw={"list": "time-zones"},
                            description="Handoffs happen at wall-clock times here, across daylight saving.")
    team_id = SelectField("Team", coerce=_optional_int, validators=[Optional()])
    description = TextAreaField("Description", validators=[Optional(), Length(max=4000)])
    reminder_minutes = IntegerField("Remind people before their shift (minutes)", default=60,
                                    validators=[Optional(), NumberRange(min=0, max=1440)],
                                    description="0 or empty: no reminder.")


class RestrictionForm(Form):
    days = MultiCheckboxField("Days", choices=WEEKDAY_CHOICES)
    start = TimeField("From", validators=[Optional()])
    end = TimeField("Until", validators=[Optional()],
                    description="Not after the start: runs past midnight.")


class RotationFields(FlaskForm):
    """What a rotation is: people in order, shift length, handoff, restrictions."""

    participants = FieldList(SelectField("Person", coerce=_optional_int, validators=[Optional()]),
                             min_entries=PARTICIPANT_SLOTS)
    shift_unit = SelectField("Shifts last", choices=UNIT_CHOICES, default=ShiftUnit.WEEKS.value)
    shift_length = IntegerField("How many", default=1, validators=[DataRequired(), NumberRange(min=1, max=336)])
    handoff_time = TimeField("Handoff time", validators=[DataRequired()], default=datetime(2000, 1, 1, 9).time())
    handoff_weekday = SelectField("Handoff day (weekly shifts)", choices=WEEKDAY_CHOICES, default="0")
    restricted = BooleanField("Only on call at some times (e.g. business hours)")
    restrictions = FieldList(FormField(RestrictionForm), min_entries=2, max_entries=2)

    def participant_ids(self) -> list[int]:
        return [entry.data for entry in self.participants if entry.data]

    def restriction_list(self) -> list[dict]:
        if not self.restricted.data:
            return []
        result = []
        for entry in self.restrictions:
            window = entry.form
            days = [int(d) for d in window.days.data or () if d in WEEKDAY_VALUES]  # the field says what else is wrong
            if days and window.start.data and window.end.data:
                result.append({"days": days, "start": window.start.data.strftime("%H:%M"),
                               "end": window.end.data.strftime("%H:%M")})
        return result

    def validate_restricted(self, field):
        if field.data and not self.restriction_list():
            raise ValidationError("Give at least one window: days, a start and an end time.")

    def rotation(self) -> dict:
        return {"participant_ids": self.participant_ids(), "shift_unit": self.shift_unit.data,
                "shift_length": self.shift_length.data, "handoff_time": self.handoff_time.data,
                "handoff_weekday": int(self.handoff_weekday.data) if self.shift_unit.data == "weeks" else None,
                "restrictions": self.restriction_list()}

    def fill(self, version) -> None:
        ids = list(version.participant_ids)
        while len(self.participants) < max(PARTICIPANT_SLOTS, len(ids) + 2):
            self.participants.append_entry()
        for entry, user_id in zip(self.participants, ids + [None] * len(self.participants)):
            entry.data = user_id
        self.shift_unit.data = version.shift_unit.value
        self.shift_length.data = version.shift_length
        self.handoff_time.data = version.handoff_time
        self.handoff_weekday.data = str(version.handoff_weekday if version.handoff_weekday is not None
                                        else version.start_date.weekday())
        self.restricted.data = bool(version.restrictions)
        for entry, window in zip(self.restrictions, version.restrictions or []):
            entry.form.days.data = [str(d) for d in window["days"]]
            entry.form.start.data = datetime.strptime(window["start"], "%H:%M").time()
            entry.form.end.data = datetime.strptime(window["end"], "%H:%M").time()

    def set_people(self, pairs) -> None:
        for entry in self.participants:
            entry.choices = choices([("", "—"), *pairs])


class LayerForm(RotationFields):
    name = StringField("Layer name", validators=[DataRequired(), Length(max=120)], default="Primary")
    start_date = DateField("Starts on", validators=[Optional()],
                           description="The first handoff is on or after this day (weekly: on the handoff day).")


class StartAndEnd:
    """Forms with a start and an end, both needed. Their fields are Optional (so an empty
    one is not reported as a bad time), which ends validation before a
    `validate_ends_at` would run: an empty end passed, and the view failed on None."""

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.starts_at.data is None or self.ends_at.data is None:
            if not self.starts_at.errors and not self.ends_at.errors:
                self.ends_at.errors.append("Give the start and the end.")
            return False
        return valid


class TemporaryForm(StartAndEnd, FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)], description="e.g. Holiday cover")
    starts_at = LocalTimeField("From")
    ends_at = LocalTimeField("Until")
    participants = FieldList(SelectField("Person", coerce=_optional_int, validators=[Optional()]),
                             min_entries=4)
    shift_unit = SelectField("Shifts last", choices=UNIT_CHOICES, default=ShiftUnit.DAYS.value)
    shift_length = IntegerField("How many", default=1, validators=[DataRequired(), NumberRange(min=1, max=336)])

    def participant_ids(self) -> list[int]:
        return [entry.data for entry in self.participants if entry.data]

    def set_people(self, pairs) -> None:
        for entry in self.participants:
            entry.choices = choices([("", "—"), *pairs])


class OverrideForm(StartAndEnd, FlaskForm):
    user_id = SelectField("Who covers", coerce=int, validators=[DataRequired()])
    starts_at = LocalTimeField("From")
    ends_at = LocalTimeField("Until")
    note = StringField("Note", validators=[Optional(), Length(max=500)])

    def window(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        return from_local(self.starts_at.data, zone), from_local(self.ends_at.data, zone)


def _instant(value: str | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value or "")
        return moment.astimezone(UTC) if moment.tzinfo else None
    except (ValueError, OverflowError):  # not a time, or one outside years 1–9999 in UTC
        return None


class InstantField(HiddenField):
    """An exact instant (ISO 8601 with a zone) carried by a quick action."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        self.instant = _instant(self.data)

    def pre_validate(self, form):
        if getattr(self, "instant", None) is None:
            raise ValidationError("That time is not valid.")


class CoverForm(FlaskForm):
    """"I'll cover": an override for the current person, from the calendar."""

    starts_at = InstantField()
    ends_at = InstantField()
    view = HiddenField()
    day = HiddenField()


class SwapForm(FlaskForm):
    """"Swap with my next shift", from the calendar."""

    starts_at = InstantField()
    ends_at = InstantField()
    view = HiddenField()
    day = HiddenField()


class HolidayForm(FlaskForm):
    user_id = SelectField("Who", coerce=int, validators=[Optional()])
    first_day = DateField("First day off", validators=[DataRequired()])
    last_day = DateField("Last day off", validators=[DataRequired()])
    note = StringField("Note", validators=[Optional(), Length(max=200)], description="Optional, e.g. 'Conference'.")


class FeedForm(FlaskForm):
    schedule_id = HiddenField()
    reminder_minutes = IntegerField("Remind me before each shift (minutes)", validators=[Optional(),
                                                                                          NumberRange(min=1, max=1440)],
                                    description="Empty: no reminder in the calendar.")


class HandoverNoteForm(FlaskForm):
    text = TextAreaField("Handover note", validators=[DataRequired(message="The note is empty."), Length(max=5000)],
                         description="What the next person should know. Sent with the handover at the shift change.")


class LoadForm(FlaskForm):
    class Meta:
        csrf = False

    start = DateField("From", validators=[Optional(), within_years])
    end = DateField("Until", validators=[Optional(), within_years])
    schedule_id = SelectField("Schedule", coerce=_optional_int, validators=[Optional()])
