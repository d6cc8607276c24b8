"""A loopback Opsgenie REST API (v2), as much of it as the importer reads, serving a
small but realistic organisation.

Where each shape comes from (the published reference and the vendor's own SDK,
opsgenie/opsgenie-go-sdk-v2, whose structs carry the exact JSON names):

- Authentication: `Authorization: GenieKey <key>` (SDK client/client.go adds that
  header to every request); a wrong key answers 401 with Opsgenie's error body
  `{"message": ..., "took": ..., "requestId": ...}` (client.ApiError).
- Every answer wraps its content in `data` with `took` and `requestId` (the SDK's
  ResultMetadata and its unwrapping of `data`, client.go).
- Pagination (docs.opsgenie.com "Pagination"): `offset` and `limit`, limit default 20
  and at most 100; the answer's `paging` holds the exact `next`/`first`/`last` links
  (also in the X-Paging-Next header); `totalCount` on the user list (SDK
  user.ListResult, user.Paging). Only the user list pages, as in the reference.
  A limit outside 1..100 is refused with 422, as Opsgenie refuses invalid input.
- Rate limits (docs.opsgenie.com "Rate Limiting"): 429 Too Many Requests with the
  X-RateLimit-State/Reason/Period-In-Sec headers the SDK reads; this fake also sends
  Retry-After (FakeVendorApi's `rate_limited`).
- Users: GET /v2/users (SDK user.User: id, username, fullName, role.name, blocked,
  timeZone, ...), GET /v2/users/{id}/contacts (contact.Contact: id, method, to,
  status.enabled), GET /v2/users/{id}/notification-rules and .../{ruleId}
  (notification.GetRuleResult: actionType, steps[].contact{method,to},
  steps[].sendAfter{timeAmount,timeUnit}, enabled).
- Teams: GET /v2/teams (team.ListedTeams), GET /v2/teams/{id} with members
  (team.Member: user{id,username}, role).
- Schedules: GET /v2/schedules?expand=rotation (schedule.Schedule with og.Rotation:
  type daily/weekly/hourly, length, startDate, endDate, participants[type,id,username],
  timeRestriction{type time-of-day + restriction | weekday-and-time-of-day +
  restrictions[startDay,startHour,startMin,endDay,endHour,endMin]});
  GET /v2/schedules/{id}/overrides (schedule.ScheduleOverride: alias, user,
  startDate, endDate, rotations).
- Who is on call: GET /v2/schedules/{id}/on-calls?date=... (docs "Who is On Call API";
  schedule.GetOnCallsResult: _parent, onCallParticipants[type,id,name]; with
  flat=true, onCallRecipients: the usernames).
- Escalations: GET /v2/escalations (escalation.Escalation: rules[condition,
  notifyType, delay{timeAmount,timeUnit}, recipient{type,id,name|username}], repeat).
- Integrations: GET /v2/integrations (integration.GenericFields: id, name, enabled,
  type, teamId).

The on-call answers are a table written by hand (`ON_CALL`), worked out from the
fixture by Opsgenie's documented semantics, not by Firebreak's code: a rotation hands
off every `length` days/weeks/hours from its startDate at the same wall-clock time in
the schedule's time zone (so 17:00 New York stays 17:00 across the change to summer
time), a restriction masks the rotation (the turns go on counting behind it), every
rotation whose turn is active is on call, and an override replaces the people of the
rotations it names for its window.
"""
from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

from tests.vendors.base import FakeVendorApi, Refusal

KEY = "6c2b0b6e-0f4a-4bd0-9d35-7d7a3c1e2f10"   # the API integration's key the tests use

# --- the organisation -------------------------------------------------------------------

