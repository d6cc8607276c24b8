"""The configuration document: its schema (pydantic), and reading it from YAML with
the line each value came from, so an error names the path in the file and its line.

The schema is the contract of docs/config-as-code.md. Every object refuses keys it
does not know (a typo is an error, not a silently ignored setting). Values are
normalised as the service functions store them (an email lower-cased, a phone in
E.164), so a file that says the same thing in other words plans no change.
"""
from __future__ import annotations

import os
import re
from datetime import date
from typing import Annotated, Any, Literal

import yaml
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_serializer,
                      model_validator)

from app.auth.service import normalise_email, normalise_phone, valid_time_zone
from app.errors import DomainError

FORMAT = 1
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

Path = tuple  # ("schedules", 2, "layers", 0, "rotation")


class ConfigError(Exception):
    """What is wrong with a document, where: `path` in the file and its `line`."""

    def __init__(self, path: Path, message: str, line: int | None = None):
        self.path, self.message, self.line = tuple(path), message, line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = format_path(self.path)
        return (f"{where}: " if where else "") + self.message + (f" (line {self.line})" if self.line else "")


def format_path(path: Path) -> str:
    """("schedules", 2, "layers", 0) → "schedules[2].layers[0]"."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# --- YAML with lines -------------------------------------------------------------------------

class Lines:
    """The line (1-based) of every value in the file, by its path."""

    def __init__(self) -> None:
        self.by_path: dict[Path, int] = {}

    def of(self, path: Path) -> int | None:
        """The line of `path`, or of its nearest ancestor the file has (a missing key's
        object)."""
        path = tuple(path)
        while path:
            if path in self.by_path:
                return self.by_path[path]
            path = path[:-1]
        return self.by_path.get(())

    def error(self, path: Path, message: str) -> ConfigError:
        return ConfigError(path, message, self.of(path))


def read_yaml(text: str) -> tuple[Any, Lines]:
    """One YAML document as plain data (safe types only), with the line of each value."""
    lines = Lines()
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise ConfigError((), f"not valid YAML: {error.problem or error.context}",
                          mark.line + 1 if mark else None) from None
    except yaml.YAMLError as error:  # e.g. several documents in one file
        raise ConfigError((), f"not valid YAML: {error}") from None
    if node is None:
        raise ConfigError((), "the file is empty")
    constructor = yaml.SafeLoader("")

    def build(node, path: Path):
        lines.by_path[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            constructor.flatten_mapping(node)
            out: dict = {}
            for key_node, value_node in node.value:
                key = constructor.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int)):
                    raise ConfigError(path, f"a key must be a word, not {key!r}", key_node.start_mark.line + 1)
                if key in out:
                    raise ConfigError(path + (key,), "this key is given twice", key_node.start_mark.line + 1)
                out[key] = build(value_node, path + (key,))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [build(item, path + (i,)) for i, item in enumerate(node.value)]
        try:
            return constructor.construct_object(node, deep=True)
        except yaml.YAMLError as error:
            raise ConfigError(path, f"not a valid value: {error}", node.start_mark.line + 1) from None

    return build(node, ()), lines


class _Dumper(yaml.SafeDumper):
    """Text of several lines (a template's body) as a literal block, as it reads; the
    emitter falls back to quotes for text a block cannot hold (trailing spaces)."""


_Dumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))


def dump_yaml(data: dict) -> str:
    """The document as YAML, keys in the schema's order, block style, unicode kept."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


# --- value types ----------------------------------------------------------------------------

def _domain(check):
    """A pydantic validator from a service normaliser that raises DomainError."""
    def run(value):
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError("give text")
        try:
            return check(value)
        except DomainError as error:
            raise ValueError(error.message) from None
    return run


def _zone(value):
    if not isinstance(value, str) or not valid_time_zone(value):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/London)")
    return value


