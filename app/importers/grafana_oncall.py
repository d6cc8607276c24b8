"""`flask --app wsgi import grafana-oncall --url URL --token T [--dry-run]`: Grafana
OnCall's configuration, read through its public API (/api/v1/), made into Firebreak's.

`--url` is the OnCall API URL its Settings page shows (each Grafana stack has its
own; `/api/v1` after it may be left out). Everything is read first (`read`): with
OnCall's header (`Authorization: <token>`, the bare token), following each list's
`next` link until it is null (page-number pagination, 100 or 50 a page), and with its
rate limits (a 429 is waited out as Retry-After says, in app.importers.core). An iCal
schedule's calendars are fetched from where they live, without the OnCall token.
Nothing is written if reading fails. Then `Import.apply` makes or updates, through
the service functions the pages use (every rule applies, every change is audited by
the actor "import from Grafana OnCall"), in this order:

- teams, then people (by vendor id, else by email address: someone already in
  Firebreak is adopted, their role kept), made without a password: they get in by a
  password reset, an invitation or single sign-on. OnCall's API gives a username, an
  email address and a time zone, not a full name or a phone number: the username is
  the name, the email address becomes a verified email contact method (OnCall already
  emails it), and the default personal notification rules' email steps become the
  person's high-urgency rules (waits add up to the delay);
- schedules: each rotation (rolling_users, recurrent_event) becomes a layer, higher
  `level` on top, its frequency and interval the shift length, its start the local
  hand-off, `by_day` and a `duration` shorter than the period the restrictions;
  overrides (and single events) from now on become overrides. A `calendar` (Terraform)
  schedule's shifts are in its time zone; a `web` schedule's rotations have none and
  OnCall keeps them in UTC, so the schedule is made in UTC to hand off when OnCall
  does. An iCal schedule's calendar events of the next eight weeks become overrides;
- escalation chains as policies: each notify step becomes a step, the waits after it
  its delay, `repeat_escalation` five repeats (OnCall's limit);
- integrations as services, with the default route's chain as the policy, a new
  integration key each, and a maintenance window while OnCall has one in
  maintenance. The report says, for each, the Firebreak URL and key to point it at.

Running again updates in place (app.importers.core.Ledger), and takes out of each
schedule the layers and coming overrides whose rotation, override or calendar event
OnCall no longer has. What could only be mapped approximately, or not at all, is said
in the report with the reason.
"""
from __future__ import annotations

import time as _time
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import click
import icalendar
import recurring_ical_events
import requests
import sqlalchemy as sa

from app import clock
from app.audit.service import Actor
from app.auth import service as people
from app.auth.models import Role, Team, TeamMembership, User
from app.escalation import policies as escalation
from app.escalation.models import EscalationPolicy
from app.extensions import db
from app.importers import core
from app.importers.cli import finish, import_group
from app.importers.models import ImportedObject
from app.links import external_url
from app.notify import contacts
from app.notify.models import Channel, ContactMethod, NotificationRule
from app.oncall import compute
from app.oncall import service as oncall
from app.oncall.models import Override, Schedule, ScheduleLayer, ShiftUnit
from app.services import maintenance
from app.services import service as services
from app.services.models import IntegrationKey, MaintenanceWindow, Service

VENDOR = "Grafana OnCall"
LEDGER = "grafana-oncall"
ACTOR = Actor.system("import from Grafana OnCall")
ICAL_HORIZON = timedelta(weeks=8)      # an iCal schedule's events this far ahead become overrides
REPEATS = 5                            # OnCall's repeat_escalation step repeats the chain up to 5 times
LISTS = ("teams", "users", "personal_notification_rules", "schedules", "on_call_shifts", "escalation_chains",
         "escalation_policies", "integrations")

ROLES = {"admin": Role.ADMIN, "editor": Role.RESPONDER, "user": Role.RESPONDER,
         "viewer": Role.VIEWER, "observer": Role.VIEWER, "none": Role.VIEWER}
WEEKDAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
UNITS = {"hourly": (ShiftUnit.HOURS, 1), "daily": (ShiftUnit.DAYS, 1), "weekly": (ShiftUnit.WEEKS, 1),
         "monthly": (ShiftUnit.WEEKS, 4)}
STEP_UNITS = {ShiftUnit.HOURS: timedelta(hours=1), ShiftUnit.DAYS: timedelta(days=1),
              ShiftUnit.WEEKS: timedelta(weeks=1)}
