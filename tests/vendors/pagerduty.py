"""A loopback PagerDuty REST API v2, serving a small but realistic organisation.

Built from PagerDuty's published reference, the OpenAPI document in the public
repository PagerDuty/api-schema (reference/REST/openapiv3.json, 2026-08 snapshot),
and its knowledge base where the document is silent:

- Authentication: `Authorization: Token token=<API_KEY>` (components.securitySchemes.
  api_key); anything else is 401 with the error body of components.responses.
  Unauthorized (`{"error": {"message": ..., "code": ...}}`). The versioning header
  `Accept: application/vnd.pagerduty+json;version=2` is recorded for the tests.
- Classic pagination (components.schemas.Pagination, the `limit`/`offset`/`total`
  parameters of every list): `offset` and `limit` in, `limit`, `offset`, `more` and
  `total` echoed; `total` is null unless `total=true` is asked; a `limit` above 100 is
  answered with 100 (`max_limit`, which a test lowers to force several pages); offset
  + limit past 10,000 is refused with 400, as classic pagination's ceiling is.
- Rate limits: 429 (components.responses.TooManyRequests, body `{"error": {"message":
  "Rate Limit Exceeded", ...}}`) with `Retry-After`, from FakeVendorApi.rate_limited.
- Shapes: GET /users with include[]=contact_methods,notification_rules (schemas User,
  EmailContactMethod, PhoneContactMethod with `country_code`, NotificationRule with
  `start_delay_in_minutes`, `urgency`, `contact_method`); GET /teams and
  /teams/{id}/members (`{"members": [{"user": ..., "role": "manager"|"responder"|
  "observer"}]}`); GET /schedules and /schedules/{id} (schemas Schedule,
  ScheduleLayer with `start`, `end`, `rotation_virtual_start`,
  `rotation_turn_length_seconds`, `users[].user`, `restrictions` (Restriction,
  WeeklyRestriction: `start_day_of_week` 1 = Monday), and with since/until the
  `final_schedule.rendered_schedule_entries` (SubSchedule, ScheduleLayerEntry),
  clipped to the range unless overflow=true); GET /schedules/{id}/overrides
  (required since/until, `{"overrides": [...]}`, not paginated); GET
  /escalation_policies (EscalationPolicy: `num_loops`, `escalation_rules[]` with
  `escalation_delay_in_minutes`, `escalation_rule_assignment_strategy`, `targets` of
  type user_reference / schedule_reference); GET /services with include[]=integrations
  (Service: `acknowledgement_timeout`, `auto_resolve_timeout` in seconds, `status`,
  `escalation_policy`, `teams`, `integrations`); GET /maintenance_windows with
  `filter` (past, future, ongoing, open, all) and `services`; GET /oncalls with
  `schedule_ids[]`, `since`, `until` (schema Oncall: `escalation_policy`,
  `escalation_level`, `schedule`, `user`, `start`, `end`, the whole on-call period).
  An integration's `integration_key` is not in the document's Integration schema but
  is what the API returns for Events API integrations (Terraform's
  pagerduty_service_integration exports it as `integration_key`).
- Layer order: GET returns a schedule's layers in the reverse of the order POST/PUT
  take them (PagerDuty's public support script "Schedule Layer Reorganizer": "GET
  requests for schedules show schedule layers in reverse order to PUT and POST
  requests"); in the web app the last layer wins ("In a schedule with multiple layers
  ... the user on Layer 2 will be the one on-call", knowledge base, Schedule Basics).
  So the first layer a GET lists wins.

Who is on call (`final_schedule`) is computed here, independently of Firebreak, by
PagerDuty's documented semantics: overrides win; otherwise the first listed layer
that is in force (start <= t < end) and whose restrictions hold t names the user of
its turn. Turn k of a layer starts at rotation_virtual_start + k turns, counted on the
wall clock of the schedule's zone when the turn is whole days (handoffs stay at the
local hand-off time across daylight-saving changes, as the knowledge base's Time Zone
Settings page says schedules follow their zone), in elapsed seconds otherwise; turn k
belongs to users[k mod n]. Restrictions are windows of local time of day (daily) or of
the week (weekly). The answer is swept minute by minute and merged, which is exact for
fixtures whose boundaries fall on whole minutes.
"""
from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app import clock
from tests.vendors.base import FakeVendorApi, Refusal

