from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import FieldList, FormField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.forms import choices
from app.notify.models import Channel

CHANNEL_CHOICES = choices((c.value, c.label) for c in Channel)


class AddMethodForm(FlaskForm):
    channel = SelectField("Kind", choices=CHANNEL_CHOICES, default="sms")
    address = StringField("Number or address", validators=[DataRequired(), Length(max=254)],
                          description="Phone numbers in international form, e.g. +15551230001.",
                          render_kw={"autocomplete": "tel", "inputmode": "tel"})


class CodeForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired(), Length(max=12)],
                       render_kw={"inputmode": "numeric", "autocomplete": "one-time-code"})


class RuleRow(FlaskForm):
    class Meta:
        csrf = False

    method_id = SelectField("Contact method", coerce=lambda v: int(v) if v not in (None, "", "None") else None,
                            validators=[Optional()])
    delay = IntegerField("after minutes", default=0, validators=[Optional(), NumberRange(min=0, max=120)])


class RulesForm(FlaskForm):
    rows = FieldList(FormField(RuleRow), min_entries=5, max_entries=10)

    def fill(self, method_choices, rules) -> None:
        while len(self.rows) < max(5, len(rules) + 2):
            self.rows.append_entry()
        for index, row in enumerate(self.rows):
            row.form.method_id.choices = method_choices
            if index < len(rules) and not row.form.method_id.raw_data:
                row.form.method_id.data = rules[index].contact_method_id
                row.form.delay.data = rules[index].delay_minutes

    def steps(self) -> list[tuple[int, int]]:
        return [(row.form.method_id.data, row.form.delay.data or 0) for row in self.rows if row.form.method_id.data]