def _hhmm(value):
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 17:00 as the number 1020 (base 60).
        raise ValueError("write times of day in quotes, e.g. '17:00'")
    if not isinstance(value, str) or not _HHMM.match(value):
        raise ValueError("a time of day is 'HH:MM', e.g. '09:00'")
    return value


def _weekday(value):
    if value is None:
        return None
    if not isinstance(value, str) or value.lower()[:3] not in WEEKDAYS:
        raise ValueError(f"a weekday is one of {', '.join(WEEKDAYS)}")
    return value.lower()[:3]


Email = Annotated[str, BeforeValidator(_domain(normalise_email))]
Phone = Annotated[str | None, BeforeValidator(_domain(normalise_phone))]
Zone = Annotated[str, BeforeValidator(_zone)]
HHMM = Annotated[str, BeforeValidator(_hhmm)]
Weekday = Annotated[str, BeforeValidator(_weekday)]
Name = Annotated[str, Field(min_length=1, max_length=120)]
Severity = Literal[1, 2, 3, 4]
Minutes = Annotated[int, Field(ge=1, le=7 * 24 * 60)]


class Strict(BaseModel):
    # Text is compared as the services keep it: without spaces around it.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _unique(items, key, what: str):
    seen = set()
    for item in items:
        k = key(item)
        if k in seen:
            raise ValueError(f"{what} {k!r} is listed twice")
        seen.add(k)
    return items


# --- people -----------------------------------------------------------------------------------

def _address(channel: str, address: str) -> str | None:
    """An email address or phone number as the people pages store it, or ValueError
    naming the `address` field."""
    try:
        return normalise_email(address) if channel == "email" else normalise_phone(address)
    except DomainError as error:
        raise ValueError(f"address: {error.message}") from None


class ContactMethodDoc(Strict):
    channel: Literal["sms", "voice", "email"]
    address: str
    # An admin's word that the address is the person's (no code is sent); a verified
    # address stays verified whatever a file says later.
    verified: bool = True

    @model_validator(mode="after")
    def _normalise(self):
        self.address = _address(self.channel, self.address)
        if not self.address:
            raise ValueError("address: give the phone number")
        return self


class RuleDoc(Strict):
    channel: Literal["sms", "voice", "email"]
    address: str
    delay_minutes: int = Field(ge=0, le=120)

    @model_validator(mode="after")
    def _normalise(self):
        self.address = _address(self.channel, self.address)
        return self


class RulesDoc(Strict):
    """The person's own rules per urgency; an urgency left out follows the defaults
    (SMS at once, a call after 2 minutes, email after 5; low urgency email)."""

    high: list[RuleDoc] | None = Field(default=None, min_length=1, max_length=10)
    low: list[RuleDoc] | None = Field(default=None, min_length=1, max_length=10)


class HolidayDoc(Strict):
    first_day: date
    last_day: date
    note: str = ""

    @model_validator(mode="after")
    def _order(self):
        if self.last_day < self.first_day:
            raise ValueError("last_day is before first_day")
        return self


class PersonDoc(Strict):
    email: Email
    name: Name
    role: Literal["admin", "responder", "viewer"] = "responder"
    time_zone: Zone = "UTC"
    phone: Phone = None
    active: bool = True
    contact_methods: list[ContactMethodDoc] = []
    notification_rules: RulesDoc = RulesDoc()
    holidays: list[HolidayDoc] = []

    @field_validator("contact_methods")
    @classmethod
    def _methods(cls, items):
        return _unique(items, lambda m: f"{m.channel} {m.address}", "contact method")


# --- teams ------------------------------------------------------------------------------------

class TeamDoc(Strict):
    name: Name
    description: str = ""
    members: list[Email] = []
    managers: list[Email] = []

    @model_validator(mode="after")
    def _managers_are_members(self):
        _unique(self.members, lambda e: e, "member")
        for email in self.managers:
            if email not in self.members:
                raise ValueError(f"manager {email!r} is not among the members")
        return self


