"""A loopback Grafana OnCall public API (/api/v1/), built from its published reference:
the grafana/oncall repository (archived), docs/sources/oncall-api-reference/*.md for the
paths and JSON shapes, and engine/apps/public_api/ for what the docs leave out.

What it does as the real one does, and where that is written:

- **Authentication** (`_index.md`, "Authentication"): `Authorization: <api key>`, the bare
  key, no scheme. A missing or wrong key is answered 403 `{"detail": "Invalid token."}`
  (apps/auth_token/auth.py raises AuthenticationFailed("Invalid token."); neither
  authentication class names a WWW-Authenticate scheme, so Django REST framework
  answers 403, not 401).
- **Pagination** (`_index.md`, "Pagination"; common/api_helpers/paginators.py): page
  numbers, `?page=N` (and `perpage`), answered with `count`, `next` (the full URL of
  the next page, or null), `previous`, `results`, `page_size`, `current_page_number`,
  `total_pages`. Users come 100 a page (HundredPageSizePaginator), everything else 50
  (FiftyPageSizePaginator, views/*.py); a page past the last is the last page
  (paginators.get_page). `page_size` here lets a test make pages small.
- **Rate limits** (`_index.md`, "API rate limits"; throttlers/user_throttle.py): 429
  with Django REST framework's Throttled body and `Retry-After` (`rate_limited`).
- **Shapes**: users.md (+ serializers/users.py: `is_phone_number_verified`; no phone
  number, no full name), teams.md, personal_notification_rules.md, schedules.md
  (types `web`, `calendar` (the Terraform/API kind), `ical`; serializers/schedules_web.py:
  web schedules list their `shifts` too), on_call_shifts.md (+ serializers/
  on_call_shifts.py: `schedule`, `rotation_start`, type `override`), escalation_chains.md,
  escalation_policies.md (type names: apps/alerts/models/escalation_policy.py,
  PUBLIC_STEP_CHOICES_MAP), integrations.md (+ serializers/maintenance.py:
  `maintenance_mode`, `maintenance_started_at`, `maintenance_end_at`).
- **Who is on call** (schedules.md, "Export a schedule's final shifts"): `GET
  /api/v1/schedules/<id>/final_shifts?start_date=YYYY-MM-DD&end_date=YYYY-MM-DD`, both
  required, end not before start and at most 365 days after it; shifts cut to the
  period; `on_call_now` of a schedule at `now`. The answers come from FINAL_SHIFTS,
  written out by hand from the fixture below by OnCall's documented rules (the
  rotation semantics of apps/schedules/models/custom_on_call_shift.py): a higher
  `level` wins, an override wins over every level; `calendar` schedules' shifts are in
  the schedule's time zone (09:00 stays 09:00 New York across the DST change on
  2026-03-08), a `web` schedule's shifts without a `time_zone` are in UTC
  (custom_on_call_shift.convert_to_ical defaults to "UTC"; on_call_schedule.py calls it
  without the schedule's zone for web schedules).
- **iCal schedules**: `ical_url_primary` / `ical_url_overrides` are calendars elsewhere
  (a Google or Outlook secret address), fetched without the OnCall key; served here
  under /ical/ with no authentication, as those are.
"""
from __future__ import annotations

import copy
import math
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from tests.vendors.base import FakeVendorApi, Raw, Refusal, Request

TOKEN = "oncall-api-key-3f9a1c"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

USERS = [
    {"id": "U1ALICE0000AA", "grafana_id": 11, "email": "alice@acme.example", "slack": None, "username": "alice",
     "role": "admin", "is_phone_number_verified": True, "timezone": "Europe/Berlin", "teams": ["TPAYMENTS00AA"]},
    {"id": "U2BOB000000BB", "grafana_id": 12, "email": "bob@acme.example",
     "slack": {"user_id": "UBOBSLACK", "team_id": "TACMESLACK"}, "username": "bob", "role": "editor",
     "is_phone_number_verified": True, "timezone": "America/New_York", "teams": ["TPAYMENTS00AA"]},
    {"id": "U3CAROL0000CC", "grafana_id": 13, "email": "carol@acme.example", "slack": None, "username": "carol",
     "role": "editor", "is_phone_number_verified": False, "timezone": "America/New_York",
     "teams": ["TPAYMENTS00AA", "TPLATFORM0BB"]},
    {"id": "U4DAVE00000DD", "grafana_id": 14, "email": "dave@acme.example", "slack": None, "username": "dave",
     "role": "editor", "is_phone_number_verified": False, "timezone": "UTC", "teams": ["TPLATFORM0BB"]},
    {"id": "U5ERIN00000EE", "grafana_id": 15, "email": "erin@acme.example", "slack": None, "username": "erin",
     "role": "viewer", "is_phone_number_verified": False, "timezone": "Europe/Berlin", "teams": []},
]
ALICE, BOB, CAROL, DAVE, ERIN = (u["id"] for u in USERS)