ALICE = "7f3a1c2e-5b6d-4e8f-9a0b-1c2d3e4f5a01"
BOB = "7f3a1c2e-5b6d-4e8f-9a0b-1c2d3e4f5a02"
CAROL = "7f3a1c2e-5b6d-4e8f-9a0b-1c2d3e4f5a03"
DAN = "7f3a1c2e-5b6d-4e8f-9a0b-1c2d3e4f5a04"
ERIN = "7f3a1c2e-5b6d-4e8f-9a0b-1c2d3e4f5a05"
FRANK = "7f3a1c2e-5b6d-4e8f-9a0b-1c2d3e4f5a06"
GRACE = "7f3a1c2e-5b6d-4e8f-9a0b-1c2d3e4f5a07"
HENRY = "7f3a1c2e-5b6d-4e8f-9a0b-1c2d3e4f5a08"
IVAN = "7f3a1c2e-5b6d-4e8f-9a0b-1c2d3e4f5a09"

PAYMENTS_TEAM = "a1b2c3d4-0000-4000-8000-00000000a001"
PLATFORM_TEAM = "a1b2c3d4-0000-4000-8000-00000000a002"

PAYMENTS_SCHEDULE = "5c1d9e2f-0000-4000-8000-000000005001"
PLATFORM_SCHEDULE = "5c1d9e2f-0000-4000-8000-000000005002"
BUSINESS_HOURS = "b0000000-0000-4000-8000-0000000000b1"
NIGHTS = "b0000000-0000-4000-8000-0000000000b2"
FOLLOW_THE_SUN = "b0000000-0000-4000-8000-0000000000b3"
TEAM_BACKUP = "b0000000-0000-4000-8000-0000000000b4"

PAYMENTS_ESCALATION = "e0000000-0000-4000-8000-0000000000e1"
PLATFORM_ESCALATION = "e0000000-0000-4000-8000-0000000000e2"


def _user(ident, username, full_name, role, time_zone, *, blocked=False):
    return {"id": ident, "username": username, "fullName": full_name, "role": {"id": role, "name": role},
            "blocked": blocked, "verified": True, "userAddress": {"country": "", "state": "", "city": "",
                                                                    "line": "", "zipCode": ""},
            "tags": [], "details": {}, "timeZone": time_zone, "locale": "en_US",
            "createdAt": "2024-05-06T10:11:12.123Z"}


USERS = [
    _user(ALICE, "alice@example.com", "Alice Archer", "Admin", "America/New_York"),
    _user(BOB, "bob@example.com", "Bob Baker", "User", "America/New_York"),
    _user(CAROL, "carol@example.com", "Carol Chen", "User", "America/Chicago"),
    _user(DAN, "dan@example.com", "Dan Dorsey", "User", "Europe/Berlin"),
    _user(ERIN, "erin@example.com", "Erin Evans", "User", "America/New_York"),
    _user(FRANK, "frank@example.com", "Frank Fischer", "User", "Europe/Berlin"),
    _user(GRACE, "grace@example.com", "Grace Gupta", "User", "Europe/Berlin"),
    _user(HENRY, "henry@example.com", "Henry Hill", "Stakeholder", "Europe/London"),
    _user(IVAN, "ivan@example.com", "Ivan Ivanov", "User", "Europe/Berlin", blocked=True),
]


def _contact(ident, method, to, enabled=True):
    return {"id": ident, "method": method, "to": to, "status": {"enabled": enabled}}


CONTACTS = {
    ALICE: [_contact("c-a1", "email", "alice@example.com"), _contact("c-a2", "sms", "1-2125550101"),
            _contact("c-a3", "voice", "1-2125550101"), _contact("c-a4", "mobile", "Alice's iPhone")],
    BOB: [_contact("c-b1", "email", "bob@example.com"), _contact("c-b2", "sms", "1-2125550102")],
    CAROL: [_contact("c-c1", "email", "carol@example.com"), _contact("c-c2", "voice", "1-3125550103")],
    DAN: [_contact("c-d1", "email", "dan@example.com"), _contact("c-d2", "sms", "49-15123456704")],
    ERIN: [_contact("c-e1", "email", "erin@example.com"), _contact("c-e2", "sms", "1-2125550105", enabled=False)],
    FRANK: [_contact("c-f1", "email", "frank@example.com")],
    GRACE: [_contact("c-g1", "email", "grace@example.com"), _contact("c-g2", "sms", "49-15123456707")],
    HENRY: [_contact("c-h1", "email", "henry@example.com")],
    IVAN: [_contact("c-i1", "email", "ivan@example.com")],
}