# --- schedules --------------------------------------------------------------------------------

class RestrictionDoc(Strict):
    days: list[Weekday] = Field(min_length=1)
    start: HHMM
    end: HHMM


class RotationDoc(Strict):
    participants: list[Email] = Field(min_length=1)
    shift_unit: Literal["hours", "days", "weeks"] = "weeks"
    shift_length: int = Field(default=1, ge=1, le=1000)
    handoff_time: HHMM = "09:00"
    handoff_weekday: Weekday | None = None
    restrictions: list[RestrictionDoc] = []
    # Where a new layer starts (a local date in the schedule's zone) and who takes its
    # first shift; an existing layer's rotation changes from its next handoff instead.
    start_date: date
    first_participant: Email | None = None

    @model_validator(mode="after")
    def _weekly(self):
        if self.shift_unit == "weeks" and self.handoff_weekday is None:
            raise ValueError("handoff_weekday: weekly shifts hand off on a weekday (mon … sun)")
        if self.shift_unit != "weeks":
            self.handoff_weekday = None
        if self.first_participant is None:
            self.first_participant = self.participants[0]
        elif self.first_participant not in self.participants:
            raise ValueError(f"first_participant {self.first_participant!r} is not a participant")
        return self


class LayerDoc(Strict):
    name: Name
    rotation: RotationDoc


class ScheduleDoc(Strict):
    name: Name
    description: str = ""
    time_zone: Zone = "UTC"
    team: str | None = None
    reminder_minutes: int = Field(default=60, ge=0, le=24 * 60)
    # The first layer listed wins over the ones below it.
    layers: list[LayerDoc] = []

    @field_validator("layers")
    @classmethod
    def _layers(cls, items):
        return _unique(items, lambda layer: layer.name.lower(), "layer")


# --- escalation -------------------------------------------------------------------------------

class TargetDoc(Strict):
    """Exactly one of `user` (an email), `schedule` or `team` (names)."""

    user: Email | None = None
    schedule: str | None = None
    team: str | None = None

    @model_validator(mode="after")
    def _one(self):
        if sum(v is not None for v in (self.user, self.schedule, self.team)) != 1:
            raise ValueError("a target names exactly one of user, schedule or team")
        return self

    @model_serializer(mode="wrap")
    def _only_the_one(self, handler):
        return {k: v for k, v in handler(self).items() if v is not None}

    @property
    def kind(self) -> str:
        return "user" if self.user else "schedule" if self.schedule else "team"

    @property
    def ref(self) -> str:
        return self.user or self.schedule or self.team


class StepDoc(Strict):
    delay_minutes: int = Field(ge=1, le=24 * 60)
    mode: Literal["all", "round_robin"] = "all"
    targets: list[TargetDoc] = Field(min_length=1)


class PolicyDoc(Strict):
    name: Name
    description: str = ""
    team: str | None = None
    repeat: int = Field(default=0, ge=0, le=9)
    steps: list[StepDoc] = []


# --- services ---------------------------------------------------------------------------------

class KeyDoc(Strict):
    """An integration key, by its name: the key itself is a secret, never written.
    A new one is made on apply and shown on the service's page."""

    name: Name
    kind: Literal["events_api_v2"] = "events_api_v2"


class SeverityMappingDoc(Strict):
    critical: Severity | None = 2
    error: Severity | None = 3
    warning: Severity | None = 4
    info: Severity | None = None


class MatrixDoc(Strict):
    unavailable: Severity | None = None
    degraded: Severity | None = None
    bug: Severity | None = None


class ServiceDoc(Strict):
    name: Name
    description: str = ""
    team: str | None = None
    active: bool = True
    escalation_policy: str | None = None
    fallback_team: str | None = None
    alert_grouping: Literal["per_alert", "grouped"] = "per_alert"
    resolve_with_alerts: bool = True
    ack_timeout_minutes: Minutes | None = 30
    auto_resolve_minutes: Minutes | None = None
    severity_mapping: SeverityMappingDoc = SeverityMappingDoc()
    severity_matrix: MatrixDoc = MatrixDoc()
    integration_keys: list[KeyDoc] = []


