"""Form helpers every domain's forms.py shares."""
from __future__ import annotations

from wtforms import Form, SelectChoice
from wtforms.validators import ValidationError

from app.database import MAX_ID
from app.errors import DomainError


def record_id(value) -> int | None:
    """The id a form or query string names, or None when it names none: not a whole
    number, or outside 1 to MAX_ID. `str.isdigit` with `int` is not enough: "²" is a
    digit int() refuses, and 2**64 is an int no database takes."""
    text = str(value if value is not None else "").strip()
    if not text.isdecimal() or len(text) > 10:
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ID else None


def id_choice(value) -> int:
    """`coerce` for fields of ids: ValueError (the field's own error) for anything else."""
    number = record_id(value)
    if number is None:
        raise ValueError("not an id")
    return number


def optional_id_choice(value) -> int | None:
    """`coerce` for a choice of an id or none (the empty choice)."""
    return None if value in (None, "") else id_choice(value)


def add_error(form: Form, error: DomainError) -> None:
    """Show a service's DomainError beside the field it names, else above the form."""
    field = form._fields.get(error.field) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)


def choices(pairs) -> list[SelectChoice]:
    """SelectField choices from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


def choices_from(rows, label=lambda row: row.name, blank: str | None = None) -> list[SelectChoice]:
    pairs = [(row.id, label(row)) for row in rows]
    if blank is not None:
        pairs.insert(0, ("", blank))
    return choices(pairs)


# Dates people type are refused outside these years: Python's datetime ends at 9999, and
# a late-9999 time in a zone east of UTC is past it once stored in UTC.
FIRST_YEAR, LAST_YEAR = 1900, 2999


def within_years(form, field) -> None:
    """A WTForms validator for date and date-time fields (empty is left to Optional)."""
    value = field.data
    if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValidationError(f"Give a date between the years {FIRST_YEAR} and {LAST_YEAR}.")