API_KEY = "u+PdFakeReadOnlyKey1"
BASE = "https://api.pagerduty.com"


def ref(kind: str, ident: str, summary: str) -> dict:
    path = {"user": "users", "team": "teams", "schedule": "schedules", "escalation_policy": "escalation_policies",
            "service": "services"}[kind]
    return {"id": ident, "type": f"{kind}_reference", "summary": summary, "self": f"{BASE}/{path}/{ident}",
            "html_url": f"https://acme.pagerduty.com/{path}/{ident}"}


def _cm(ident, kind, label, address, country_code=None):
    method = {"id": ident, "type": kind, "summary": label, "label": label, "address": address}
    if country_code is not None:
        method.update(country_code=country_code, enabled=True, blacklisted=False)
    if kind == "email_contact_method":
        method["send_short_email"] = False
    return method


def _rule(ident, delay, method, urgency="high"):
    return {"id": ident, "type": "assignment_notification_rule", "start_delay_in_minutes": delay,
            "urgency": urgency,
            "contact_method": {"id": method["id"], "type": method["type"] + "_reference", "summary": method["label"]}}


def organisation() -> dict:
    """The fixture: six people, two teams, three schedules (one in New York and one in
    Berlin, both of which change to summer time in March 2026), three policies,
    three services with their integrations, two maintenance windows."""
    people = []

    def person(ident, name, email, zone, role, methods, rules, teams):
        user = {"id": ident, "type": "user", "summary": name, "self": f"{BASE}/users/{ident}",
                "html_url": f"https://acme.pagerduty.com/users/{ident}", "name": name, "email": email,
                "time_zone": zone, "color": "green", "role": role, "description": "", "job_title": "",
                "invitation_sent": False, "created_via_sso": False, "contact_methods": methods,
                "notification_rules": rules, "teams": teams}
        people.append(user)
        return user

    payments, platform = ref("team", "PTPAY01", "Payments"), ref("team", "PTPLA02", "Platform")
    a_mail = _cm("PCMA001", "email_contact_method", "Work", "ada@example.com")
    a_sms = _cm("PCMA002", "sms_contact_method", "Mobile", "301234567", 49)
    a_call = _cm("PCMA003", "phone_contact_method", "Mobile", "301234567", 49)
    ada = person("PUADA01", "Ada Lovelace", "ada@example.com", "Europe/Berlin", "admin", [a_mail, a_sms, a_call],
                 [_rule("PNRA001", 0, a_sms), _rule("PNRA002", 2, a_call), _rule("PNRA003", 5, a_mail),
                  _rule("PNRA004", 0, a_mail, "low")], [payments])
    b_mail = _cm("PCMB001", "email_contact_method", "Work", "bob@example.com")
    b_sms = _cm("PCMB002", "sms_contact_method", "Mobile", "2125550101", 1)
    b_call = _cm("PCMB003", "phone_contact_method", "Mobile", "2125550101", 1)
    bob = person("PUBOB02", "Bob Kahn", "bob@example.com", "America/New_York", "user", [b_mail, b_sms, b_call],
                 [_rule("PNRB001", 0, b_sms), _rule("PNRB002", 3, b_mail), _rule("PNRB003", 0, b_mail, "low")],
                 [payments])
    c_mail = _cm("PCMC001", "email_contact_method", "Work", "carol@example.com")
    c_call = _cm("PCMC002", "phone_contact_method", "Desk", "2125550199", 1)
    c_push = {"id": "PCMC003", "type": "push_notification_contact_method", "summary": "iPhone", "label": "iPhone",
              "address": "4f1c…", "device_type": "ios", "created_at": "2025-06-01T10:00:00Z"}
    carol = person("PUCAR03", "Carol Shaw", "carol@example.com", "America/New_York", "user",
                   [c_mail, c_call, c_push],
                   [_rule("PNRC001", 0, c_push), _rule("PNRC002", 1, c_call), _rule("PNRC003", 0, c_mail, "low")],
                   [payments])
    d_mail = _cm("PCMD001", "email_contact_method", "Work", "dan@example.com")
    dan = person("PUDAN04", "Dan Bricklin", "dan@example.com", "Europe/Berlin", "limited_user", [d_mail],
                 [_rule("PNRD001", 0, d_mail)], [platform])
    e_mail = _cm("PCME001", "email_contact_method", "Work", "eve@example.com")
    person("PUEVE05", "Eve Andersson", "eve@example.com", "Etc/UTC", "observer", [e_mail], [], [platform])
    f_mail = _cm("PCMF001", "email_contact_method", "Work", "frank@example.com")
    f_sms = _cm("PCMF002", "sms_contact_method", "Mobile", "7700900123", 44)
    f_whatsapp = _cm("PCMF003", "whatsapp_contact_method", "WhatsApp", "7700900123", 44)
    frank = person("PUFRA06", "Frank Oz", "frank@example.com", "Europe/London", "user", [f_mail, f_sms, f_whatsapp],
                   [_rule("PNRF001", 0, f_sms), _rule("PNRF002", 0, f_whatsapp), _rule("PNRF003", 4, f_mail)],
                   [platform])

    def uref(user):
        return ref("user", user["id"], user["name"])

    teams = [
        {"id": "PTPAY01", "type": "team", "summary": "Payments", "name": "Payments",
         "description": "Checkout and money movement", "default_role": "manager",
         "members": [(ada, "manager"), (bob, "responder"), (carol, "responder")]},
        {"id": "PTPLA02", "type": "team", "summary": "Platform", "name": "Platform", "description": "",
         "default_role": "manager", "members": [(dan, "manager"), (frank, "responder"),
                                                (people[4], "observer")]},
    ]

    def layer(ident, name, start, virtual_start, turn, users, restrictions=(), end=None):
        return {"id": ident, "name": name, "start": start, "end": end, "rotation_virtual_start": virtual_start,
                "rotation_turn_length_seconds": turn, "users": [{"user": uref(u)} for u in users],
                "restrictions": list(restrictions)}

    daily = lambda start, seconds: {"type": "daily_restriction", "start_time_of_day": start,  # noqa: E731
                                    "duration_seconds": seconds}
    weekly = lambda day, start, seconds: {"type": "weekly_restriction", "start_day_of_week": day,  # noqa: E731
                                          "start_time_of_day": start, "duration_seconds": seconds}
    schedules = [
        {"id": "PSNYC01", "name": "Payments Primary", "time_zone": "America/New_York",
         "description": "Weeks handed over on Monday 07:00 New York time; days covered by the daytime pair",
         "teams": [payments],
         # Listed as GET lists them: the first wins.
         "schedule_layers": [
             layer("PLNY002", "Daytime", "2026-01-05T08:00:00-05:00", "2026-01-05T08:00:00-05:00", 86400,
                   [bob, carol], [daily("08:00:00", 36000)]),
             layer("PLNY001", "Weekly", "2026-01-05T07:00:00-05:00", "2026-01-05T07:00:00-05:00", 604800,
                   [ada, bob, carol]),
         ],
         "overrides": [{"id": "POVNY01", "start": "2026-03-10T18:00:00-04:00", "end": "2026-03-11T06:00:00-04:00",
                        "user": uref(frank)}]},
        {"id": "PSBER02", "name": "Platform", "time_zone": "Europe/Berlin", "description": "", "teams": [platform],
         "schedule_layers": [
             layer("PLBE002", "Weekend", "2026-02-28T00:00:00+01:00", "2026-02-28T00:00:00+01:00", 604800,
                   [frank, dan], [weekly(6, "00:00:00", 2 * 86400)]),
             layer("PLBE001", "Weekdays", "2026-03-02T10:00:00+01:00", "2026-03-01T10:00:00+01:00", 2 * 86400,
                   [dan, frank, ada], [weekly(1, "00:00:00", 5 * 86400)]),
         ],
         "overrides": []},
        {"id": "PSUTC03", "name": "Database", "time_zone": "UTC", "description": "Twelve-hour shifts",
         "teams": [payments],
         "schedule_layers": [
             layer("PLDB002", "Follow the sun", "2026-02-01T00:00:00Z", "2026-02-01T06:00:00Z", 43200, [ada, bob]),
             layer("PLDB001", "Old rotation", "2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z", 86400, [carol],
                   end="2026-02-01T00:00:00Z"),
         ],
         "overrides": []},
    ]
    sched = {s["id"]: ref("schedule", s["id"], s["name"]) for s in schedules}

    def rule(ident, delay, targets, strategy="assign_to_everyone"):
        return {"id": ident, "escalation_delay_in_minutes": delay, "targets": targets,
                "escalation_rule_assignment_strategy": strategy}

    policies = [
        {"id": "PEPAY01", "type": "escalation_policy", "summary": "Payments", "name": "Payments",
         "description": "Primary, then the leads", "num_loops": 2, "on_call_handoff_notifications": "if_has_services",
         "escalation_rules": [rule("PERP001", 15, [sched["PSNYC01"]]),
                              rule("PERP002", 30, [uref(ada), uref(bob)])],
         "teams": [payments]},
        {"id": "PEPLA02", "type": "escalation_policy", "summary": "Platform", "name": "Platform", "description": "",
         "num_loops": 0, "on_call_handoff_notifications": "always",
         "escalation_rules": [rule("PERL001", 10, [sched["PSBER02"], sched["PSUTC03"]], "round_robin"),
                              rule("PERL002", 20, [uref(frank)])],
         "teams": [platform]},
        {"id": "PEDB003", "type": "escalation_policy", "summary": "Database", "name": "Database", "description": "",
         "num_loops": 12, "on_call_handoff_notifications": "if_has_services",
         "escalation_rules": [rule("PERD001", 5, [sched["PSUTC03"]])], "teams": [payments, platform]},
    ]
    ep = {p["id"]: ref("escalation_policy", p["id"], p["name"]) for p in policies}

    def integration(ident, service, kind, name, **extra):
        return {"id": ident, "type": kind, "summary": name, "name": name,
                "self": f"{BASE}/services/{service}/integrations/{ident}",
                "service": {"id": service, "type": "service_reference"}, "created_at": "2025-09-01T10:00:00Z",
                **extra}

    services = [
        {"id": "PSVCHK1", "name": "Checkout API", "description": "Takes the money",
         "auto_resolve_timeout": 14400, "acknowledgement_timeout": 1800, "status": "active",
         "escalation_policy": ep["PEPAY01"], "teams": [payments], "alert_creation": "create_alerts_and_incidents",
         "integrations": [
             integration("PINT001", "PSVCHK1", "events_api_v2_inbound_integration", "Prometheus",
                         integration_key="6f2b1c9a0d4e4f7a8b3c2d1e0f9a8b7c"),
             integration("PINT002", "PSVCHK1", "generic_email_inbound_integration", "Support inbox",
                         integration_email="checkout@acme.pagerduty.com"),
             integration("PINT003", "PSVCHK1", "generic_events_api_inbound_integration", "Old cron jobs",
                         integration_key="0123456789abcdef0123456789abcdef"),
         ]},
        {"id": "PSVDB02", "name": "Payments DB", "description": "", "auto_resolve_timeout": None,
         "acknowledgement_timeout": 600, "status": "active", "escalation_policy": ep["PEDB003"],
         "teams": [payments], "alert_creation": "create_alerts_and_incidents",
         "integrations": [integration("PINT004", "PSVDB02", "events_api_v2_inbound_integration", "Datadog",
                                      integration_key="c0ffee00c0ffee00c0ffee00c0ffee00")]},
        {"id": "PSVSR03", "name": "Search", "description": "Search cluster", "auto_resolve_timeout": None,
         "acknowledgement_timeout": None, "status": "disabled", "escalation_policy": ep["PEPLA02"],
         "teams": [platform], "alert_creation": "create_alerts_and_incidents",
         "integrations": [integration("PINT005", "PSVSR03", "events_api_v2_inbound_integration", "Alertmanager",
                                      integration_key="5e4d3c2b1a0f5e4d3c2b1a0f5e4d3c2b")]},
    ]
    windows = [
        {"id": "PMWDB01", "type": "maintenance_window", "sequence_number": 2, "start_time": "2026-03-20T02:00:00Z",
         "end_time": "2026-03-20T04:00:00Z", "description": "Payments DB upgrade to 17",
         "services": [ref("service", "PSVDB02", "Payments DB")], "teams": [payments], "created_by": uref(ada)},
        {"id": "PMWOLD2", "type": "maintenance_window", "sequence_number": 1, "start_time": "2026-01-10T02:00:00Z",
         "end_time": "2026-01-10T03:00:00Z", "description": "Search reindex",
         "services": [ref("service", "PSVSR03", "Search")], "teams": [platform], "created_by": uref(dan)},
    ]
    return {"users": people, "teams": teams, "schedules": schedules, "escalation_policies": policies,
            "services": services, "maintenance_windows": windows}


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def iso(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).isoformat()