# --- severities -------------------------------------------------------------------------------

class TriggerDoc(Strict):
    """Paged beside the policy for every incident of the level: a user, a schedule, a
    team, or `managers: true` (the managers of the service's team)."""

    # As the incident opens (or is raised to the level), or on a breach of its
    # response objective. (Not `on:`, which YAML 1.1 reads as true.)
    when: Literal["open", "breach"] = "open"
    user: Email | None = None
    schedule: str | None = None
    team: str | None = None
    managers: bool = False

    @model_validator(mode="after")
    def _one(self):
        if sum(v is not None for v in (self.user, self.schedule, self.team)) + bool(self.managers) != 1:
            raise ValueError("a trigger names exactly one of user, schedule, team or managers: true")
        return self

    @model_serializer(mode="wrap")
    def _only_the_one(self, handler):
        return {k: v for k, v in handler(self).items() if v is not None and (k != "managers" or v)}

    @property
    def kind(self) -> str:
        return "managers" if self.managers else "user" if self.user else "schedule" if self.schedule else "team"

    @property
    def ref(self) -> str | None:
        return self.user or self.schedule or self.team


class SeverityLevelDoc(Strict):
    level: Severity
    label: Annotated[str, Field(min_length=1, max_length=40)]
    definition: str = ""
    impact_criteria: str = ""
    examples: str = ""
    response_minutes: int = Field(ge=1, le=60 * 24 * 30)
    resolution_minutes: int = Field(ge=1, le=60 * 24 * 30)
    update_cadence_minutes: int | None = Field(default=None, ge=5, le=60 * 24)
    postmortem: Literal["required", "lightweight", "optional"] = "optional"
    urgency: Literal["high", "low"] = "high"
    owner: Email | None = None
    triggers: list[TriggerDoc] = []


# --- communications and the status page ---------------------------------------------------------

class TemplateDoc(Strict):
    """A communication template an admin saved: an edit of a shipped one (its key) or
    their own (`custom_…`). Shipped templates nobody edited are not listed."""

    key: Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[a-z0-9_]+$")]
    name: Name
    audience: str
    description: str = ""
    subject: str = ""
    body: Annotated[str, Field(min_length=1)]
    active: bool = True

    @model_validator(mode="after")
    def _as_stored(self):
        """As the template library keeps it: a name's spaces folded, text trimmed."""
        self.name = " ".join(self.name.split())
        self.description, self.subject, self.body = self.description.strip(), self.subject.strip(), self.body.strip()
        return self


class StakeholderMemberDoc(Strict):
    """A person of ours (`user`: their own addresses are used), or an outside name with
    an email address and/or a phone number."""

    user: Email | None = None
    name: str = ""
    email: Email | None = None
    phone: Phone = None

    @model_validator(mode="after")
    def _one(self):
        if self.user is not None and (self.name or self.email or self.phone):
            raise ValueError("a member is a person (user) or an outside name with an email or phone, not both")
        if self.user is None and not (self.email or self.phone):
            raise ValueError("give user, or an email or phone for someone outside")
        return self

    @model_serializer(mode="wrap")
    def _only_what_is_set(self, handler):
        return {k: v for k, v in handler(self).items() if v not in (None, "")}


def member_key(m) -> tuple:
    """How members are ordered and matched: our people by email, then outside ones."""
    if isinstance(m, dict):
        return (m.get("user") is None, m.get("user") or "", m.get("name", ""), m.get("email") or "",
                m.get("phone") or "")
    return (m.user is None, m.user or "", m.name, m.email or "", m.phone or "")


