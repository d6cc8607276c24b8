"""Form helpers every domain's forms.py shares."""
from __future__ import annotations

from wtforms import Form, SelectChoice

from app.errors import DomainError


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