class FakePagerDuty(FakeVendorApi):
    unauthorised = {"error": {"message": "Unauthorized", "code": 2006}}
    throttled = {"error": {"message": "Rate Limit Exceeded", "code": 2020}}
    max_limit = 100

    def __init__(self, api_key: str = API_KEY):
        super().__init__()
        self.api_key = api_key
        self.data = organisation()
        self.route(r"/users", self.users)
        self.route(r"/teams", lambda r, m: self.page(r, "teams", [self.team_body(t) for t in self.data["teams"]]))
        self.route(r"/teams/(\w+)/members", self.members)
        self.route(r"/schedules", self.schedules)
        self.route(r"/schedules/(\w+)", self.schedule)
        self.route(r"/schedules/(\w+)/overrides", self.overrides)
        self.route(r"/escalation_policies",
                   lambda r, m: self.page(r, "escalation_policies", copy.deepcopy(self.data["escalation_policies"])))
        self.route(r"/services", self.services)
        self.route(r"/maintenance_windows", self.maintenance_windows)
        self.route(r"/oncalls", self.oncalls)

    def authorised(self, request) -> bool:
        return request.headers.get("authorization") == f"Token token={self.api_key}"

    # --- pagination ----------------------------------------------------------------

    def page(self, request, key: str, items: list) -> dict:
        try:
            offset = int(request.query.get("offset", ["0"])[0])
            limit = int(request.query.get("limit", ["25"])[0])
        except ValueError:
            raise Refusal(400, {"error": {"message": "Invalid Input Provided", "code": 2001,
                                          "errors": ["offset and limit must be integers"]}}) from None
        if offset < 0 or limit < 1:
            raise Refusal(400, {"error": {"message": "Invalid Input Provided", "code": 2001,
                                          "errors": ["offset and limit must be positive"]}})
        limit = min(limit, self.max_limit)
        if offset + limit > 10_000:
            raise Refusal(400, {"error": {"message": "Invalid Input Provided", "code": 2001,
                                          "errors": ["Offset must be less than 10000"]}})
        total = request.query.get("total", ["false"])[0] == "true"
        return {key: items[offset:offset + limit], "limit": limit, "offset": offset,
                "more": offset + limit < len(items), "total": len(items) if total else None}

    @staticmethod
    def includes(request) -> set[str]:
        return set(request.query.get("include[]", []))

    # --- resources -------------------------------------------------------------------

    def users(self, request, match):
        include = self.includes(request)
        result = []
        for user in self.data["users"]:
            body = copy.deepcopy(user)
            if "contact_methods" not in include:
                body["contact_methods"] = [{"id": m["id"], "type": m["type"] + "_reference", "summary": m["label"]}
                                           for m in user["contact_methods"]]
            if "notification_rules" not in include:
                body["notification_rules"] = [{"id": r["id"], "type": "assignment_notification_rule_reference",
                                               "summary": "Default"} for r in user["notification_rules"]]
            result.append(body)
        return self.page(request, "users", result)

    @staticmethod
    def team_body(team: dict) -> dict:
        return {k: v for k, v in team.items() if k != "members"}

    def members(self, request, match):
        team = self._find("teams", match.group(1))
        return self.page(request, "members", [{"user": ref("user", u["id"], u["name"]), "role": role}
                                              for u, role in team["members"]])

    def _find(self, kind: str, ident: str) -> dict:
        for item in self.data[kind]:
            if item["id"] == ident:
                return item
        raise Refusal(404, {"error": {"message": "Not Found", "code": 2100}})

    def _schedule_body(self, schedule: dict) -> dict:
        body = {k: copy.deepcopy(v) for k, v in schedule.items() if k != "overrides"}
        body.update(type="schedule", summary=schedule["name"], self=f"{BASE}/schedules/{schedule['id']}")
        return body

    def schedules(self, request, match):
        return self.page(request, "schedules", [self._schedule_body(s) for s in self.data["schedules"]])

    def schedule(self, request, match):
        schedule = self._find("schedules", match.group(1))
        body = self._schedule_body(schedule)
        since, until = request.query.get("since", [None])[0], request.query.get("until", [None])[0]
        if since or until:
            start = instant(since) if since else instant(until) - timedelta(days=14)
            end = instant(until) if until else start + timedelta(days=14)
            zone = ZoneInfo(request.query.get("time_zone", [schedule["time_zone"]])[0])
            overflow = request.query.get("overflow", ["false"])[0] == "true"
            entries = self.final_entries(schedule, start, end, overflow)
            body["final_schedule"] = {"name": "Final Schedule", "rendered_schedule_entries": [
                {"start": iso(a, zone), "end": iso(b, zone), "user": ref("user", u, self._name(u))}
                for a, b, u in entries]}
        return {"schedule": body}

    def overrides(self, request, match):
        schedule = self._find("schedules", match.group(1))
        if "since" not in request.query or "until" not in request.query:
            raise Refusal(400, {"error": {"message": "Invalid Input Provided", "code": 2001,
                                          "errors": ["since and until are required"]}})
        since, until = instant(request.query["since"][0]), instant(request.query["until"][0])
        return {"overrides": [copy.deepcopy(o) for o in schedule["overrides"]
                              if instant(o["start"]) < until and instant(o["end"]) > since]}

    def services(self, request, match):
        result = []
        for service in self.data["services"]:
            body = copy.deepcopy(service)
            body.update(type="service", summary=service["name"], self=f"{BASE}/services/{service['id']}")
            if "integrations" not in self.includes(request):
                body["integrations"] = [{"id": i["id"], "type": i["type"] + "_reference", "summary": i["name"],
                                         "self": i["self"]} for i in service["integrations"]]
            result.append(body)
        return self.page(request, "services", result)

    def maintenance_windows(self, request, match):
        wanted = request.query.get("filter", ["all"])[0]
        now = clock.now()

        def state(window):
            start, end = instant(window["start_time"]), instant(window["end_time"])
            return "past" if end <= now else "ongoing" if start <= now else "future"

        keep = {"all": {"past", "ongoing", "future"}, "open": {"ongoing", "future"}}.get(wanted, {wanted})
        return self.page(request, "maintenance_windows",
                         [copy.deepcopy(w) for w in self.data["maintenance_windows"] if state(w) in keep])

    def oncalls(self, request, match):
        """GET /oncalls (schema Oncall): one entry per escalation policy level whose rule
        targets a schedule (filtered by schedule_ids[]), for each on-call period that
        overlaps [since, until] (both default to now), with the period's whole extent."""
        since = instant(request.query["since"][0]) if "since" in request.query else clock.now()
        until = instant(request.query["until"][0]) if "until" in request.query else since
        if until < since:
            raise Refusal(400, {"error": {"message": "Invalid Input Provided", "code": 2001,
                                          "errors": ["until cannot be before since"]}})
        wanted = set(request.query.get("schedule_ids[]", []))
        result = []
        for policy in self.data["escalation_policies"]:
            for level, rule in enumerate(policy["escalation_rules"], start=1):
                for target in rule["targets"]:
                    if target["type"] != "schedule_reference" or (wanted and target["id"] not in wanted):
                        continue
                    schedule = self._find("schedules", target["id"])
                    zone = ZoneInfo(schedule["time_zone"])
                    until_or_a_minute = max(until, since + timedelta(minutes=1))
                    for start, end, user in self.final_entries(schedule, since, until_or_a_minute, overflow=True):
                        result.append({"escalation_policy": ref("escalation_policy", policy["id"], policy["name"]),
                                       "escalation_level": level, "schedule": copy.deepcopy(target),
                                       "user": ref("user", user, self._name(user)),
                                       "start": iso(start, zone), "end": iso(end, zone)})
        return self.page(request, "oncalls", result)

    def _name(self, user_id: str) -> str:
        return next(u["name"] for u in self.data["users"] if u["id"] == user_id)

    # --- who is on call, by PagerDuty's rules ------------------------------------------------

    def on_call(self, schedule: dict, at: datetime) -> str | None:
        """The user id on call on `schedule` at `at`, or None."""
        for override in schedule["overrides"]:
            if instant(override["start"]) <= at < instant(override["end"]):
                return override["user"]["id"]
        zone = ZoneInfo(schedule["time_zone"])
        for layer in schedule["schedule_layers"]:
            if at < instant(layer["start"]) or (layer["end"] and at >= instant(layer["end"])):
                continue
            if layer["restrictions"] and not any(_holds(r, at, zone) for r in layer["restrictions"]):
                continue
            users = [entry["user"]["id"] for entry in layer["users"]]
            return users[_turn(layer, at, zone) % len(users)]
        return None

    def final_entries(self, schedule: dict, start: datetime, end: datetime, overflow: bool = False):
        """[(start, end, user id)] of the final schedule in [start, end), swept by minute."""
        step = timedelta(minutes=1)
        entries: list[list] = []
        at = start
        while at < end:
            user = self.on_call(schedule, at)
            following = min(at.replace(second=0, microsecond=0) + step, end)
            if user is not None:
                if entries and entries[-1][2] == user and entries[-1][1] == at:
                    entries[-1][1] = following
                else:
                    entries.append([at, following, user])
            at = following
        if overflow and entries:  # whole shifts, looking up to two weeks either side
            first, last = entries[0], entries[-1]
            reach = timedelta(days=14)
            while first[0] > start - reach and self.on_call(schedule, first[0] - step) == first[2]:
                first[0] -= step
            while last[1] < end + reach and self.on_call(schedule, last[1]) == last[2]:
                last[1] += step
        return [tuple(e) for e in entries]