NOT_MAPPED_STEPS = {
    "resolve": "Firebreak never resolves an incident by itself from a policy",
    "notify_whole_channel": "Slack channels are not paged by policies in Firebreak (chat routes post incidents)",
    "notify_user_group": "Slack user groups are not Firebreak targets: page a team or a schedule instead",
    "trigger_webhook": "outgoing webhooks are not policy steps in Firebreak (see docs/webhooks.md)",
    "notify_if_time_from_to": "Firebreak policies have no time-of-day conditions",
    "notify_if_num_alerts_in_window": "Firebreak policies have no alert-count conditions",
    "declare_incident": "every page in Firebreak is already an incident",
}
CHANNEL_NAMES = {"notify_by_sms": "SMS", "notify_by_phone_call": "phone call", "notify_by_slack": "Slack",
                 "notify_by_telegram": "Telegram", "notify_by_mobile_app": "the mobile app",
                 "notify_by_mobile_app_critical": "the mobile app (critical)", "notify_by_msteams": "MS Teams"}


@import_group.command("grafana-oncall")
@click.option("--url", required=True, help="The OnCall API URL from OnCall's Settings page.")
@click.option("--token", required=True, help="An OnCall API token (its owner needs read access).")
@click.option("--dry-run", is_flag=True, help="Show what would be done; write nothing.")
def grafana_oncall_command(url: str, token: str, dry_run: bool) -> None:
    """Bring in Grafana OnCall's people, teams, schedules, escalation chains and integrations."""
    finish(lambda: import_grafana_oncall(url, token, dry_run=dry_run))


def import_grafana_oncall(url: str, token: str, *, dry_run: bool = False, sleep=_time.sleep) -> core.Report:
    now = clock.now()
    data = read(OnCallApi(url, token, sleep=sleep), now)
    return core.run(VENDOR, lambda report: Import(report, now).apply(data), dry_run=dry_run)


# --- reading -------------------------------------------------------------------------------

class OnCallApi:
    """OnCall's public API: lists followed page by page through `next`."""

    def __init__(self, url: str, token: str, *, sleep=_time.sleep):
        base = (url or "").strip().rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise core.ImportFailed("--url is the OnCall API URL from OnCall's Settings page, "
                                    "starting with https://.")
        if base.endswith("/api/v1"):
            base = base[:-len("/api/v1")]
        self.client = core.VendorClient(f"{base}/api/v1", {"Authorization": token.strip()}, vendor=VENDOR,
                                        sleep=sleep)

    def all(self, name: str) -> list[dict]:
        found, url, seen = [], f"{name}/", set()
        while url:
            if url in seen:
                raise core.ImportFailed(f"{VENDOR} gave the same page of {name} twice ({url}).")
            seen.add(url)
            page = self.client.get(url)
            if not isinstance(page, dict) or not isinstance(page.get("results"), list):
                raise core.ImportFailed(f"{VENDOR} answered {name} without a list of results.")
            found.extend(page["results"])
            url = page.get("next")
        return found

    def calendar(self, url: str) -> icalendar.Calendar:
        """An iCal schedule's calendar, from wherever it lives (never sent the OnCall token)."""
        try:
            answer = requests.get(url, timeout=self.client.timeout, headers={"User-Agent": core.USER_AGENT})
            answer.raise_for_status()
            return icalendar.Calendar.from_ical(answer.content)
        except requests.RequestException as error:
            raise core.ImportFailed(f"The iCal calendar {url} could not be read: {error}") from None
        except ValueError as error:
            raise core.ImportFailed(f"The iCal calendar {url} is not iCalendar: {error}") from None


def read(api: OnCallApi, now: datetime) -> dict:
    data = {name: api.all(name) for name in LISTS}
    data["calendars"] = {}
    for schedule in data["schedules"]:
        for field in ("ical_url_primary", "ical_url_overrides"):
            url = schedule.get(field)
            if url and url not in data["calendars"]:
                data["calendars"][url] = api.calendar(url)
    return data


# --- writing ------------------------------------------------------------------------------

def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    return _utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