TEAMS = [
    {"id": "TPAYMENTS00AA", "grafana_id": 101, "name": "Payments", "email": "payments@acme.example",
     "avatar_url": "/avatar/1f0c"},
    {"id": "TPLATFORM0BB", "grafana_id": 102, "name": "Platform", "email": "", "avatar_url": "/avatar/9a7e"},
]

PERSONAL_NOTIFICATION_RULES = [
    {"id": "NALICE1", "user_id": ALICE, "position": 0, "important": False, "type": "notify_by_sms"},
    {"id": "NALICE2", "user_id": ALICE, "position": 1, "duration": 300, "important": False, "type": "wait"},
    {"id": "NALICE3", "user_id": ALICE, "position": 2, "important": False, "type": "notify_by_email"},
    {"id": "NALICE4", "user_id": ALICE, "position": 0, "important": True, "type": "notify_by_phone_call"},
    {"id": "NBOB1", "user_id": BOB, "position": 0, "important": False, "type": "notify_by_email"},
    # Waits are one of 60, 300, 900, 1800, 3600 s (UserNotificationPolicy.DURATION_CHOICES).
    {"id": "NBOB2", "user_id": BOB, "position": 1, "duration": 900, "important": False, "type": "wait"},
    {"id": "NBOB3", "user_id": BOB, "position": 2, "important": False, "type": "notify_by_slack"},
    {"id": "NCAROL1", "user_id": CAROL, "position": 0, "important": False, "type": "notify_by_mobile_app"},
    {"id": "NCAROL2", "user_id": CAROL, "position": 1, "duration": 60, "important": False, "type": "wait"},
    {"id": "NCAROL3", "user_id": CAROL, "position": 2, "important": False, "type": "notify_by_email"},
    {"id": "NDAVE1", "user_id": DAVE, "position": 0, "important": False, "type": "notify_by_telegram"},
]

PAYMENTS_SCHEDULE, PLATFORM_SCHEDULE, LEGACY_SCHEDULE = "SPAYMENTS0001", "SPLATFORM0002", "SLEGACYICAL03"

# Payments primary: a Terraform-kind ("calendar") schedule in New York. Everyone
# weekly from Monday 09:00; over it, business hours (Mon-Fri 09:00-17:00) rotate
# weekly between dave and carol; alice covers six hours on Tuesday 10 March (an
# override made through the API: level 99 over every rotation; its own time zone,
# since OnCall reads overrides without one in UTC, on_call_schedule.py
# _refresh_overrides_ical_file).
SHIFTS = [
    {"id": "OPAYWEEKLY001", "name": "Payments weekly", "type": "rolling_users", "team_id": "TPAYMENTS00AA",
     "schedule": PAYMENTS_SCHEDULE, "time_zone": None, "level": 0, "start": "2026-03-02T09:00:00",
     "rotation_start": "2026-03-02T09:00:00", "duration": 7 * 86400, "frequency": "weekly", "interval": 1,
     "until": None, "week_start": "MO", "by_day": None, "by_month": None, "by_monthday": None,
     "rolling_users": [[ALICE], [BOB], [CAROL]], "start_rotation_from_user_index": 0},
    {"id": "OPAYBUSINESS2", "name": "Payments business hours", "type": "rolling_users",
     "team_id": "TPAYMENTS00AA", "schedule": PAYMENTS_SCHEDULE, "time_zone": None, "level": 1,
     "start": "2026-03-02T09:00:00", "rotation_start": "2026-03-02T09:00:00", "duration": 8 * 3600,
     "frequency": "weekly", "interval": 1, "until": None, "week_start": "MO",
     "by_day": ["MO", "TU", "WE", "TH", "FR"], "by_month": None, "by_monthday": None,
     "rolling_users": [[DAVE], [CAROL]], "start_rotation_from_user_index": 0},
    {"id": "OPAYOVERRIDE3", "name": "Alice covers Tuesday", "type": "override", "team_id": "TPAYMENTS00AA",
     "schedule": PAYMENTS_SCHEDULE, "time_zone": "America/New_York", "start": "2026-03-10T12:00:00",
     "rotation_start": "2026-03-10T12:00:00", "duration": 6 * 3600, "users": [ALICE]},
    # Platform: a web-UI schedule. Its rotations have no time zone: OnCall keeps them in UTC.
    {"id": "OPLATDAILY004", "name": "Platform daily", "type": "rolling_users", "team_id": "TPLATFORM0BB",
     "schedule": PLATFORM_SCHEDULE, "time_zone": None, "level": 0, "start": "2026-03-01T08:00:00",
     "rotation_start": "2026-03-01T08:00:00", "duration": 86400, "frequency": "daily", "interval": 1,
     "until": None, "by_day": None, "by_month": None, "by_monthday": None,
     "rolling_users": [[CAROL], [DAVE]], "start_rotation_from_user_index": 0},
    {"id": "OPLATWEEKEND5", "name": "Platform weekend days", "type": "recurrent_event", "team_id": "TPLATFORM0BB",
     "schedule": PLATFORM_SCHEDULE, "time_zone": None, "level": 1, "start": "2026-03-07T10:00:00",
     "rotation_start": "2026-03-07T10:00:00", "duration": 8 * 3600, "frequency": "weekly", "interval": 1,
     "until": None, "week_start": "MO", "by_day": ["SA", "SU"], "by_month": None, "by_monthday": None,
     "users": [ALICE]},
]