def _turn(layer: dict, at: datetime, zone: ZoneInfo) -> int:
    virtual = instant(layer["rotation_virtual_start"])
    length = layer["rotation_turn_length_seconds"]
    if length % 86400:
        return int((at - virtual).total_seconds() // length)
    local = at.astimezone(zone).replace(tzinfo=None)
    origin = virtual.astimezone(zone).replace(tzinfo=None)
    k = int((local - origin).total_seconds() // length)
    days = length // 86400
    # Step to the turn whose wall-clock start is the last one at or before `at`.
    while (origin + timedelta(days=days * (k + 1))).replace(tzinfo=zone) <= at:
        k += 1
    while (origin + timedelta(days=days * k)).replace(tzinfo=zone) > at:
        k -= 1
    return k


def _holds(restriction: dict, at: datetime, zone: ZoneInfo) -> bool:
    local = at.astimezone(zone)
    hours, minutes, seconds = (int(x) for x in restriction["start_time_of_day"].split(":"))
    start_of_day = hours * 3600 + minutes * 60 + seconds
    now_of_day = local.hour * 3600 + local.minute * 60 + local.second
    if restriction["type"] == "daily_restriction":
        return (now_of_day - start_of_day) % 86400 < restriction["duration_seconds"]
    start = (restriction["start_day_of_week"] - 1) * 86400 + start_of_day
    now = local.weekday() * 86400 + now_of_day
    return (now - start) % (7 * 86400) < restriction["duration_seconds"]