class Import:
    def __init__(self, report: core.Report, now: datetime):
        self.report, self.now = report, now
        self.ledger = core.Ledger(LEDGER)
        self.teams: dict[str, Team] = {}
        self.users: dict[str, User] = {}
        self.user_keys: dict[str, str] = {}       # username / email (lower case) → vendor id
        self.schedules: dict[str, Schedule] = {}
        self.policies: dict[str, EscalationPolicy] = {}
        self.seen: set[str] = set()               # layers' and overrides' vendor keys met in this run

    def apply(self, data: dict) -> None:
        for team in data["teams"]:
            self.team(team)
        rules = defaultdict(list)
        for rule in data["personal_notification_rules"]:
            rules[rule.get("user_id")].append(rule)
        for user in data["users"]:
            self.user(user, rules[user["id"]])
        self.report.approximate.append(
            "people: named by their OnCall username (OnCall's API gives no full name); made without a password: "
            "they get in through a password reset, an invitation or single sign-on")
        shifts = {shift["id"]: shift for shift in data["on_call_shifts"]}
        for schedule in data["schedules"]:
            self.schedule(schedule, shifts, data["calendars"])
        steps = defaultdict(list)
        for step in data["escalation_policies"]:
            steps[step.get("escalation_chain_id")].append(step)
        for chain in data["escalation_chains"]:
            self.chain(chain, sorted(steps[chain["id"]], key=lambda s: s.get("position", 0)))
        for integration in data["integrations"]:
            self.integration(integration)

    def _find(self, kind: str, vendor_id: str, model, by_name=None):
        """The row made last time, else one already in Firebreak with that name (adopted)."""
        row = self.ledger.find(kind, vendor_id, model)
        if row is None and by_name is not None:
            row = db.session.scalar(sa.select(model).where(sa.func.lower(model.name) == by_name.lower()))
            if row is not None:
                self.report.updated.append(f"{kind} {row.name}: already in Firebreak, matched by name")
        return row

    # --- teams and people ------------------------------------------------------------------

    def team(self, data: dict) -> None:
        name = (data.get("name") or "").strip() or f"OnCall team {data['id']}"
        row = self._find("team", data["id"], Team, name)
        if row is None:
            row = people.create_team(ACTOR, name=name, description="Imported from Grafana OnCall")
            self.report.created.append(f"team {name}")
        elif row.name != name:
            old = row.name
            people.update_team(ACTOR, row, name=name, description=row.description)
            self.report.updated.append(f"team {old} → {name}")
        else:
            self.report.unchanged.append(f"team {name}")
        self.ledger.remember("team", data["id"], row)
        self.teams[data["id"]] = row

    def user(self, data: dict, rules: list[dict]) -> None:
        email = people.normalise_email(data.get("email") or "")
        name = (data.get("username") or "").strip() or email.split("@")[0]
        zone = data.get("timezone") if people.valid_time_zone(data.get("timezone") or "") else "UTC"
        row = self.ledger.find("user", data["id"], User)
        if row is None:
            row = people.find_user_by_email(email)
            if row is not None:
                self.report.updated.append(f"person {row.name} <{email}>: already in Firebreak, matched by email "
                                           "(role kept)")
        if row is None:
            role = ROLES.get((data.get("role") or "").lower(), Role.VIEWER)
            row = people.create_user(ACTOR, email=email, name=name, role=role, time_zone=zone)
            self.report.created.append(f"person {name} <{email}> ({role.value})")
        else:
            fields = {key: value for key, value in (("name", name), ("email", email), ("time_zone", zone))
                      if getattr(row, key) != value}
            if fields:
                people.update_user(ACTOR, row, **fields)
                self.report.updated.append(f"person {row.name} <{row.email}>: {', '.join(sorted(fields))}")
            else:
                self.report.unchanged.append(f"person {row.name}")
        self.ledger.remember("user", data["id"], row)
        self.users[data["id"]] = row
        for key in (data.get("username"), data.get("email")):
            if key:
                self.user_keys[key.strip().lower()] = data["id"]
        for team_id in data.get("teams") or ():
            team = self.teams.get(team_id)
            if team is not None and not db.session.scalar(sa.select(TeamMembership.id).where(
                    TeamMembership.team_id == team.id, TeamMembership.user_id == row.id)):
                people.add_member(ACTOR, team, row)
                self.report.created.append(f"{row.name} in team {team.name}")
        self.contact(data, row, rules)

    def contact(self, data: dict, user: User, rules: list[dict]) -> None:
        method = db.session.scalar(sa.select(ContactMethod).where(
            ContactMethod.user_id == user.id, ContactMethod.channel == Channel.EMAIL,
            ContactMethod.address == user.email, ContactMethod.active.is_(True)))
        if method is None:
            method = contacts.add_method(ACTOR, user, Channel.EMAIL, user.email, self.now,
                                         label="From Grafana OnCall", verified=True)
            self.report.created.append(f"email {user.email} for {user.name} (verified: OnCall already emails it)")
        if data.get("is_phone_number_verified"):
            self.report.unmapped.append(
                f"{user.name}'s phone number: OnCall's API does not give it; they add it on their profile "
                "(Firebreak then pages them by SMS and voice call)")
        steps, delay, missing = [], 0, []
        for rule in sorted((r for r in rules if not r.get("important")), key=lambda r: r.get("position", 0)):
            kind = rule.get("type")
            if kind == "wait":
                delay += int(rule.get("duration") or 0) // 60
            elif kind == "notify_by_email":
                steps.append((method.id, min(delay, contacts.MAX_DELAY)))
            else:
                missing.append(CHANNEL_NAMES.get(kind, kind))
        if missing:
            self.report.unmapped.append(
                f"{user.name}'s notification rules by {', '.join(dict.fromkeys(missing))}: Firebreak pages by "
                "SMS, voice call and email")
        if any(r.get("important") for r in rules):
            self.report.approximate.append(
                f"{user.name}'s important-notification rules: Firebreak has one set of rules per urgency; the "
                "default rules became the high-urgency ones")
        if steps:
            have = [(r.contact_method_id, r.delay_minutes) for r in db.session.scalars(
                sa.select(NotificationRule).where(NotificationRule.user_id == user.id,
                                                  NotificationRule.urgency == "high")
                .order_by(NotificationRule.delay_minutes, NotificationRule.id))]
            if have != sorted(steps, key=lambda s: s[1]):
                contacts.set_rules(ACTOR, user, "high", steps)
                made = self.report.created if f"email {user.email} for {user.name}" in " ".join(
                    self.report.created) else self.report.updated
                made.append(f"{user.name}'s high-urgency rules: email after "
                            + ", ".join(f"{d} min" for _, d in steps))

    # --- schedules -------------------------------------------------------------------------

    @staticmethod
    def shift_zone(schedule: dict, shift: dict) -> str:
        """The zone a shift's `start` is in: its own, else the schedule's for a calendar
        (Terraform) schedule, else UTC (web and iCal schedules, as OnCall computes them)."""
        own = shift.get("time_zone")
        if own:
            return own
        if schedule.get("type") == "calendar":
            return schedule.get("time_zone") or "UTC"
        return "UTC"

    def schedule(self, data: dict, shifts: dict[str, dict], calendars: dict) -> None:
        name = (data.get("name") or "").strip() or f"OnCall schedule {data['id']}"
        mine = [shifts[i] for i in data.get("shifts") or () if i in shifts]
        mine += [s for s in shifts.values() if s.get("schedule") == data["id"] and s not in mine]
        rotations = [s for s in mine if s.get("type") in ("rolling_users", "recurrent_event") and s.get("frequency")]
        zones = {self.shift_zone(data, s) for s in rotations}
        shown = data.get("time_zone") or "UTC"
        zone = zones.pop() if len(zones) == 1 else shown
        if not people.valid_time_zone(zone):
            zone = "UTC"
        if rotations and zone != shown:
            self.report.approximate.append(
                f"schedule {name}: made in {zone}, not {shown}: its rotations hand off at fixed {zone} times in "
                f"OnCall ({data.get('type')} schedule rotations without a time zone of their own), so they keep "
                f"doing so across {shown}'s daylight-saving changes")
        elif zones:
            self.report.approximate.append(
                f"schedule {name}: its rotations are in several time zones; made in {zone}, each rotation's "
                "start converted to it (hand-offs then follow its daylight-saving changes)")
        team = self.teams.get(data.get("team_id"))
        description = f"Imported from Grafana OnCall ({data.get('type')} schedule)"
        row = self._find("schedule", data["id"], Schedule, name)
        if row is None:
            row = oncall.create_schedule(ACTOR, name=name, time_zone=zone, now=self.now, description=description,
                                         team_id=team.id if team else None)
            self.report.created.append(f"schedule {name} ({zone})")
        else:
            wanted = {"name": name, "time_zone": zone, "team_id": team.id if team else None}
            changed = sorted(k for k, v in wanted.items() if getattr(row, k) != v)
            if changed:
                oncall.update_schedule(ACTOR, row, now=self.now, **wanted)
                self.report.updated.append(f"schedule {name}: {', '.join(changed)}")
            else:
                self.report.unchanged.append(f"schedule {name}")
        self.ledger.remember("schedule", data["id"], row)
        self.schedules[data["id"]] = row
        ordered = [self.layer(row, data, shift, zone)
                   for shift in sorted(rotations, key=lambda s: (s.get("level") or 0, s["id"]))]
        for shift in mine:
            kind = shift.get("type")
            if kind in ("override", "single_event") or (kind in ("rolling_users", "recurrent_event")
                                                        and not shift.get("frequency")):
                self.single(row, data, shift, kind)
        for field in ("ical_url_primary", "ical_url_overrides"):
            if data.get(field):
                self.calendar(row, data, calendars[data[field]], field)
        self.forget_removed(row)
        self.stack(row, [layer for layer in ordered if layer is not None])

    def stack(self, row: Schedule, wanted: list[ScheduleLayer]) -> None:
        """Layers ordered as OnCall's levels order them (lowest first), moving one
        layer at a time as the schedule page would; a schedule with layers of its own
        besides the imported ones is left as it is."""
        if {layer.id for layer in row.layers} != {layer.id for layer in wanted}:
            return
        moved = False
        for _ in range(len(wanted) ** 2):
            order = sorted(row.layers, key=lambda layer: layer.position)
            wrong = next((i for i in range(len(order) - 1)
                          if wanted.index(order[i]) > wanted.index(order[i + 1])), None)
            if wrong is None:
                break
            oncall.move_layer(ACTOR, order[wrong], up=True, now=self.now)
            moved = True
        if moved:
            self.report.updated.append(f"schedule {row.name}: layers reordered by OnCall's levels")

    def forget_removed(self, row: Schedule) -> None:
        """Layers and coming overrides imported into `row` before whose rotation, shift
        or calendar event OnCall no longer has: removed here too (an override under way
        ends now)."""
        links = db.session.scalars(sa.select(ImportedObject).where(
            ImportedObject.vendor == LEDGER, ImportedObject.kind.in_(("layer", "override")))).all()
        for link in links:
            if link.vendor_id in self.seen:
                continue
            if link.kind == "layer":
                layer = db.session.get(ScheduleLayer, link.object_id)
                if layer is not None and layer.schedule_id == row.id:
                    self.report.updated.append(f"layer {layer.name} of {row.name}: removed, as in OnCall")
                    oncall.remove_layer(ACTOR, layer, self.now)
            else:
                override = db.session.get(Override, link.object_id)
                if override is not None and override.schedule_id == row.id and _utc(override.ends_at) > self.now:
                    outcome = oncall.remove_override(ACTOR, override, self.now)
                    self.report.updated.append(f"override of {override.user.name} on {row.name} from "
                                               f"{_utc(override.starts_at):%Y-%m-%d %H:%M} UTC: {outcome}, as "
                                               "in OnCall")

    def _people(self, ids, what: str) -> list[int]:
        found = []
        for vendor_id in ids or ():
            user = self.users.get(vendor_id)
            if user is None:
                self.report.unmapped.append(f"{what}: OnCall user {vendor_id} is not among OnCall's users")
            elif user.id not in found:
                found.append(user.id)
        return found

    def rotation(self, schedule: dict, shift: dict, zone: str) -> tuple[dict, date] | None:
        """A Firebreak rotation (add_layer's fields) and its start date for an OnCall
        rotation, noting in the report where it can only be approximate."""
        what = f"rotation {shift.get('name')} of {schedule.get('name')}"
        note = self.report.approximate.append
        start = datetime.fromisoformat(shift["start"]).replace(tzinfo=None)
        own = self.shift_zone(schedule, shift)
        if own != zone:
            start = compute.to_local(compute.to_utc(start, ZoneInfo(own)), ZoneInfo(zone))
        unit, factor = UNITS.get(shift.get("frequency"), (ShiftUnit.WEEKS, 1))
        if shift.get("frequency") == "monthly":
            note(f"{what}: monthly, made every 4 weeks (Firebreak shifts are hours, days or weeks)")
        length = int(shift.get("interval") or 1) * factor
        if length > oncall.MAX_LENGTH[unit]:
            note(f"{what}: every {length} {unit.value} shortened to {oncall.MAX_LENGTH[unit]}, Firebreak's longest")
            length = oncall.MAX_LENGTH[unit]
        period = STEP_UNITS[unit] * length
        duration = timedelta(seconds=int(shift.get("duration") or 0))
        by_day = sorted({WEEKDAYS[d] for d in shift.get("by_day") or () if d in WEEKDAYS})
        restrictions = []
        if duration < period or by_day:
            if unit == ShiftUnit.HOURS or duration > timedelta(days=1) or duration <= timedelta(0):
                note(f"{what}: on call {duration} of every {period}; Firebreak's restrictions are windows of at "
                     "most a day, so the whole period was imported")
            else:
                days = by_day or ([start.weekday()] if unit == ShiftUnit.WEEKS else list(range(7)))
                restrictions = [{"days": days, "start": f"{start:%H:%M}", "end": f"{start + duration:%H:%M}"}]
        if shift.get("frequency") == "daily" and by_day:
            note(f"{what}: OnCall hands over on each of its days ({', '.join(shift['by_day'])}), Firebreak every "
                 f"{length} day(s), the other days outside the restriction")
        if shift.get("by_month") or shift.get("by_monthday"):
            note(f"{what}: its months and days of the month were left out (Firebreak restricts by weekday)")
        if shift.get("until"):
            note(f"{what}: it ends {shift['until']} in OnCall; in Firebreak it goes on (remove the layer then)")
        if shift.get("rotation_start") and shift["rotation_start"] > shift["start"]:
            note(f"{what}: OnCall starts it at {shift['rotation_start']}, Firebreak at {shift['start']}")
        if shift.get("type") == "rolling_users":
            groups = [g for g in shift.get("rolling_users") or () if g]
            if any(len(g) > 1 for g in groups):
                note(f"{what}: OnCall puts a group on call per turn, Firebreak one person: the first of each group")
            participants = self._people([g[0] for g in groups], what)
            first = int(shift.get("start_rotation_from_user_index") or 0)
            if participants and first:
                first %= len(participants)
                participants = participants[first:] + participants[:first]
            if len(participants) < len(groups):
                note(f"{what}: someone takes several turns in OnCall; Firebreak has each person once in a rotation")
        else:
            users = shift.get("users") or []
            if len(users) > 1:
                note(f"{what}: OnCall puts {len(users)} people on call together, Firebreak one per layer: the first")
            participants = self._people(users[:1], what)
        if not participants:
            self.report.unmapped.append(f"{what}: nobody in it, nothing to import")
            return None
        return ({"participant_ids": participants, "shift_unit": unit, "shift_length": length,
                 "handoff_time": time(start.hour, start.minute),
                 "handoff_weekday": start.weekday() if unit == ShiftUnit.WEEKS else None,
                 "restrictions": restrictions}, start.date())

    def layer(self, row: Schedule, schedule: dict, shift: dict, zone: str) -> ScheduleLayer | None:
        found = self.rotation(schedule, shift, zone)
        if found is None:
            return None
        fields, start_date = found
        layer = self.ledger.find("layer", shift["id"], ScheduleLayer)
        if layer is not None and layer.schedule_id != row.id:
            layer = None
        name = (shift.get("name") or "").strip() or f"Rotation {shift['id']}"
        if any(other.name.lower() == name.lower() and other is not layer for other in row.layers):
            name = f"{name} ({shift['id']})"
        if layer is None:
            oncall.add_layer(ACTOR, row, name=name, start_date=start_date, now=self.now, **fields)
            layer = next(other for other in row.layers if other.name == name)
            self.report.created.append(f"layer {name} of {row.name}")
        else:
            old = layer.name
            latest = layer.versions[-1] if layer.versions else None
            if latest is not None and all(getattr(latest, key) == value for key, value in fields.items()):
                fields = {}  # already so, or already coming at the next hand-off (a version pending)
            version = oncall.change_layer(ACTOR, layer, now=self.now, name=name, **fields)
            if version is not None or old != name:
                self.report.updated.append(f"layer {name} of {row.name}"
                                           + (f" (was {old})" if old != name else "")
                                           + (f", rotation changed from {version.start_local:%Y-%m-%d %H:%M}"
                                              if version is not None else ""))
            else:
                self.report.unchanged.append(f"layer {name} of {row.name}")
        self.ledger.remember("layer", shift["id"], layer)
        self.seen.add(shift["id"])
        return layer

    def single(self, row: Schedule, schedule: dict, shift: dict, kind: str) -> None:
        zone = ZoneInfo(self.shift_zone(schedule, shift))
        starts_at = compute.to_utc(datetime.fromisoformat(shift["start"]).replace(tzinfo=None), zone)
        ends_at = starts_at + timedelta(seconds=int(shift.get("duration") or 0))
        users = shift.get("users") or [u for group in shift.get("rolling_users") or () for u in group]
        what = f"{kind.replace('_', ' ')} {shift.get('name')} of {row.name}"
        if kind != "override":
            self.report.approximate.append(f"{what}: a one-off shift, made an override (it wins over every layer, "
                                           f"not only those below level {shift.get('level') or 0})")
        if len(users) > 1:
            self.report.approximate.append(f"{what}: {len(users)} people in OnCall, the first in Firebreak")
        people_ids = self._people(users[:1], what)
        if people_ids:
            self.override(row, f"{shift['id']}", people_ids[0], starts_at, ends_at, what)

    def calendar(self, row: Schedule, schedule: dict, calendar: icalendar.Calendar, field: str) -> None:
        horizon = self.now + ICAL_HORIZON
        zone = ZoneInfo(row.time_zone)
        kind = "calendar" if field == "ical_url_primary" else "overrides calendar"
        self.report.approximate.append(
            f"schedule {row.name}: its iCal {kind}'s shifts until {horizon:%Y-%m-%d} became overrides "
            "(Firebreak does not follow a calendar: run the import again for later ones, or make rotation layers)")
        for event in recurring_ical_events.of(calendar).between(self.now, horizon):
            start, end = event["DTSTART"].dt, event["DTEND"].dt if "DTEND" in event else None
            if not isinstance(start, datetime):
                start = datetime.combine(start, time(0))
                end = datetime.combine(end, time(0)) if end is not None else start + timedelta(days=1)
            if end is None:
                continue
            starts_at = _utc(start) if start.tzinfo else compute.to_utc(start, zone)
            ends_at = _utc(end) if end.tzinfo else compute.to_utc(end, zone)
            summary = str(event.get("SUMMARY") or "")
            words = [w.strip("[](),;").lower() for w in summary.split()]
            vendor_ids = [self.user_keys[w] for w in words if w in self.user_keys]
            what = f"iCal event {summary!r} of {row.name} at {starts_at:%Y-%m-%d %H:%M} UTC"
            if not vendor_ids:
                self.report.unmapped.append(f"{what}: names no OnCall user (by username or email)")
                continue
            key = f"{schedule['id']}:{event.get('UID')}:{starts_at.isoformat()}"
            self.override(row, key, self.users[vendor_ids[0]].id, starts_at, ends_at, what)

    def override(self, row: Schedule, key: str, user_id: int, starts_at: datetime, ends_at: datetime,
                 what: str) -> None:
        self.seen.add(key)
        if ends_at <= self.now:
            return  # over: the record of who was on call stays OnCall's
        existing = self.ledger.find("override", key, Override)
        if existing is not None and existing.schedule_id == row.id:
            kept_start = max(starts_at, _utc(existing.created_at))
            if existing.user_id == user_id and _utc(existing.ends_at) == ends_at and \
                    _utc(existing.starts_at) == kept_start:
                self.report.unchanged.append(what)
                return
            if _utc(existing.ends_at) > self.now:
                oncall.remove_override(ACTOR, existing, self.now)
            self.report.updated.append(what)
        else:
            self.report.created.append(what)
        made = oncall.add_override(ACTOR, row, user_id=user_id, starts_at=starts_at, ends_at=ends_at, now=self.now,
                                   note="From Grafana OnCall")
        self.ledger.remember("override", key, made)

    # --- escalation ------------------------------------------------------------------------

    def chain(self, data: dict, steps: list[dict]) -> None:
        name = (data.get("name") or "").strip() or f"OnCall chain {data['id']}"
        what = f"escalation chain {name}"
        planned: list[dict] = []
        repeat, leading = 0, 0
        for step in steps:
            kind = step.get("type")
            if kind == "wait":
                minutes = int(step.get("duration") or 0) // 60
                if planned:
                    planned[-1]["delay"] += minutes
                else:
                    leading += minutes
                continue
            if kind == "repeat_escalation":
                repeat = REPEATS
                continue
            if kind in NOT_MAPPED_STEPS:
                self.report.unmapped.append(f"{what}: step {kind}: {NOT_MAPPED_STEPS[kind]}")
                continue
            targets, mode = [], "all"
            if kind == "notify_persons":
                targets = [("user", i) for i in self._people(step.get("persons_to_notify"), what)]
            elif kind == "notify_person_next_each_time":
                targets = [("user", i) for i in self._people(step.get("persons_to_notify_next_each_time"), what)]
                mode = "round_robin"
            elif kind == "notify_on_call_from_schedule":
                schedule = self.schedules.get(step.get("notify_on_call_from_schedule"))
                targets = [("schedule", schedule.id)] if schedule else []
            elif kind == "notify_team_members":
                team = self.teams.get(step.get("team_to_notify"))
                targets = [("team", team.id)] if team else []
            else:
                self.report.unmapped.append(f"{what}: step {kind} is unknown to this importer")
                continue
            if not targets:
                self.report.unmapped.append(f"{what}: step {kind} names nobody Firebreak knows")
                continue
            if step.get("important"):
                self.report.approximate.append(f"{what}: step {kind} is 'important' in OnCall; Firebreak pages "
                                               "with each person's high-urgency rules")
            last = planned[-1] if planned else None
            if last is not None and last["delay"] == 0 and last["mode"] == mode == "all":
                last["targets"] += [t for t in targets if t not in last["targets"]]  # the same moment
            else:
                planned.append({"targets": targets, "mode": mode, "delay": 0})
        if leading:
            self.report.approximate.append(f"{what}: OnCall waits {leading} min before its first step; Firebreak "
                                           "pages the first step at once")
        for index, step in enumerate(planned):
            if step["delay"] < 1:
                if index < len(planned) - 1 or repeat:
                    self.report.approximate.append(f"{what}: step {index + 1} goes on at once in OnCall; Firebreak "
                                                   "waits at least a minute")
                step["delay"] = 1
            step["delay"] = min(step["delay"], escalation.MAX_DELAY)
        if len(planned) > escalation.MAX_STEPS:
            self.report.unmapped.append(f"{what}: steps after the {escalation.MAX_STEPS}th (Firebreak's most)")
            planned = planned[:escalation.MAX_STEPS]
        team = self.teams.get(data.get("team_id"))
        row = self._find("escalation_chain", data["id"], EscalationPolicy, name)
        changes = []
        if row is None:
            row = escalation.create_policy(ACTOR, name=name, now=self.now, repeat=repeat,
                                           description="Imported from Grafana OnCall",
                                           team_id=team.id if team else None)
            self.report.created.append(f"escalation policy {name}")
        elif row.name != name or row.repeat != repeat:
            changes += [field for field, differs in (("name", row.name != name), ("repeat", row.repeat != repeat))
                        if differs]
            escalation.update_policy(ACTOR, row, name=name, description=row.description, repeat=repeat,
                                     now=self.now)
        have = [(s.delay_minutes, s.mode, sorted((t.kind, t.ref) for t in s.targets)) for s in row.steps]
        wanted = [(s["delay"], s["mode"], sorted(s["targets"])) for s in planned]
        if have != wanted:
            if have:
                changes.append("steps")
            for step in list(row.steps):
                escalation.remove_step(ACTOR, step, self.now)
            db.session.flush()
            for spec in planned:
                step = escalation.add_step(ACTOR, row, delay_minutes=spec["delay"], mode=spec["mode"], now=self.now)
                for kind, ref in spec["targets"]:
                    escalation.add_target(ACTOR, step, kind, ref, self.now)
        if changes:
            self.report.updated.append(f"escalation policy {name}: {', '.join(changes)}")
        elif f"escalation policy {name}" not in self.report.created:
            self.report.unchanged.append(f"escalation policy {name}")
        if not planned:
            self.report.unmapped.append(f"{what}: no step Firebreak can page; the policy was made empty")
        self.ledger.remember("escalation_chain", data["id"], row)
        self.policies[data["id"]] = row

    # --- integrations ----------------------------------------------------------------------

    def integration(self, data: dict) -> None:
        name = (data.get("name") or "").strip() or f"OnCall integration {data['id']}"
        kind = data.get("type") or "webhook"
        if kind == "direct_paging":
            self.report.unmapped.append(f"integration {name}: OnCall's direct paging; in Firebreak anyone pages "
                                        "people or a team from a new incident")
            return
        team = self.teams.get(data.get("team_id"))
        row = self._find("integration", data["id"], Service, name)
        if row is None:
            row = services.create_service(ACTOR, name=name, team_id=team.id if team else None, with_key=False,
                                          description=f"Imported from Grafana OnCall ({kind} integration)")
            self.report.created.append(f"service {name}")
        elif row.name != name or row.team_id != (team.id if team else None):
            services.update_service(ACTOR, row, name=name, description=row.description,
                                    team_id=team.id if team else None, severity_mapping=row.severity_mapping,
                                    active=row.active)
            self.report.updated.append(f"service {name}")
        else:
            self.report.unchanged.append(f"service {name}")
        self.ledger.remember("integration", data["id"], row)
        chain = (data.get("default_route") or {}).get("escalation_chain_id")
        policy = self.policies.get(chain)
        if (policy.id if policy else None) != row.escalation_policy_id:
            escalation.set_service_policy(ACTOR, row, policy.id if policy else None, row.fallback_team_id)
        if policy is None:
            self.report.unmapped.append(f"integration {name}: no escalation chain on its default route; the service "
                                        "pages its fallback (every admin) until given a policy")
        self.report.approximate.append(f"integration {name}: only its default route was imported (Firebreak sends "
                                       "a service's alerts through one policy)")
        key = self.ledger.find("integration_key", data["id"], IntegrationKey)
        if key is None or key.service_id != row.id or key.revoked_at is not None:
            key = services.add_integration_key(ACTOR, row, name=f"Grafana OnCall {kind}")
            self.report.created.append(f"integration key for {name}")
        self.ledger.remember("integration_key", data["id"], key)
        enqueue = external_url("alerts.enqueue")
        was = f"was {data.get('link')}" if data.get("link") else "OnCall"
        if kind in ("alertmanager", "legacy_alertmanager"):
            self.report.integrations.append(
                f"{name} ({kind}, {was}): Alertmanager webhook_configs url "
                f"{external_url('alerts.alertmanager', integration_key=key.key)}")
        elif kind in ("grafana_alerting", "grafana", "legacy_grafana_alerting"):
            self.report.integrations.append(
                f"{name} ({kind}, {was}): in Grafana, a PagerDuty contact point with integration key {key.key} "
                f"and URL {enqueue}")
            self.report.approximate.append(f"integration {name}: Grafana Alerting reaches Firebreak through its "
                                           "PagerDuty contact point instead of the OnCall one")
        else:
            self.report.integrations.append(
                f"{name} ({kind}, {was}): PagerDuty Events API v2 to {enqueue} with routing_key {key.key}")
            self.report.approximate.append(f"integration {name}: OnCall took this sender's own payload ({kind}); "
                                           "Firebreak takes Events API v2 or Alertmanager's webhook, so the sender "
                                           "must send one of those")
        self.maintenance(data, row, name)

    def maintenance(self, data: dict, service: Service, name: str) -> None:
        starts_at, ends_at = _instant(data.get("maintenance_started_at")), _instant(data.get("maintenance_end_at"))
        if not data.get("maintenance_mode") or starts_at is None or ends_at is None or ends_at <= self.now:
            return
        key = f"{data['id']}:{starts_at.isoformat()}"
        if self.ledger.find("maintenance", key, MaintenanceWindow) is not None:
            self.report.unchanged.append(f"maintenance of {name}")
            return
        window = maintenance.schedule(ACTOR, title=f"{name}: {data['maintenance_mode']} mode from Grafana OnCall",
                                      starts_at=starts_at, ends_at=ends_at, services=[service], now=self.now)
        self.ledger.remember("maintenance", key, window)
        self.report.created.append(f"maintenance of {name} until {ends_at:%Y-%m-%d %H:%M} UTC")
        if data["maintenance_mode"] != "maintenance":
            self.report.approximate.append(f"integration {name}: OnCall's {data['maintenance_mode']} mode became a "
                                           "maintenance window (alerts are kept, no incident is opened)")