NOTIFICATION_RULES = {
    ALICE: [
        {"id": "nr-a1", "name": "New Alert", "actionType": "create-alert", "order": 1, "enabled": True,
         "notificationTime": [], "steps": [
             {"contact": {"method": "sms", "to": "1-2125550101"}, "sendAfter": {"timeAmount": 0, "timeUnit": "minutes"},
              "enabled": True},
             {"contact": {"method": "voice", "to": "1-2125550101"},
              "sendAfter": {"timeAmount": 3, "timeUnit": "minutes"}, "enabled": True},
             {"contact": {"method": "email", "to": "alice@example.com"},
              "sendAfter": {"timeAmount": 10, "timeUnit": "minutes"}, "enabled": True},
             {"contact": {"method": "mobile", "to": "Alice's iPhone"},
              "sendAfter": {"timeAmount": 0, "timeUnit": "minutes"}, "enabled": True}]},
        {"id": "nr-a2", "name": "Schedule Start", "actionType": "schedule-start", "order": 2, "enabled": True,
         "notificationTime": ["just-before", "15-minutes-ago"], "steps": [
             {"contact": {"method": "email", "to": "alice@example.com"}, "enabled": True}]},
    ],
}

TEAMS = [
    {"id": PAYMENTS_TEAM, "name": "Payments", "description": "Card and ledger services",
     "members": [{"user": {"id": ALICE, "username": "alice@example.com"}, "role": "admin"},
                 {"user": {"id": BOB, "username": "bob@example.com"}, "role": "user"},
                 {"user": {"id": CAROL, "username": "carol@example.com"}, "role": "user"},
                 {"user": {"id": ERIN, "username": "erin@example.com"}, "role": "user"}]},
    {"id": PLATFORM_TEAM, "name": "Platform", "description": "Clusters, networks and databases",
     "members": [{"user": {"id": DAN, "username": "dan@example.com"}, "role": "admin"},
                 {"user": {"id": FRANK, "username": "frank@example.com"}, "role": "user"},
                 {"user": {"id": GRACE, "username": "grace@example.com"}, "role": "user"}]},
]


def participant(ident):
    user = next(u for u in USERS if u["id"] == ident)
    return {"type": "user", "id": ident, "username": user["username"]}


def _weekday_window(start_day, start_hour, end_day, end_hour, start_min=0, end_min=0):
    return {"startDay": start_day, "startHour": start_hour, "startMin": start_min,
            "endDay": end_day, "endHour": end_hour, "endMin": end_min}


WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday"]