SCHEDULES = [
    {"id": PAYMENTS_SCHEDULE, "name": "Payments primary", "type": "calendar", "team_id": "TPAYMENTS00AA",
     "time_zone": "America/New_York", "on_call_now": [], "shifts": ["OPAYWEEKLY001", "OPAYBUSINESS2",
                                                                     "OPAYOVERRIDE3"],
     "ical_url_overrides": None, "enable_web_overrides": False,
     "slack": {"channel_id": None, "user_group_id": None}},
    {"id": PLATFORM_SCHEDULE, "name": "Platform", "type": "web", "team_id": "TPLATFORM0BB",
     "time_zone": "Europe/Berlin", "on_call_now": [], "shifts": ["OPLATDAILY004", "OPLATWEEKEND5"],
     "slack": {"channel_id": "CPLATFORM", "user_group_id": None}},
    {"id": LEGACY_SCHEDULE, "name": "Legacy database", "type": "ical", "team_id": None,
     "ical_url_primary": "{url}/ical/legacy-primary.ics", "ical_url_overrides": None, "on_call_now": [],
     "slack": {"channel_id": None, "user_group_id": None}},
]

# The legacy calendar: erin every weekday 09:00-17:00 Berlin for a week, dave one evening.
LEGACY_ICAL = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Google Inc//Google Calendar 70.9054//EN
BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:STANDARD
DTSTART:19701025T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
UID:legacy-erin-weekdays@acme.example
DTSTAMP:20260201T000000Z
DTSTART;TZID=Europe/Berlin:20260302T090000
DTEND;TZID=Europe/Berlin:20260302T170000
RRULE:FREQ=DAILY;COUNT=5
SUMMARY:erin
END:VEVENT
BEGIN:VEVENT
UID:legacy-dave-evening@acme.example
DTSTAMP:20260201T000000Z
DTSTART:20260304T170000Z
DTEND:20260304T230000Z
SUMMARY:dave@acme.example
END:VEVENT
END:VCALENDAR
""".replace("\n", "\r\n")

ESCALATION_CHAINS = [
    {"id": "FPAYMENTS0001", "name": "Payments default", "team_id": "TPAYMENTS00AA"},
    {"id": "FPLATFORM0002", "name": "Platform", "team_id": "TPLATFORM0BB"},
]

ESCALATION_POLICIES = [
    {"id": "EPAY1", "escalation_chain_id": "FPAYMENTS0001", "position": 0, "type": "notify_on_call_from_schedule",
     "important": False, "notify_on_call_from_schedule": PAYMENTS_SCHEDULE},
    {"id": "EPAY2", "escalation_chain_id": "FPAYMENTS0001", "position": 1, "type": "wait", "duration": 300},
    {"id": "EPAY3", "escalation_chain_id": "FPAYMENTS0001", "position": 2, "type": "notify_persons",
     "important": True, "persons_to_notify": [ALICE, BOB]},
    {"id": "EPAY4", "escalation_chain_id": "FPAYMENTS0001", "position": 3, "type": "wait", "duration": 600},
    {"id": "EPAY5", "escalation_chain_id": "FPAYMENTS0001", "position": 4, "type": "notify_team_members",
     "important": False, "team_to_notify": "TPLATFORM0BB"},
    {"id": "EPAY6", "escalation_chain_id": "FPAYMENTS0001", "position": 5, "type": "wait", "duration": 900},
    {"id": "EPAY7", "escalation_chain_id": "FPAYMENTS0001", "position": 6, "type": "repeat_escalation"},
    {"id": "EPLAT1", "escalation_chain_id": "FPLATFORM0002", "position": 0, "type": "notify_person_next_each_time",
     "persons_to_notify_next_each_time": [CAROL, DAVE]},
    {"id": "EPLAT2", "escalation_chain_id": "FPLATFORM0002", "position": 1, "type": "wait", "duration": 900},
    {"id": "EPLAT3", "escalation_chain_id": "FPLATFORM0002", "position": 2, "type": "notify_user_group",
     "group_to_notify": "GSLACKPLATFORM"},
    {"id": "EPLAT4", "escalation_chain_id": "FPLATFORM0002", "position": 3, "type": "notify_on_call_from_schedule",
     "important": False, "notify_on_call_from_schedule": PLATFORM_SCHEDULE},
    {"id": "EPLAT5", "escalation_chain_id": "FPLATFORM0002", "position": 4, "type": "trigger_webhook",
     "action_to_trigger": "WHSTATUS01"},
]

_TEMPLATES = {"grouping_key": None, "resolve_signal": None, "acknowledge_signal": None, "source_link": None,
              "slack": {"title": None, "message": None, "image_url": None},
              "web": {"title": None, "message": None, "image_url": None}, "sms": {"title": None},
              "phone_call": {"title": None}, "email": {"title": None, "message": None}}


def _integration(ident, name, kind, team, chain, slug, **maintenance):
    return {"id": ident, "name": name, "description_short": None, "team_id": team,
            "link": "{url}" + f"/integrations/v1/{kind}/{slug}/", "inbound_email": None, "type": kind,
            "default_route": {"id": f"R{ident[1:]}", "escalation_chain_id": chain, "slack": {"channel_id": None}},
            "templates": copy.deepcopy(_TEMPLATES), "heartbeat": None,
            "maintenance_mode": maintenance.get("mode"), "maintenance_started_at": maintenance.get("started"),
            "maintenance_end_at": maintenance.get("end")}


INTEGRATIONS = [
    _integration("CPAYALERTS001", "Payments Alertmanager", "alertmanager", "TPAYMENTS00AA", "FPAYMENTS0001",
                 "mReAoNwDm0eMwKo1mTeTwYo"),
    _integration("CPLATGRAFANA2", "Platform Grafana Alerting", "grafana_alerting", "TPLATFORM0BB",
                 "FPLATFORM0002", "aB3dE5fG7hJ9kL1mN3pQ5rS", mode="maintenance",
                 started="2026-03-01T10:00:00Z", end="2026-03-01T16:00:00Z"),
    _integration("CCIWEBHOOK003", "CI webhook", "webhook", None, None, "zY8xW6vU4tS2rQ0pO8nM6lK"),
    _integration("CDIRECTPAGE04", "Direct paging", "direct_paging", None, None, "dP1aG2iN3g4"),
]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# Grafana OnCall's own final shifts, by hand from the fixture (UTC; see the module notes).
FINAL_SHIFTS = {
    PAYMENTS_SCHEDULE: [(_at(start), _at(end), user) for start, end, user in [
        # Week 1 (EST, UTC-5): dave's business hours 14:00-22:00Z over alice's week.
        ("2026-03-02T14:00", "2026-03-02T22:00", DAVE), ("2026-03-02T22:00", "2026-03-03T14:00", ALICE),
        ("2026-03-03T14:00", "2026-03-03T22:00", DAVE), ("2026-03-03T22:00", "2026-03-04T14:00", ALICE),
        ("2026-03-04T14:00", "2026-03-04T22:00", DAVE), ("2026-03-04T22:00", "2026-03-05T14:00", ALICE),
        ("2026-03-05T14:00", "2026-03-05T22:00", DAVE), ("2026-03-05T22:00", "2026-03-06T14:00", ALICE),
        ("2026-03-06T14:00", "2026-03-06T22:00", DAVE),
        # The weekend, across the change to EDT (2026-03-08 07:00Z): alice until Monday 09:00 EDT.
        ("2026-03-06T22:00", "2026-03-09T13:00", ALICE),
        # Week 2 (EDT, UTC-4): carol's business hours 13:00-21:00Z over bob's week.
        ("2026-03-09T13:00", "2026-03-09T21:00", CAROL), ("2026-03-09T21:00", "2026-03-10T13:00", BOB),
        ("2026-03-10T13:00", "2026-03-10T16:00", CAROL),
        ("2026-03-10T16:00", "2026-03-10T22:00", ALICE),  # the override, 12:00-18:00 EDT
        ("2026-03-10T22:00", "2026-03-11T13:00", BOB),
        ("2026-03-11T13:00", "2026-03-11T21:00", CAROL), ("2026-03-11T21:00", "2026-03-12T13:00", BOB),
        ("2026-03-12T13:00", "2026-03-12T21:00", CAROL), ("2026-03-12T21:00", "2026-03-13T13:00", BOB),
        ("2026-03-13T13:00", "2026-03-13T21:00", CAROL), ("2026-03-13T21:00", "2026-03-16T13:00", BOB),
        # Week 3: dave's business hours again, over carol's week.
        ("2026-03-16T13:00", "2026-03-16T21:00", DAVE), ("2026-03-16T21:00", "2026-03-17T13:00", CAROL),
    ]],
    PLATFORM_SCHEDULE: [(_at(start), _at(end), user) for start, end, user in [
        # Daily at 08:00 UTC, carol first; alice 10:00-18:00 UTC on Saturdays and Sundays from the 7th.
        ("2026-03-01T08:00", "2026-03-02T08:00", CAROL),
        ("2026-03-02T08:00", "2026-03-03T08:00", DAVE), ("2026-03-03T08:00", "2026-03-04T08:00", CAROL),
        ("2026-03-04T08:00", "2026-03-05T08:00", DAVE), ("2026-03-05T08:00", "2026-03-06T08:00", CAROL),
        ("2026-03-06T08:00", "2026-03-07T08:00", DAVE),
        ("2026-03-07T08:00", "2026-03-07T10:00", CAROL), ("2026-03-07T10:00", "2026-03-07T18:00", ALICE),
        ("2026-03-07T18:00", "2026-03-08T08:00", CAROL),
        ("2026-03-08T08:00", "2026-03-08T10:00", DAVE), ("2026-03-08T10:00", "2026-03-08T18:00", ALICE),
        ("2026-03-08T18:00", "2026-03-09T08:00", DAVE),
    ]],
}

PAGE_SIZES = {"users": 100}  # every other list: 50


class FakeGrafanaOnCall(FakeVendorApi):
    unauthorised = {"detail": "Invalid token."}
    unauthorised_status = 403
    throttled = {"detail": "Request was throttled. Expected available in 2 seconds."}

    def __init__(self, *, page_size: int | None = None):
        super().__init__()
        self.page_size = page_size          # None: the real sizes (100 users, 50 else)
        self.now = NOW
        url = self.url
        self.users = copy.deepcopy(USERS)
        self.teams = copy.deepcopy(TEAMS)
        self.rules = copy.deepcopy(PERSONAL_NOTIFICATION_RULES)
        self.shifts = copy.deepcopy(SHIFTS)
        self.schedules = [{k: (v.format(url=url) if isinstance(v, str) else v) for k, v in s.items()}
                          for s in copy.deepcopy(SCHEDULES)]
        self.chains = copy.deepcopy(ESCALATION_CHAINS)
        self.policies = copy.deepcopy(ESCALATION_POLICIES)
        self.integrations = [{**i, "link": i["link"].format(url=url)} for i in copy.deepcopy(INTEGRATIONS)]
        self.final_shifts = copy.deepcopy(FINAL_SHIFTS)
        self.calendars = {"legacy-primary.ics": LEGACY_ICAL}
        for name, items, filters in (
                ("users", lambda: self.users, {"username": "username", "email": "email"}),
                ("teams", lambda: self.teams, {"name": "name"}),
                ("personal_notification_rules", lambda: self.rules, {"user_id": "user_id"}),
                ("schedules", lambda: self.schedules_now(), {"name": "name"}),
                ("on_call_shifts", lambda: self.shifts, {"schedule_id": "schedule", "name": "name"}),
                ("escalation_chains", lambda: self.chains, {"name": "name"}),
                ("escalation_policies", lambda: self.policies, {"escalation_chain_id": "escalation_chain_id"}),
                ("integrations", lambda: self.integrations, {"name": "name"})):
            self.route(rf"/api/v1/{name}/?", self._lister(name, items, filters))
            self.route(rf"/api/v1/{name}/(?P<id>[A-Za-z0-9]+)/?", self._getter(name, items))
        self.route(r"/api/v1/schedules/(?P<id>[A-Za-z0-9]+)/final_shifts/?", self._final_shifts)
        self.route(r"/ical/(?P<name>[a-z0-9-]+\.ics)", self._calendar)

    # --- authentication ----------------------------------------------------------------

    def authorised(self, request: Request) -> bool:
        if request.path.startswith("/ical/"):
            return True  # a calendar's secret address, elsewhere, needs no OnCall key
        return request.headers.get("authorization") == TOKEN

    # --- lists, pages, objects ------------------------------------------------------------

    def _size(self, name: str, request: Request) -> int:
        if self.page_size is not None:
            return self.page_size
        size = PAGE_SIZES.get(name, 50)
        try:  # paginators.PathPrefixedPagePagination: perpage, anything but a positive integer ignored
            asked = int(request.query.get("perpage", [size])[0])
        except ValueError:
            asked = size
        return asked if asked >= 1 else size

    def _lister(self, name, items, filters):
        def handler(request: Request, match):
            found = items()
            for param, field in filters.items():
                if param in request.query:
                    wanted = request.query[param][0]
                    found = [item for item in found
                             if str(item.get(field)).lower() == wanted.lower()]
            return self.page(request, found, self._size(name, request))
        return handler

    def page(self, request: Request, found: list, size: int) -> dict:
        pages = max(1, math.ceil(len(found) / size))
        try:
            number = int(request.query.get("page", ["1"])[0])
        except ValueError:
            number = 1
        number = min(max(number, 1), pages)  # a page past the last is the last page

        def link(n):
            query = {k: v[0] for k, v in request.query.items()}
            query["page"] = str(n)
            return f"{self.url}{request.path}?{urlencode(query)}"

        return {"count": len(found), "next": link(number + 1) if number < pages else None,
                "previous": link(number - 1) if number > 1 else None,
                "results": found[(number - 1) * size:number * size],
                "current_page_number": number, "page_size": size, "total_pages": pages}

    @staticmethod
    def _getter(name, items):
        def handler(request: Request, match):
            for item in items():
                if item["id"] == match["id"]:
                    return item
            raise Refusal(404, {"detail": "Not found."})
        return handler

    # --- who is on call -------------------------------------------------------------------

    def on_call_at(self, schedule_id: str, at: datetime) -> list[str]:
        """OnCall's answer: the users of the final shifts holding `at`."""
        return [user for start, end, user in self.final_shifts.get(schedule_id, ()) if start <= at < end]

    def schedules_now(self) -> list[dict]:
        for schedule in self.schedules:
            schedule["on_call_now"] = self.on_call_at(schedule["id"], self.now)
        return self.schedules

    def _final_shifts(self, request: Request, match) -> dict:
        if match["id"] not in {s["id"] for s in self.schedules}:
            raise Refusal(404, {"detail": "Not found."})
        errors = {}
        dates = {}
        for field in ("start_date", "end_date"):
            value = request.query.get(field, [None])[0]
            if value is None:
                errors[field] = ["This field is required."]
                continue
            try:
                dates[field] = date.fromisoformat(value)
            except ValueError:
                errors[field] = ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]
        if not errors and dates["end_date"] < dates["start_date"]:
            errors["non_field_errors"] = ["End date must be greater than or equal to start date."]
        if not errors and dates["end_date"] - dates["start_date"] > timedelta(days=365):
            errors["non_field_errors"] = ["The requested time range is too big"]
        if errors:
            raise Refusal(400, errors)
        start = datetime.combine(dates["start_date"], datetime.min.time(), UTC)
        end = datetime.combine(dates["end_date"], datetime.min.time(), UTC) + timedelta(days=1)
        by_id = {u["id"]: u for u in self.users}
        data = [{"user_pk": user, "user_email": by_id[user]["email"], "user_username": by_id[user]["username"],
                 "shift_start": max(s, start).strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "shift_end": min(e, end).strftime("%Y-%m-%dT%H:%M:%SZ")}
                for s, e, user in self.final_shifts.get(match["id"], ()) if s < end and e > start]
        return {"count": len(data), "next": None, "previous": None, "results": data,
                "current_page_number": 1, "page_size": 50, "total_pages": 1}

    def _calendar(self, request: Request, match):
        text = self.calendars.get(match["name"])
        if text is None:
            raise Refusal(404, {"detail": "Not found."})
        return Raw(text.encode(), "text/calendar; charset=utf-8")
