"""Reading API input: JSON bodies and query strings, checked field by field.

Every problem is collected, so one 400 answer lists all of them, e.g.
`{"error": "'title' is missing; 'severity' must be 1 to 4 or \"SEV-1\" to \"SEV-4\"",
"errors": ["'title' is missing", "…"]}`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Callable

from flask import request

from app import nul
from app.clock import FIRST_YEAR, LAST_YEAR
from app.database import MAX_ID  # noqa: F401 (the API's documents and views read it here)
from app.errors import DomainError
from app.services.models import EVENT_SEVERITIES
from app.triage import levels

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000
SEVERITY_HINT = 'must be 1 to 4 or "SEV-1" to "SEV-4"'


class BadInput(DomainError):
    """A 400 that lists every problem with the request, each worded "'name' what is
    wrong"; `where` says whether the names are body fields or query parameters."""

    def __init__(self, errors: list[str], where: str = "body"):
        super().__init__("; ".join(errors))
        self.errors, self.where = errors, where


class Invalid(ValueError):
    """Raised by a converter with what is wrong, said after the field's name."""


# --- values -----------------------------------------------------------------------

def parse_time(value: str) -> datetime:
    """ISO 8601 with a zone (`Z` or an offset) → aware UTC. A time without a zone is
    refused rather than guessed. A `+` sent unescaped in a query string arrives as a
    space; that is read back as the `+` it was."""
    text = value.strip()
    text = re.sub(r" (\d\d:?\d\d)$", r"+\1", text)
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise Invalid("must be an ISO 8601 time such as 2026-03-01T09:30:00Z") from None
    if moment.tzinfo is None:
        raise Invalid("needs a time zone, e.g. 2026-03-01T09:30:00Z or 2026-03-01T10:30:00+01:00")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the year 1 in UTC
        moment = None
    if moment is None or not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise Invalid(f"must be a time between the years {FIRST_YEAR} and {LAST_YEAR} in UTC")
    return moment


def severity(value: Any) -> int:
    """1–4, or a severity's name ("SEV-2"); never a boolean."""
    if isinstance(value, bool):
        raise Invalid(SEVERITY_HINT)
    if isinstance(value, int):
        if value in levels.LEVELS:
            return value
        raise Invalid(SEVERITY_HINT)
    if isinstance(value, str) and re.fullmatch(r"(?i)sev-?[1-4]", value.strip()):
        return levels.parse(value)
    raise Invalid(SEVERITY_HINT)


def text(max_length: int, *, blank: bool = True) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if not isinstance(value, str):
            raise Invalid("must be a string")
        if not blank and not value.strip():
            raise Invalid("must not be blank")
        if len(value) > max_length:
            raise Invalid(f"must be at most {max_length:,} characters")
        return value
    return convert