SCHEDULES = [
    {"id": PAYMENTS_SCHEDULE, "name": "Payments primary", "description": "Who answers for payments",
     "timezone": "America/New_York", "enabled": True, "ownerTeam": {"id": PAYMENTS_TEAM, "name": "Payments"},
     "rotations": [
         # Weekly, Monday 09:00 New York: Alice, Bob, Alice, ... Only in office hours.
         {"id": BUSINESS_HOURS, "name": "Business hours", "startDate": "2026-02-02T14:00:00Z", "type": "weekly",
          "length": 1, "participants": [participant(ALICE), participant(BOB)],
          "timeRestriction": {"type": "weekday-and-time-of-day",
                              "restrictions": [_weekday_window(day, 9, day, 17) for day in WEEKDAYS]}},
         # Daily, 17:00 New York: Carol, Dan, Erin, ... Outside office hours: each
         # weeknight until 09:00, and the weekend from Friday 17:00 to Monday 09:00.
         {"id": NIGHTS, "name": "Nights and weekends", "startDate": "2026-02-02T22:00:00Z", "type": "daily",
          "length": 1, "participants": [participant(CAROL), participant(DAN), participant(ERIN)],
          "timeRestriction": {"type": "weekday-and-time-of-day", "restrictions": [
              _weekday_window("monday", 17, "tuesday", 9), _weekday_window("tuesday", 17, "wednesday", 9),
              _weekday_window("wednesday", 17, "thursday", 9), _weekday_window("thursday", 17, "friday", 9),
              _weekday_window("friday", 17, "monday", 9)]}},
     ]},
    {"id": PLATFORM_SCHEDULE, "name": "Platform", "description": "", "timezone": "Europe/Berlin", "enabled": True,
     "ownerTeam": {"id": PLATFORM_TEAM, "name": "Platform"},
     "rotations": [
         # Twelve-hour turns from 08:00 Berlin: Frank days, Grace nights, all week;
         # the whole Platform team as well in the evenings (18:00-22:00 every day).
         {"id": FOLLOW_THE_SUN, "name": "Follow the sun", "startDate": "2026-01-05T07:00:00Z", "type": "hourly",
          "length": 12, "participants": [participant(FRANK), participant(GRACE)]},
         {"id": TEAM_BACKUP, "name": "Team backup", "startDate": "2026-01-05T07:00:00Z", "type": "weekly",
          "length": 1, "participants": [{"type": "team", "id": PLATFORM_TEAM, "name": "Platform"}],
          "timeRestriction": {"type": "time-of-day", "restriction": {"startHour": 18, "startMin": 0,
                                                                      "endHour": 22, "endMin": 0}}},
     ]},
]

OVERRIDES = {
    PAYMENTS_SCHEDULE: [
        # Erin covers Bob's office hours on Tuesday 10 March, 10:00-14:00 New York.
        {"alias": "erin-covers-bob", "user": {"type": "user", "id": ERIN, "username": "erin@example.com"},
         "startDate": "2026-03-10T14:00:00Z", "endDate": "2026-03-10T18:00:00Z",
         "rotations": [{"id": BUSINESS_HOURS, "name": "Business hours"}]},
        # Long over: nothing to bring across.
        {"alias": "old-cover", "user": {"type": "user", "id": CAROL, "username": "carol@example.com"},
         "startDate": "2026-02-10T14:00:00Z", "endDate": "2026-02-11T14:00:00Z", "rotations": []},
    ],
    PLATFORM_SCHEDULE: [
        {"alias": "grace-day", "user": {"type": "user", "id": GRACE, "username": "grace@example.com"},
         "startDate": "2026-03-03T07:00:00Z", "endDate": "2026-03-04T07:00:00Z", "rotations": []},
    ],
}

ESCALATIONS = [
    {"id": PAYMENTS_ESCALATION, "name": "Payments escalation", "description": "On call, then Alice, then everyone",
     "ownerTeam": {"id": PAYMENTS_TEAM, "name": "Payments"},
     "rules": [
         {"condition": "if-not-acked", "notifyType": "default", "delay": {"timeAmount": 0, "timeUnit": "minutes"},
          "recipient": {"type": "schedule", "id": PAYMENTS_SCHEDULE, "name": "Payments primary"}},
         {"condition": "if-not-acked", "notifyType": "default", "delay": {"timeAmount": 10, "timeUnit": "minutes"},
          "recipient": {"type": "user", "id": ALICE, "username": "alice@example.com"}},
         {"condition": "if-not-acked", "notifyType": "all", "delay": {"timeAmount": 25, "timeUnit": "minutes"},
          "recipient": {"type": "team", "id": PAYMENTS_TEAM, "name": "Payments"}}],
     "repeat": {"waitInterval": 15, "count": 2, "resetRecipientStates": False, "closeAlertAfterAll": False}},
    {"id": PLATFORM_ESCALATION, "name": "Platform escalation", "description": "",
     "ownerTeam": {"id": PLATFORM_TEAM, "name": "Platform"},
     "rules": [
         {"condition": "if-not-acked", "notifyType": "default", "delay": {"timeAmount": 0, "timeUnit": "minutes"},
          "recipient": {"type": "schedule", "id": PLATFORM_SCHEDULE, "name": "Platform"}},
         {"condition": "if-not-closed", "notifyType": "next", "delay": {"timeAmount": 1, "timeUnit": "hours"},
          "recipient": {"type": "schedule", "id": PLATFORM_SCHEDULE, "name": "Platform"}},
         {"condition": "if-not-acked", "notifyType": "default", "delay": {"timeAmount": 1, "timeUnit": "hours"},
          "recipient": {"type": "user", "id": DAN, "username": "dan@example.com"}}]},
]