class StakeholderListDoc(Strict):
    name: Name
    description: str = ""
    external: bool = False
    send_sms: bool = False
    severities: list[Severity] = []
    services: list[str] = []
    members: list[StakeholderMemberDoc] = []

    @model_validator(mode="after")
    def _sorted(self):
        self.severities = sorted(set(self.severities))
        _unique(self.members, member_key, "member")
        return self


class PageDoc(Strict):
    """The public page's name and look (its logo is not configuration as text)."""

    name: Name = "Firebreak"
    time_zone: Zone = "UTC"
    brand_color: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")] = "#1f4e8c"
    about: str = ""
    support_url: str = ""


class GroupDoc(Strict):
    name: Name
    description: str = ""
    position: int = 0


class ComponentDoc(Strict):
    name: Name
    description: str = ""
    group: str | None = None
    position: int = 0
    services: list[str] = []
    only_show_if_degraded: bool = False
    showcase: bool = True
    start_date: date | None = None


class StatusPageDoc(Strict):
    # Left out: the page's settings stay as they are.
    page: PageDoc | None = None
    groups: list[GroupDoc] = []
    components: list[ComponentDoc] = []


class EnvRef(Strict):
    """A secret read from the environment when the file is applied."""

    env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class WebhookDoc(Strict):
    name: Name
    kind: Literal["slack", "teams", "generic"]
    # A Slack or Teams webhook URL is itself a credential: give either.
    url: EnvRef | str
    secret: EnvRef | None = None
    active: bool = True


class Document(Strict):
    firebreak_config: Literal[1] = FORMAT
    people: list[PersonDoc] = []
    teams: list[TeamDoc] = []
    schedules: list[ScheduleDoc] = []
    escalation_policies: list[PolicyDoc] = []
    services: list[ServiceDoc] = []
    severity_levels: list[SeverityLevelDoc] = []
    communication_templates: list[TemplateDoc] = []
    stakeholder_lists: list[StakeholderListDoc] = []
    status_page: StatusPageDoc = StatusPageDoc()
    webhooks: list[WebhookDoc] = []

    @model_validator(mode="after")
    def _unique_names(self):
        for field, key in (("people", lambda p: p.email), ("teams", lambda t: t.name.lower()),
                           ("schedules", lambda s: s.name.lower()), ("escalation_policies", lambda p: p.name.lower()),
                           ("services", lambda s: s.name.lower()), ("severity_levels", lambda s: s.level),
                           ("communication_templates", lambda t: t.key),
                           ("stakeholder_lists", lambda t: t.name.lower()), ("webhooks", lambda w: w.name)):
            _unique(getattr(self, field), key, field.replace("_", " ").rstrip("s"))
        _unique(self.status_page.groups, lambda g: g.name.lower(), "group")
        _unique(self.status_page.components, lambda c: c.name.lower(), "component")
        return self


def parse(text: str) -> tuple[Document, Lines]:
    """The document in `text`, validated against the schema; ConfigError naming the
    first problem's path and line."""
    data, lines = read_yaml(text)
    if not isinstance(data, dict):
        raise lines.error((), "the document is a mapping of sections (people:, teams:, …)")
    try:
        return Document.model_validate(data), lines
    except ValidationError as error:
        first = error.errors()[0]
        path = tuple(first["loc"])
        # A union's branch (str, EnvRef, function-after[…]) is pydantic's word, not the file's.
        path = tuple(p for p in path if not (isinstance(p, str) and (p in ("str", "EnvRef") or "[" in p)))
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "missing":
            message = "this is required"
        elif first["type"] == "extra_forbidden":
            message = "unknown key"
        raise lines.error(path, message) from None


def resolve_env(ref: EnvRef | str | None, path: Path, lines: Lines) -> str | None:
    """The value of a secret reference, from the environment; plain text as it is."""
    if ref is None or isinstance(ref, str):
        return ref
    value = os.environ.get(ref.env)
    if not value:
        raise lines.error(path, f"the environment has no {ref.env} (the secret this names)")
    return value