def identifier(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise Invalid("must be a positive integer id")
    return value


def timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise Invalid("must be an ISO 8601 time as a string")
    return parse_time(value)


def severity_mapping(value: Any) -> dict:
    if not isinstance(value, dict):
        raise Invalid("must be an object such as {\"critical\": 1, \"info\": null}")
    problems = []
    for key, level in value.items():
        if key not in EVENT_SEVERITIES:
            problems.append(f"has an unknown event severity {key!r} (use {', '.join(EVENT_SEVERITIES)})")
        elif level is not None and (type(level) is not int or level not in levels.LEVELS):  # [] or {}: no TypeError
            problems.append(f"gives {key!r} {level!r}; use 1 to 4, or null to record the alert only")
    if problems:
        raise Invalid("; ".join(problems))
    return value


# --- bodies -----------------------------------------------------------------------

@dataclass(frozen=True)
class Field:
    convert: Callable[[Any], Any]
    required: bool = False


def body(fields: dict[str, Field]) -> dict[str, Any]:
    """The request's JSON object, checked against `fields`; absent or null optional
    fields are left out. An empty body is an empty object (useful for actions
    whose fields are all optional). Unknown fields are refused, so a misspelt one
    is not silently ignored."""
    raw = request.get_data(cache=True)
    if raw:  # no body is an empty object; anything sent must be JSON (whitespace alone is not)
        try:
            text = raw.decode("utf-8")
            data = json.loads(text)
        except UnicodeDecodeError:
            raise BadInput(["The request body is not valid UTF-8"]) from None
        except RecursionError:
            raise BadInput(["The JSON is nested too deeply"]) from None
        except json.JSONDecodeError as error:
            raise BadInput([f"The request body is not valid JSON ({error.msg} at line {error.lineno} "
                            f"column {error.colno})"]) from None
        except ValueError:  # a number too long to read (over 4,300 digits)
            raise BadInput(["The request body is not valid JSON (a number in it has over 4,300 digits)"]) from None
        if nul.might_hold_nul(text) and nul.has_nul(data):
            raise BadInput(["The request body holds a NUL character (\\u0000), which Firebreak does not store"])
    else:
        data = {}
    if not isinstance(data, dict):
        raise BadInput([f"The request body must be a JSON object, not {_json_type(data)}"])
    errors = [f"'{name}' is not a field here (expected: {', '.join(fields) or 'none'})"
              for name in data if name not in fields]
    values: dict[str, Any] = {}
    for name, field in fields.items():
        value = data.get(name)
        if value is None:
            if field.required:
                errors.append(f"'{name}' is missing")
            continue
        try:
            values[name] = field.convert(value)
        except Invalid as problem:
            errors.append(f"'{name}' {problem}")
    if errors:
        raise BadInput(errors)
    return values


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "null"


# --- query strings ----------------------------------------------------------------

class Query:
    """Reads query parameters, collecting problems; `check()` raises them together.
    Empty (`?at=`) is as if left out; anything else must read as the parameter's kind
    (a lone space or U+0085 is not empty, and no time)."""

    def __init__(self):
        self.args = request.args
        self.errors: list[str] = []

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.args.get(name, "").lower() or default
        if value not in choices:
            self.errors.append(f"'{name}' must be one of {', '.join(choices)}")
            return default
        return value

    def integer(self, name: str, *, default: int | None = None, low: int = 1, high: int | None = None) -> int | None:
        raw = self.args.get(name, "")
        if not raw:
            return default
        if not raw.isdecimal() or len(raw) > 12 or int(raw) < low or (high is not None and int(raw) > high):
            bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
            self.errors.append(f"'{name}' must be a whole number {bound}")
            return default
        return int(raw)

    def identifier(self, name: str) -> int | None:
        return self.integer(name, high=MAX_ID)

    def severities(self, name: str = "severity") -> list[int]:
        """Repeatable or comma separated: ?severity=1&severity=2 or ?severity=1,2."""
        found: list[int] = []
        for raw in self.args.getlist(name):
            for part in raw.split(","):
                if not part:
                    continue
                try:
                    level = severity(int(part) if part.strip().isdecimal() else part)
                except Invalid:
                    self.errors.append(f"'{name}' {SEVERITY_HINT}, not {part.strip()!r}")
                    continue
                if level not in found:
                    found.append(level)
        return sorted(found)

    def time(self, name: str) -> datetime | None:
        raw = self.args.get(name, "")
        if not raw:
            return None
        try:
            return parse_time(raw)
        except Invalid as problem:
            self.errors.append(f"'{name}' {problem}")
            return None

    def text(self, name: str, max_length: int = 200) -> str | None:
        value = " ".join(self.args.get(name, "").split())
        if len(value) > max_length:
            self.errors.append(f"'{name}' must be at most {max_length} characters")
            return None
        return value or None

    def page(self) -> tuple[int, int]:
        page = self.integer("page", default=1, high=MAX_PAGE)
        per_page = self.integer("per_page", default=DEFAULT_PER_PAGE, high=MAX_PER_PAGE)
        return page, per_page

    def check(self) -> None:
        if self.errors:
            raise BadInput(self.errors, where="query")