INTEGRATIONS = [
    {"id": "c0000000-0000-4000-8000-0000000000c1", "name": "Prometheus", "enabled": True, "type": "Prometheus",
     "teamId": PLATFORM_TEAM},
    {"id": "c0000000-0000-4000-8000-0000000000c2", "name": "Payments API", "enabled": True, "type": "API",
     "teamId": PAYMENTS_TEAM},
    {"id": "c0000000-0000-4000-8000-0000000000c3", "name": "Billing mail", "enabled": True, "type": "Email",
     "teamId": PAYMENTS_TEAM},
    {"id": "c0000000-0000-4000-8000-0000000000c4", "name": "Default API", "enabled": False, "type": "API",
     "teamId": None},
]

# Opsgenie's own answer to "who is on call on this schedule at this instant", worked
# out by hand from the fixture (see the module's docstring).
#
# Payments primary, America/New_York (summer time from Sunday 8 March 2026, 02:00):
#   Business hours, weekly from Mon 2 Feb 09:00: week k → Alice (k even), Bob (k odd);
#     week of 2 Mar is k=4 (Alice), of 9 Mar k=5 (Bob). Mon-Fri 09:00-17:00 only.
#   Nights and weekends, daily from Mon 2 Feb 17:00: day k → Carol, Dan, Erin (k mod 3);
#     the turn from 1 Mar 17:00 is k=27 (Carol), 6 Mar k=32 (Erin), 7 Mar k=33 (Carol),
#     8 Mar k=34 (Dan, from 17:00 summer time = 21:00 UTC), 10 Mar k=36 (Carol).
#   Override: Erin for Business hours, 10 Mar 14:00-18:00 UTC.
# Platform, Europe/Berlin: Follow the sun hands off at 08:00 and 20:00 Berlin, from
#   Mon 5 Jan 08:00 (Frank); Team backup (a team) adds the Platform team 18:00-22:00;
#   override Grace 3 Mar 07:00 - 4 Mar 07:00 UTC over every rotation.
ON_CALL = {
    PAYMENTS_SCHEDULE: {
        "2026-03-02T13:30:00Z": [CAROL],   # Mon 08:30 EST: still the weekend's turn (k=27)
        "2026-03-02T14:30:00Z": [ALICE],   # Mon 09:30 EST: office hours, week k=4
        "2026-03-06T20:00:00Z": [ALICE],   # Fri 15:00 EST
        "2026-03-06T22:30:00Z": [ERIN],    # Fri 17:30 EST: k=32
        "2026-03-07T17:00:00Z": [ERIN],    # Sat 12:00 EST: still k=32
        "2026-03-08T06:30:00Z": [CAROL],   # Sun 01:30 EST, before the change: k=33
        "2026-03-08T07:30:00Z": [CAROL],   # Sun 03:30 EDT, after it: k=33
        "2026-03-08T20:59:00Z": [CAROL],   # Sun 16:59 EDT: k=33 to the end
        "2026-03-08T21:30:00Z": [DAN],     # Sun 17:30 EDT: k=34 (a UTC-fixed handoff would still say Carol)
        "2026-03-09T12:30:00Z": [DAN],     # Mon 08:30 EDT: the weekend's turn until 09:00 local
        "2026-03-09T13:30:00Z": [BOB],     # Mon 09:30 EDT: office hours, week k=5
        "2026-03-10T15:00:00Z": [ERIN],    # Tue 11:00 EDT: the override
        "2026-03-10T19:00:00Z": [BOB],     # Tue 15:00 EDT: after the override
        "2026-03-10T22:30:00Z": [CAROL],   # Tue 18:30 EDT: k=36
    },
    PLATFORM_SCHEDULE: {
        "2026-03-02T08:00:00Z": [FRANK],   # Mon 09:00 CET: the day turn
        "2026-03-02T20:00:00Z": [GRACE, PLATFORM_TEAM],  # 21:00 CET: Grace's night and the team's evening
        "2026-03-03T12:00:00Z": [GRACE],   # the override
    },
}


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeOpsgenie(FakeVendorApi):
    """The fixture above behind Opsgenie's REST API. Change `self.users`, `self.teams`,
    ... between runs to play the vendor's side of a change."""

    unauthorised = {"message": "Could not authenticate", "took": 0.001}

    def __init__(self, key: str = KEY):
        super().__init__()
        self.key = key
        self.users = copy.deepcopy(USERS)
        self.contacts = copy.deepcopy(CONTACTS)
        self.notification_rules = copy.deepcopy(NOTIFICATION_RULES)
        self.teams = copy.deepcopy(TEAMS)
        self.schedules = copy.deepcopy(SCHEDULES)
        self.overrides = copy.deepcopy(OVERRIDES)
        self.escalations = copy.deepcopy(ESCALATIONS)
        self.integrations = copy.deepcopy(INTEGRATIONS)
        self.route(r"/v2/users", self.list_users)
        self.route(r"/v2/users/([^/]+)/contacts", self.list_contacts)
        self.route(r"/v2/users/([^/]+)/notification-rules", self.list_rules)
        self.route(r"/v2/users/([^/]+)/notification-rules/([^/]+)", self.get_rule)
        self.route(r"/v2/teams", self.list_teams)
        self.route(r"/v2/teams/([^/]+)", self.get_team)
        self.route(r"/v2/schedules", self.list_schedules)
        self.route(r"/v2/schedules/([^/]+)/overrides", self.list_overrides)
        self.route(r"/v2/schedules/([^/]+)/on-calls", self.on_calls)
        self.route(r"/v2/escalations", self.list_escalations)
        self.route(r"/v2/integrations", self.list_integrations)

    def authorised(self, request) -> bool:
        return request.headers.get("authorization") == f"GenieKey {self.key}"

    def answer(self, request):
        if self.rate_limited > 0:
            self.rate_limited -= 1
            raise Refusal(429, {"message": "You are making too many requests! To avoid errors, we recommend "
                                           "you limit requests.", "took": 0.001, "requestId": self._request_id()},
                          {"Retry-After": self.retry_after, "X-RateLimit-State": "THROTTLED",
                           "X-RateLimit-Reason": "ACCOUNT", "X-RateLimit-Period-In-Sec": "60"})
        return super().answer(request)

    # --- answers ------------------------------------------------------------------------

    @staticmethod
    def _request_id() -> str:
        return str(uuid.uuid4())

    def _data(self, data, **extra) -> dict:
        return {"data": data, **extra, "took": 0.012, "requestId": self._request_id()}

    @staticmethod
    def _missing(what: str) -> Refusal:
        return Refusal(404, {"message": f"No {what} exists with the given identifier.", "took": 0.002})

    def _user(self, ident: str) -> dict:
        user = next((u for u in self.users if ident in (u["id"], u["username"])), None)
        if user is None:
            raise self._missing("user")
        return user

    def list_users(self, request, match):
        def number(name, default):
            raw = request.query.get(name, [str(default)])[0]
            try:
                return int(raw)
            except ValueError:
                raise Refusal(422, {"message": f"{name} must be an integer", "took": 0.001}) from None

        offset, limit = number("offset", 0), number("limit", 20)
        if not 1 <= limit <= 100:
            raise Refusal(422, {"message": "limit must be between 1 and 100", "took": 0.001})
        if offset < 0:
            raise Refusal(422, {"message": "offset must not be negative", "took": 0.001})
        ordered = sorted(self.users, key=lambda u: u["username"])
        page = ordered[offset:offset + limit]

        def link(at):
            query = urlencode({"limit": limit, "offset": at, "sort": "username", "order": "asc"})
            return f"{self.url}/v2/users?{query}"

        paging = {"first": link(0), "last": link(max(0, (len(ordered) - 1) // limit * limit))}
        if offset + limit < len(ordered):
            paging["next"] = link(offset + limit)
        if offset > 0:
            paging["prev"] = link(max(0, offset - limit))
        return self._data(page, paging=paging, totalCount=len(ordered))

    def list_contacts(self, request, match):
        user = self._user(match.group(1))
        return self._data(self.contacts.get(user["id"], []))

    def list_rules(self, request, match):
        user = self._user(match.group(1))
        return self._data([{k: rule[k] for k in ("id", "name", "actionType", "order", "enabled")}
                           for rule in self.notification_rules.get(user["id"], [])])

    def get_rule(self, request, match):
        user = self._user(match.group(1))
        rule = next((r for r in self.notification_rules.get(user["id"], []) if r["id"] == match.group(2)), None)
        if rule is None:
            raise self._missing("notification rule")
        return self._data(rule)

    def list_teams(self, request, match):
        return self._data([{k: team[k] for k in ("id", "name", "description")} for team in self.teams])

    def get_team(self, request, match):
        team = next((t for t in self.teams if match.group(1) in (t["id"], t["name"])), None)
        if team is None:
            raise self._missing("team")
        return self._data(team)

    def list_schedules(self, request, match):
        expand = "rotation" in ",".join(request.query.get("expand", []))
        data = [s if expand else {k: v for k, v in s.items() if k != "rotations"} for s in self.schedules]
        return self._data(data, expandable=["rotation"])

    def _schedule(self, ident: str) -> dict:
        schedule = next((s for s in self.schedules if ident in (s["id"], s["name"])), None)
        if schedule is None:
            raise self._missing("schedule")
        return schedule

    def list_overrides(self, request, match):
        schedule = self._schedule(match.group(1))
        parent = {"id": schedule["id"], "name": schedule["name"], "enabled": schedule["enabled"]}
        return self._data([{"_parent": parent, **o} for o in self.overrides.get(schedule["id"], [])])

    def on_calls(self, request, match):
        schedule = self._schedule(match.group(1))
        raw = request.query.get("date", [""])[0]
        try:
            at = datetime.fromisoformat(raw.replace(" ", "+"))
        except ValueError:
            raise Refusal(422, {"message": "date must be like 2017-01-15T08:00:00+02:00", "took": 0.001}) from None
        answers = ON_CALL.get(schedule["id"], {})
        key = _iso(at.astimezone(UTC))
        if key not in answers:
            raise Refusal(500, {"message": f"the fake has no answer written down for {key}", "took": 0.001})
        participants = []
        for ident in answers[key]:
            team = next((t for t in self.teams if t["id"] == ident), None)
            if team is not None:
                participants.append({"id": ident, "name": team["name"], "type": "team"})
            else:
                participants.append({"id": ident, "name": self._user(ident)["username"], "type": "user"})
        parent = {"id": schedule["id"], "name": schedule["name"], "enabled": schedule["enabled"]}
        if request.query.get("flat", ["false"])[0] == "true":
            return self._data({"_parent": parent, "onCallRecipients": [p["name"] for p in participants]})
        return self._data({"_parent": parent, "onCallParticipants": participants})

    def list_escalations(self, request, match):
        return self._data(self.escalations)

    def list_integrations(self, request, match):
        return self._data(self.integrations)
