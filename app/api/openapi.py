"""The OpenAPI 3.1 document for /api/v1, served at /api/v1/openapi.json.

Written by hand beside the views and the shapes in app/api/schemas.py; the tests
compare its paths with the URL map and check every real answer of every route
against it, so it cannot drift unnoticed. Response schemas forbid fields they do
not name, which keeps the document complete as well as correct.
"""
from __future__ import annotations

from functools import cache

from flask import jsonify

from app.api.inputs import DEFAULT_PER_PAGE, MAX_ID, MAX_PAGE, MAX_PER_PAGE
from app.api.spec import API_TAGS, generated_paths
from app.api.views import bp
from app.incidents.service import MAX_NOTE, MAX_TITLE
from app.web import public

SCHEMAS = "#/components/schemas/"


def ref(name: str) -> dict:
    return {"$ref": SCHEMAS + name}


def nullable(schema: dict) -> dict:
    """`schema` or null (JSON Schema 2020-12, as OpenAPI 3.1 uses)."""
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    kind = schema["type"]
    nulled = {**schema, "type": [*(kind if isinstance(kind, list) else [kind]), "null"]}
    if "enum" in schema and None not in schema["enum"]:  # else the enum still refuses null
        nulled["enum"] = [*schema["enum"], None]
    return nulled


def obj(properties: dict, *, optional: tuple[str, ...] = (), description: str | None = None) -> dict:
    """An object with exactly these properties, all present unless named `optional`."""
    schema = {"type": "object", "properties": properties,
              "required": [name for name in properties if name not in optional],
              "additionalProperties": False}
    if description:
        schema["description"] = description
    return schema


TIME = {"type": "string", "format": "date-time", "description": "ISO 8601, UTC, e.g. 2026-03-01T09:30:00Z"}
ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
SEVERITY_NUMBER = {"type": "integer", "minimum": 1, "maximum": 4,
                   "description": "1 is SEV-1 (critical) … 4 is SEV-4 (low)"}
SEVERITY_INPUT = {
    "description": "1 to 4, or the severity's name: \"SEV-1\" to \"SEV-4\".",
    "oneOf": [SEVERITY_NUMBER, {"type": "string", "pattern": "^[Ss][Ee][Vv]-?[1-4]$"}],
}
REF = obj({"id": ID, "name": {"type": "string"}})
STATUS = {"type": "string", "enum": ["triggered", "acknowledged", "resolved"]}
LINKS = {"type": "array", "items": obj({"href": {"type": "string"}, "text": {"type": "string"}})}

INCIDENT = obj({
    "id": ID,
    "ref": {"type": "string", "examples": ["#42"]},
    "title": {"type": "string", "maxLength": MAX_TITLE},
    "description": {"type": "string"},
    "status": STATUS,
    "severity": SEVERITY_NUMBER,
    "severity_name": {"type": "string", "enum": ["SEV-1", "SEV-2", "SEV-3", "SEV-4"]},
    "severity_label": {"type": "string", "examples": ["Critical"]},
    "initial_severity": SEVERITY_NUMBER,
    "urgency": {"type": "string", "enum": ["high", "low"]},
    "service": ref("ServiceRef"),
    "source": {"type": "string", "description": "How it was opened: alert, web, api, triage, sms."},
    "is_exercise": {"type": "boolean"},
    "created_at": TIME,
    "updated_at": TIME,
    "version": {"type": "integer", "description": "Goes up with every change."},
    "impact_started_at": nullable(TIME),
    "detected_at": TIME,
    "acknowledged_at": nullable(TIME),
    "mitigated_at": nullable(TIME),
    "resolved_at": nullable(TIME),
    "response_due_at": {**TIME, "description": "Detection plus the severity's response objective."},
    "resolution_due_at": {**TIME, "description": "Detection plus the severity's resolution objective."},
    "declared_by": nullable(ref("PersonRef")),
    "acknowledged_by": nullable(ref("PersonRef")),
    "resolved_by": nullable(ref("PersonRef")),
    "merged_into_id": nullable(ID),
})

TIMELINE_EVENT = obj({
    "id": ID,
    "incident_id": ID,
    "at": TIME,
    "kind": {"type": "string", "examples": ["opened", "acknowledged", "resolved", "severity_changed", "note"]},
    "actor": obj({"kind": {"type": "string", "enum": ["user", "api_token", "integration", "system"]},
                  "label": {"type": "string"}, "user_id": nullable(ID)}),
    "via": nullable({"type": "string", "description": "web, api, sms, voice, integration, engine, …"}),
    "text": {"type": "string"},
    "data": nullable({"type": "object"}),
})

ALERT_FIELDS = {
    "id": ID,
    "service": ref("ServiceRef"),
    "incident_id": nullable(ID),
    "dedup_key": {"type": "string"},
    "status": STATUS,
    "origin": {"type": "string", "examples": ["events_v2", "alertmanager", "heartbeat"]},
    "severity": {"type": "string", "enum": ["critical", "error", "warning", "info"]},
    "summary": {"type": "string"},
    "source": {"type": "string"},
    "component": nullable({"type": "string"}),
    "group": nullable({"type": "string"}),
    "class": nullable({"type": "string"}),
    "client": nullable({"type": "string"}),
    "client_url": nullable({"type": "string"}),
    "suppressed": nullable({"type": "string", "description": "Why it opened no incident (info, maintenance, …)."}),
    "occurrences": {"type": "integer", "minimum": 1},
    "event_at": nullable(TIME),
    "created_at": TIME,
    "last_seen_at": TIME,
    "acknowledged_at": nullable(TIME),
    "resolved_at": nullable(TIME),
}
ALERT_DETAIL_FIELDS = {
    **ALERT_FIELDS,
    "custom_details": nullable({"type": "object"}),
    "links": LINKS,
    "images": {"type": "array", "items": obj({"src": {"type": "string"}, "href": {"type": "string"},
                                              "alt": {"type": "string"}})},
}

MAPPING_LEVEL = nullable(SEVERITY_NUMBER)
SEVERITY_MAPPING = {
    "type": "object",
    "description": "Event severity → incident severity; null records the alert without opening an incident.",
    "properties": {name: MAPPING_LEVEL for name in ("critical", "error", "warning", "info")},
    "additionalProperties": False,
}
SERVICE_FIELDS = {
    "id": ID,
    "name": {"type": "string", "maxLength": 120},
    "description": {"type": "string"},
    "team": nullable(ref("TeamRef")),
    "severity_mapping": {**SEVERITY_MAPPING, "required": ["critical", "error", "warning", "info"]},
    "active": {"type": "boolean"},
    "alert_grouping": {"type": "string", "enum": ["per_alert", "grouped"]},
    "resolve_with_alerts": {"type": "boolean"},
    "ack_timeout_minutes": nullable({"type": "integer"}),
    "auto_resolve_minutes": nullable({"type": "integer"}),
    "created_at": TIME,
}

INTEGRATION_KEY = obj({
    "id": ID,
    "service_id": ID,
    "name": {"type": "string"},
    "key": nullable({"type": "string", "pattern": "^[0-9a-zA-Z]{32}$",
                     "description": "The routing key, for responders and admins; null for viewers."}),
    "key_prefix": {"type": "string", "description": "The key's first six characters."},
    "active": {"type": "boolean"},
    "created_at": TIME,
    "revoked_at": nullable(TIME),
})

CHANGE_EVENT = obj({
    "id": ID,
    "service": ref("ServiceRef"),
    "summary": {"type": "string"},
    "source": nullable({"type": "string"}),
    "at": {**TIME, "description": "When the change happened."},
    "received_at": TIME,
    "custom_details": nullable({"type": "object"}),
    "links": LINKS,
})

ERROR = obj({
    "type": {"type": "string", "description": "about:blank: the status says what kind of problem it is."},
    "title": {"type": "string", "description": "The status's phrase, e.g. Bad Request."},
    "status": {"type": "integer", "minimum": 400, "maximum": 599},
    "detail": {"type": "string", "description": "What was wrong, for people."},
    "error": {"type": "string", "deprecated": True,
              "description": "The same as `detail`, for clients written before problem details."},
    "errors": {"type": "array", "description": "Each problem with the input, when there are any to list.",
               "items": obj({"detail": {"type": "string"},
                             "pointer": {"type": "string", "description": "JSON Pointer to the body field."},
                             "parameter": {"type": "string", "description": "The query parameter."}},
                            optional=("pointer", "parameter"))}},
    optional=("errors",), description="RFC 9457 problem details.")


ME = obj({"id": ID, "name": {"type": "string"}, "email": {"type": "string"},
          "role": {"type": "string", "enum": ["admin", "responder", "viewer"]}, "time_zone": {"type": "string"},
          "token": obj({"name": {"type": "string"}, "scope": {"type": "string", "enum": ["read", "write"]},
                        "prefix": {"type": "string"}})})


DAY = {"type": "string", "format": "date", "description": "A calendar day, e.g. 2026-03-20"}
ACTION_STATUS = {"type": "string", "enum": ["open", "in_progress", "done", "wont_do"]}
ACTION_TYPE = {"type": "string", "enum": ["detective", "preventive", "corrective", "mitigating"]}
PRIORITY = {"type": "string", "enum": ["high", "medium", "low"]}
ACTION_ITEM = obj({
    "id": ID,
    "ref": {"type": "string", "examples": ["AI-12"]},
    "incident_id": ID,
    "postmortem_id": nullable(ID),
    "title": {"type": "string"},
    "description": {"type": "string", "description": "Markdown."},
    "owner": nullable(ref("PersonRef")),
    "team": nullable(ref("TeamRef")),
    "due_on": DAY,
    "priority": PRIORITY,
    "type": ACTION_TYPE,
    "ticket_url": nullable({"type": "string"}),
    "status": ACTION_STATUS,
    "wont_do_reason": nullable({"type": "string"}),
    "overdue": {"type": "boolean", "description": "Open or in progress, and due before today (UTC)."},
    "done_at": nullable(TIME),
    "created_at": TIME,
    "updated_at": TIME,
})
POSTMORTEM_FIELDS = {
    "id": ID,
    "incident_id": ID,
    "title": {"type": "string"},
    "status": {"type": "string", "enum": ["draft", "in_review", "published"]},
    "template": {"type": "string", "examples": ["Detailed technical"]},
    "required": {"type": "boolean", "description": "Its severity requires a post-mortem."},
    "owner": nullable(ref("PersonRef")),
    "due_on": nullable(DAY),
    "tags": {"type": "array", "items": {"type": "string"}},
    "public": {"type": "boolean", "description": "Its public summary is on the status page."},
    "created_at": TIME,
    "updated_at": TIME,
    "published_at": nullable(TIME),
}
WHY = {"type": "object", "additionalProperties": False, "required": ["id", "why", "because", "root_cause", "children"],
       "properties": {"id": ID, "why": {"type": "string"}, "because": {"type": "string"},
                      "root_cause": {"type": "boolean"}, "children": {"type": "array", "items": ref("Why")}}}
POSTMORTEM_DETAIL = obj({
    **POSTMORTEM_FIELDS,
    "problem_statement": {"type": "string"},
    "customers_affected": {"type": "string"},
    "cost": {"type": "string"},
    "sections": {"type": "array", "items": obj({
        "id": ID, "heading": {"type": "string"},
        "kind": {"type": "string", "enum": ["text", "summary", "impact", "milestones", "responders", "timeline",
                                            "factors", "rca", "lessons", "action_items"]},
        "body": {"type": "string", "description": "Markdown."}})},
    "reviewers": {"type": "array", "items": obj({"person": ref("PersonRef"), "requested_at": TIME,
                                                 "approved_at": nullable(TIME)})},
    "whys": {"type": "array", "items": ref("Why"), "description": "The 5 Whys: each a tree of why/because."},
    "fishbone": {"type": "array", "items": obj({"category": {"type": "string"},
                                                "causes": {"type": "array", "items": {"type": "string"}}})},
    "contributing_factors": {"type": "array", "items": obj({"category": {"type": "string"},
                                                            "description": {"type": "string"}})},
    "action_items": {"type": "array", "items": ref("ActionItem")},
    "meeting_at": nullable(TIME),
    "meeting_location": nullable({"type": "string"}),
    "public_summary": nullable({"type": "string"}),
})


def listing(name: str, item: str, *, paginated: bool = True) -> dict:
    properties = {name: {"type": "array", "items": ref(item)}}
    if paginated:
        properties["pagination"] = ref("Pagination")
    return obj(properties)


# --- requests ------------------------------------------------------------------------

def or_null(schema: dict) -> dict:
    """`nullable`, for any schema (one without a type too)."""
    if "type" in schema or "$ref" in schema:
        return nullable(schema) if "null" not in schema.get("type", ()) else schema
    return {"anyOf": [schema, {"type": "null"}]}


def body(properties: dict, *, required: tuple[str, ...] = (), optional_body: bool = False,
         example: dict | None = None) -> dict:
    """A JSON object body. An optional field may be null: app.api.inputs.body reads null
    as left out."""
    properties = {name: schema if name in required else or_null(schema) for name, schema in properties.items()}
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    media = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"required": not optional_body, "content": {"application/json": media}}


def text(max_length: int, description: str | None = None) -> dict:
    schema = {"type": "string", "maxLength": max_length}
    if description:
        schema["description"] = description
    return schema


# --- responses -----------------------------------------------------------------------

def error(description: str) -> dict:
    return {"description": description, "content": {"application/problem+json": {"schema": ref("Error")}}}


COMMON_RESPONSES = {
    "BadRequest": error("The input is wrong: `error` says what, `errors` lists each problem."),
    "Unauthorized": {
        **error("No valid bearer token (missing, unknown, revoked, or its owner is deactivated)."),
        "headers": {"WWW-Authenticate": {"required": True, "schema": {"type": "string"},
                                         "description": 'Bearer realm="firebreak"'}},
    },
    "Forbidden": error("The token may not do this: a read-scope token on a change, or its owner lacks the role."),
    "NotFound": error("Nothing has that id."),
    "Conflict": error("The request conflicts with the current state."),
    "TooLarge": error("The request body is larger than 512 KB."),
}
STATUS_RESPONSE = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
                   413: "TooLarge"}


def answers(status: int, description: str, schema: dict | None, *errors: int,
            location: bool = False, conflict: str | None = None) -> dict:
    ok: dict = {"description": description}
    if schema is not None:
        ok["content"] = {"application/json": {"schema": schema}}
    if location:
        ok["headers"] = {"Location": {"required": True, "schema": {"type": "string"},
                                      "description": "Where the new thing is read."}}
    result = {str(status): ok}
    for code in errors:
        result[str(code)] = {"$ref": f"#/components/responses/{STATUS_RESPONSE[code]}"}
    if conflict:
        result["409"] = error(conflict)
    return result


def operation(operation_id: str, tag: str, summary: str, responses: dict, *, description: str | None = None,
              parameters: list | None = None, request_body: dict | None = None, role: str = "viewer") -> dict:
    result = {"operationId": operation_id, "tags": [tag], "summary": summary, "responses": responses}
    notes = [description] if description else []
    notes.append(f"Needs the **{role}** role" + (" and a write-scope token." if role != "viewer" else "."))
    result["description"] = "\n\n".join(notes)
    if parameters:
        result["parameters"] = parameters
    if request_body:
        result["requestBody"] = request_body
    return result


def param(name: str) -> dict:
    return {"$ref": f"#/components/parameters/{name}"}


def query(name: str, schema: dict, description: str, **extra) -> dict:
    """An optional query parameter. Sent empty (`?overdue=`) it is as if left out,
    which `allowEmptyValue` says (app.api.inputs.Query reads it so)."""
    return {"name": name, "in": "query", "required": False, "allowEmptyValue": True, "schema": schema,
            "description": description + " Empty is the same as left out.", **extra}


def path_id(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": ID, "description": description}


STATUS_COMPONENT = obj({
    "id": ID,
    "public_id": {"type": "string", "description": "Its id on the public page and in /api/v2."},
    "name": {"type": "string", "maxLength": 120},
    "description": {"type": "string"},
    "group": nullable(ref("GroupRef")),
    "services": {"type": "array", "items": ref("ServiceRef")},
    "position": {"type": "integer"},
    "status": {"type": "string", "description": "What the page shows: the worst of the status set by hand, "
                                                "open public incidents and maintenance in progress.",
               "enum": ["operational", "degraded_performance", "partial_outage", "major_outage",
                        "under_maintenance"]},
    "status_set_by_hand": {"type": "string", "enum": ["operational", "degraded_performance", "partial_outage",
                                                      "major_outage"]},
    "showcase": {"type": "boolean", "description": "Shows its 90-day uptime bars."},
    "only_show_if_degraded": {"type": "boolean"},
    "start_date": nullable({"type": "string", "format": "date"}),
    "created_at": TIME,
    "updated_at": TIME,
})
HAND_STATUS = {"type": "string", "enum": ["operational", "degraded_performance", "partial_outage", "major_outage"]}
COMPONENT_INPUT = {
    "name": text(120),
    "description": text(2_000),
    "group_id": {"type": "integer", "minimum": 0, "maximum": MAX_ID, "description": "A component group; 0 for none."},
    "service_ids": {"type": "array", "items": ID, "description": "The services it stands for (maintenance on them "
                                                                 "puts it under maintenance)."},
    "position": {"type": "integer", "minimum": 0, "maximum": 10_000},
    "showcase": {"type": "boolean"},
    "only_show_if_degraded": {"type": "boolean"},
}

PAGE_PARAMETERS = [param("page"), param("per_page")]
POST_ERRORS = (400, 401, 403, 413)


# --- on-call --------------------------------------------------------------------------

SHIFT_KIND = {"type": "string", "enum": ["layer", "temporary", "swap", "override"],
              "description": "Where it comes from: a rotation layer, a temporary schedule, a swap or an override."}
ROTATION = obj({
    "starts_at": {**TIME, "description": "The version's first handoff."},
    "start_local": {"type": "string", "examples": ["2026-03-02T09:00"],
                    "description": "The same, as wall-clock time in the schedule's zone."},
    "participants": {"type": "array", "items": ref("PersonRef"), "description": "In rotation order."},
    "shift_length": {"type": "integer", "minimum": 1},
    "shift_unit": {"type": "string", "enum": ["hours", "days", "weeks"]},
    "handoff_time": {"type": "string", "examples": ["09:00"], "description": "Local time in the schedule's zone."},
    "handoff_weekday": nullable({"type": "integer", "minimum": 0, "maximum": 6,
                                 "description": "0 Monday … 6 Sunday, for weekly shifts."}),
    "restrictions": {"type": "array", "description": "Windows the layer is on call in; empty: always.",
                     "items": obj({"days": {"type": "array", "items": {"type": "integer", "minimum": 0,
                                                                          "maximum": 6}},
                                   "start": {"type": "string", "examples": ["09:00"]},
                                   "end": {"type": "string", "examples": ["17:00"],
                                           "description": "Not after `start`: the next day."}})},
})
LAYER = obj({
    "id": ID, "name": {"type": "string"},
    "level": {"type": "integer", "description": "A higher layer wins where layers overlap."},
    "rotation": ref("Rotation"),
    "pending": {"type": "array", "items": ref("Rotation"),
                "description": "Changes made but not yet in force: each starts at a later handoff."},
}, description="A rotation layer: the version in force now, and any waiting to start.")
ON_CALL = obj({
    "user": ref("PersonRef"), "kind": SHIFT_KIND,
    "source": {"type": "string", "description": "The layer, temporary schedule, swap or override by name."},
    "layer": nullable({"type": "string"}),
    "covering_for": nullable(ref("PersonRef")),
    "since": {**TIME, "description": "When this shift began (looking back at most 62 days)."},
    "until": {**TIME, "description": "When it ends (looking ahead at most 62 days)."},
})
SCHEDULE = obj({
    "id": ID, "name": {"type": "string"}, "description": {"type": "string"},
    "time_zone": {"type": "string", "examples": ["Europe/London"],
                  "description": "Handoffs are wall-clock times here, across daylight-saving changes."},
    "team": nullable(ref("TeamRef")),
    "reminder_minutes": {"type": "integer", "minimum": 0, "description": "0: no reminder before shifts."},
    "layers": {"type": "array", "items": ref("Layer"), "description": "Highest first."},
    "on_call_now": nullable(ref("OnCall")),
    "created_at": TIME, "updated_at": TIME,
})
SHIFT = obj({
    "starts_at": TIME, "ends_at": TIME, "user": ref("PersonRef"), "kind": SHIFT_KIND,
    "source": {"type": "string"}, "layer": nullable({"type": "string"}),
    "covering_for": nullable(ref("PersonRef")),
})
OVERRIDE = obj({
    "id": ID, "schedule_id": ID, "user": ref("PersonRef"), "starts_at": TIME, "ends_at": TIME,
    "note": {"type": "string"}, "created_at": TIME, "created_by": nullable(ref("PersonRef")),
})
ONCALL_SCHEMAS = {"Schedule": SCHEDULE, "ScheduleRef": REF, "Layer": LAYER, "Rotation": ROTATION,
                  "OnCall": ON_CALL, "Shift": SHIFT, "Override": OVERRIDE}


def oncall_paths() -> dict:
    schedule_id = path_id("schedule_id", "The schedule's id.")
    override_id = path_id("override_id", "The override's id.")
    tag = "on-call"
    at = query("at", TIME, "The instant to ask about (ISO 8601 with a zone); default now.")
    return {
        "/schedules": {
            "get": operation("list_schedules", tag, "List schedules, by name, with who is on call now",
                             answers(200, "Every schedule.", listing("schedules", "Schedule", paginated=False), 401)),
        },
        "/schedules/{schedule_id}": {
            "get": operation("show_schedule", tag, "One schedule with its layers and who is on call now",
                             answers(200, "The schedule.", ref("Schedule"), 401, 404), parameters=[schedule_id]),
        },
        "/schedules/{schedule_id}/layers": {
            "get": operation("list_layers", tag, "A schedule's layers, highest first",
                             answers(200, "The layers.", obj({"schedule": ref("ScheduleRef"), "layers": {
                                 "type": "array", "items": ref("Layer")}}), 401, 404),
                             parameters=[schedule_id]),
        },
        "/schedules/{schedule_id}/oncall": {
            "get": operation(
                "who_is_on_call", tag, "Who is on call on a schedule, now or at a given time",
                answers(200, "The answer; `on_call` is null when nobody is.", obj({
                    "schedule": ref("ScheduleRef"), "at": TIME, "on_call": nullable(ref("OnCall"))}), 400, 401, 404),
                description="Overrides win over every layer; a higher layer over a lower one; holidays are "
                            "covered by the next person in line.",
                parameters=[schedule_id, at]),
        },
        "/oncall": {
            "get": operation(
                "everyone_on_call", tag, "Who is on call on every schedule, now or at a given time",
                answers(200, "One answer per schedule, by name.", obj({"at": TIME, "schedules": {
                    "type": "array", "items": obj({"schedule": ref("ScheduleRef"),
                                                   "on_call": nullable(ref("OnCall"))})}}), 400, 401),
                parameters=[at]),
        },
        "/schedules/{schedule_id}/shifts": {
            "get": operation(
                "list_shifts", tag, "The final shifts of a schedule between two instants",
                answers(200, "Shifts in order, clipped to the window; gaps are gaps.", obj({
                    "schedule": ref("ScheduleRef"), "start": TIME, "end": TIME,
                    "shifts": {"type": "array", "items": ref("Shift")}}), 400, 401, 404),
                description="At most 93 days at a time.",
                parameters=[schedule_id, query("start", TIME, "From (default now)."),
                            query("end", TIME, "Until (default a week after `start`).")]),
        },
        "/schedules/{schedule_id}/overrides": {
            "get": operation(
                "list_overrides", tag, "A schedule's overrides that are not over",
                answers(200, "Overrides by start.", obj({"schedule": ref("ScheduleRef"), "overrides": {
                    "type": "array", "items": ref("Override")}}), 400, 401, 404),
                parameters=[schedule_id, query("since", TIME, "Only overrides ending after this (default now)."),
                            query("until", TIME, "Only overrides starting before this.")]),
            "post": operation(
                "create_override", tag, "Make an override",
                answers(201, "The new override.", ref("Override"), *POST_ERRORS, 404, location=True),
                description="The person covers the window, over every layer. A start in the past is taken as "
                            "now; the window must end in the future and last under a year. Writes the audit entry.",
                role="responder", parameters=[schedule_id],
                request_body=body({"user_id": ID, "starts_at": TIME, "ends_at": TIME, "note": text(500)},
                                  required=("user_id", "starts_at", "ends_at"),
                                  example={"user_id": 3, "starts_at": "2026-03-02T18:00:00Z",
                                           "ends_at": "2026-03-02T22:00:00Z", "note": "Covering dinner"})),
        },
        "/schedules/{schedule_id}/overrides/{override_id}": {
            "get": operation("show_override", tag, "One override",
                             answers(200, "The override.", ref("Override"), 401, 404),
                             parameters=[schedule_id, override_id]),
            "delete": operation(
                "delete_override", tag, "Delete an override",
                answers(200, "Deleted if it had not started; ended now if it was under way.", obj({
                    "outcome": {"type": "string", "enum": ["deleted", "ended"]}, "override": ref("Override")}),
                    401, 403, 404, conflict="The override is over; it stays in the record."),
                description="Writes the audit entry.", role="responder", parameters=[schedule_id, override_id]),
        },
    }


# --- insights ------------------------------------------------------------------------------

RATE = nullable({"type": "number", "minimum": 0, "maximum": 1,
                 "description": "A share from 0 to 1; null when nothing was there to judge."})
COUNT = {"type": "integer", "minimum": 0}
SECONDS = nullable({"type": "number", "description": "Seconds; null when no incident had both ends."})
STAT = obj({"n": COUNT, "mean_seconds": SECONDS, "median_seconds": SECONDS, "p90_seconds": SECONDS},
           description="A distribution of durations: how many, mean, median, 90th percentile (interpolated, "
                       "as PostgreSQL's percentile_cont).")
JUDGED = obj({"met": COUNT, "breached": COUNT, "not_due": COUNT, "rate": RATE})
INSIGHTS_SCHEMAS = {
    "DurationStat": STAT,
    "InsightsMetrics": obj({
        "period": obj({"start_date": DAY, "end_date": DAY, "time_zone": {"type": "string"}, "start": TIME,
                       "end": TIME}, description="Whole local days in `time_zone`, and the UTC instants they span."),
        "filters": obj({"team_id": nullable(ID), "service_id": nullable(ID), "severity": nullable(SEVERITY_NUMBER)}),
        "counts": obj({name: COUNT for name in ("incidents", "resolved", "still_open", "reopened",
                                                "never_acknowledged", "waiting", "merged_away", "exercises")}),
        "response_times": obj({name: ref("DurationStat") for name in ("mttd", "mtta", "mttm", "mttr")}),
        "objectives": {"type": "array", "items": obj({
            "severity": SEVERITY_NUMBER, "response_minutes": COUNT, "resolution_minutes": COUNT,
            "response": JUDGED, "resolution": JUDGED})},
        "classification": obj({"judged": COUNT, "correct": COUNT, "raised": COUNT, "lowered": COUNT, "rate": RATE}),
        "recurrence": obj({"incidents": COUNT, "recurrences": COUNT, "rate": RATE}),
        "improvement": obj({"fixed": COUNT, "watching": COUNT, "held": COUNT, "recurred": COUNT, "rate": RATE}),
        "postmortems": obj({"on_time": COUNT, "late": COUNT, "overdue": COUNT, "missing": COUNT, "not_due": COUNT,
                            "rate": RATE}),
        "action_items": obj({"on_time": COUNT, "late": COUNT, "overdue": COUNT, "not_due": COUNT, "wont_do": COUNT,
                             "open_overdue_now": COUNT, "rate": RATE}),
        "communication": obj({
            "owed": {**COUNT, "description": "Updates the severity's cadence owed that fell due in the period "
                                             "(judged and not due yet); cancelled ones were never owed."},
            "judged": {**COUNT, "description": "on_time + late + missed."},
            "on_time": {**COUNT, "description": "Sent by the due time."},
            "late": {**COUNT, "description": "Sent after the due time."},
            "missed": {**COUNT, "description": "Overdue, and no update has gone since."},
            "not_due": {**COUNT, "description": "Not due yet (or not yet marked overdue): not judged."},
            "rate": RATE},
            description="Communication compliance: of the updates owed that fell due in the period, the share "
                        "sent on time (`on_time / judged`)."),
        "knowledge": obj({"readers": COUNT, "postmortem_readers": COUNT, "incident_readers": COUNT, "reads": COUNT,
                          "teams": {"type": "array", "items": obj({"team": {"type": "string"}, "members": COUNT,
                                                                   "readers": COUNT})}}),
        "training": obj({"drills": COUNT, "assessed": COUNT, "people": COUNT,
                         "mean_score": nullable({"type": "number"}), "median_score": nullable({"type": "number"})}),
        "culture": obj({"invited": COUNT, "answered": COUNT, "answers": COUNT,
                        "shown": {"type": "boolean", "description": "False below three answers: then the means "
                                                                    "are null."},
                        "blameless": nullable({"type": "number"}), "safety": nullable({"type": "number"})}),
        "interruptions": obj({"total": COUNT, "by_weekday_and_hour": {
            "type": "array", "minItems": 7, "maxItems": 7, "description": "Monday first; 24 hours each, local.",
            "items": {"type": "array", "minItems": 24, "maxItems": 24, "items": COUNT}}}),
        "top_services": {"type": "array", "items": obj({"id": ID, "name": {"type": "string"}, "incidents": COUNT,
                                                        "severe": COUNT})},
        "top_factor_categories": {"type": "array", "items": obj({"id": ID, "name": {"type": "string"},
                                                                 "incidents": COUNT})},
        "trend": obj({"granularity": {"type": "string", "enum": ["week", "month"]}, "buckets": {
            "type": "array", "items": obj({
                "start_date": DAY, "end_date": DAY,
                "incidents_by_severity": obj({str(n): COUNT for n in (1, 2, 3, 4)}),
                "mtta": ref("DurationStat"), "mttr": ref("DurationStat")})}}),
    }, description="Every insights figure for one period; definitions on the Insights › Definitions page."),
}


# --- the response: roles, tasks, updates -------------------------------------------------------------

ROLE_KEY = {"type": "string", "enum": ["commander", "deputy", "technical_lead", "comms_lead", "scribe", "sme",
                                        "customer_liaison", "internal_liaison"]}
STAGE = {"type": "string", "enum": ["investigating", "identified", "monitoring", "resolved"],
         "description": "The public-facing stage of the response."}
ROLES = obj({"incident_id": ID, "roles": {"type": "array", "items": obj({
    "role": ROLE_KEY,
    "name": {"type": "string", "examples": ["Incident Commander"]},
    "description": {"type": "string"},
    "many": {"type": "boolean", "description": "Several people may hold it (subject matter experts)."},
    "holders": {"type": "array", "items": obj({"person": ref("PersonRef"), "since": TIME})},
    "proposed": {"type": "array", "description": "Suggested, not held: the commander from the incident-commander "
                                                 "schedule (SEV-1, SEV-2), the technical lead from the first on call.",
                 "items": obj({"person": ref("PersonRef"), "reason": {"type": "string"}, "since": TIME})},
    "checklist": {"type": "array", "items": obj({"item": {"type": "string"}, "done": {"type": "boolean"},
                                                 "done_at": nullable(TIME)})},
})}})
TASK = obj({
    "id": ID, "incident_id": ID, "title": {"type": "string"}, "owner": nullable(ref("PersonRef")),
    "due_at": nullable(TIME), "done": {"type": "boolean"}, "done_at": nullable(TIME),
    "done_by": nullable({"type": "string"}), "overdue": {"type": "boolean"}, "created_at": TIME,
    "created_by": {"type": "string"},
})
UPDATE = obj({
    "id": ID, "incident_id": ID, "template": nullable({"type": "string", "examples": ["customer_notice"]}),
    "stage": STAGE, "severity": SEVERITY_NUMBER, "subject": {"type": "string"},
    "body": {"type": "string", "description": "As sent: the fields filled in."},
    "sent_at": TIME, "sent_by": {"type": "string"},
    "due_at": nullable({**TIME, "description": "When an update was due by the severity's cadence; null: none was."}),
    "on_time": nullable({"type": "boolean", "description": "Sent by `due_at`."}),
    "audiences": {"type": "array", "items": obj({
        "kind": {"type": "string", "enum": ["stakeholders", "status_page", "webhook"]},
        "id": nullable(ID), "label": {"type": "string"},
        "messages": {"type": "integer", "minimum": 0, "description": "Outbox messages or webhook posts made."}})},
})
STAKEHOLDER_LIST = obj({
    "id": ID, "name": {"type": "string"}, "description": {"type": "string"},
    "external": {"type": "boolean", "description": "Outside the company."},
    "send_sms": {"type": "boolean", "description": "Members with a phone are texted too."},
    "severities": {"type": "array", "items": SEVERITY_NUMBER, "description": "Subscribed severities; empty: any."},
    "services": {"type": "array", "items": ref("ServiceRef"), "description": "Subscribed services; empty: any."},
    "members": {"type": "integer", "minimum": 0},
})
COMMS_TEMPLATE = obj({
    "key": {"type": "string"}, "name": {"type": "string"},
    "audience": {"type": "string", "enum": ["internal_technical", "management", "resolution", "customer", "partner",
                                            "regulatory", "social", "press"]},
    "description": {"type": "string"}, "subject": {"type": "string"}, "body": {"type": "string"},
    "active": {"type": "boolean"}, "shipped": {"type": "boolean"},
    "edited": {"type": "boolean", "description": "A shipped template an admin changed."},
})
RESPONSE_SCHEMAS = {"Roles": ROLES, "Task": TASK, "Update": UPDATE, "StakeholderList": STAKEHOLDER_LIST,
                    "CommsTemplate": COMMS_TEMPLATE}
IDS = {"type": "array", "items": ID, "maxItems": 50}


def response_paths() -> dict:
    incident_id = param("incident_id")
    task_id = path_id("task_id", "The task's id.")
    return {
        "/incidents/{incident_id}/roles": {
            "get": operation("incident_roles", "response", "An incident's roles: holders, proposals, checklists",
                             answers(200, "Every role, in order.", ref("Roles"), 401, 404),
                             parameters=[incident_id]),
            "post": operation(
                "assign_role", "response", "Assign a role, or hand it over",
                answers(200, "The roles after the change.", ref("Roles"), *POST_ERRORS, 404),
                description="For a role one person holds, the current holder hands it over. Writes the "
                            "`role_assigned` timeline event (data: role, user_id, from_user_id, handover) and the "
                            "audit entry; assigning someone who holds it changes nothing.",
                role="responder", parameters=[incident_id],
                request_body=body({"role": ROLE_KEY, "user_id": ID}, required=("role", "user_id"),
                                  example={"role": "commander", "user_id": 3})),
        },
        "/incidents/{incident_id}/tasks": {
            "get": operation("incident_tasks", "response", "An incident's tasks: open first, soonest due first",
                             answers(200, "The tasks.", obj({"incident_id": ID, "tasks": {
                                 "type": "array", "items": ref("Task")}}), 401, 404),
                             parameters=[incident_id]),
            "post": operation(
                "add_task", "response", "Add a task",
                answers(201, "The new task.", ref("Task"), *POST_ERRORS, 404, location=True),
                description="Writes the `task_added` timeline event and the audit entry.",
                role="responder", parameters=[incident_id],
                request_body=body({"title": text(300), "owner_id": ID, "due_at": TIME}, required=("title",),
                                  example={"title": "Roll back release 2026.03.1", "owner_id": 3,
                                           "due_at": "2026-03-02T09:45:00Z"})),
        },
        "/incidents/{incident_id}/tasks/{task_id}": {
            "post": operation(
                "change_task", "response", "Mark a task done (or not), rename it, give it an owner or a due time",
                answers(200, "The task.", ref("Task"), *POST_ERRORS, 404),
                description="Writes the `task_changed` timeline event and the audit entry; what it already has "
                            "changes nothing.",
                role="responder", parameters=[incident_id, task_id],
                request_body=body({"title": text(300), "owner_id": ID, "due_at": TIME, "done": {"type": "boolean"}},
                                  example={"done": True})),
        },
        "/incidents/{incident_id}/updates": {
            "get": operation(
                "incident_updates", "response", "An incident's updates (the communication log) and what it owes",
                answers(200, "Every update sent, oldest first, with the cadence.", obj({
                    "incident_id": ID,
                    "cadence_minutes": nullable({"type": "integer", "description": "Its severity's; null: none."}),
                    "next_update_due_at": nullable(TIME),
                    "overdue": {"type": "boolean", "description": "An update was due and none has gone."},
                    "updates": {"type": "array", "items": ref("Update")}}), 401, 404),
                parameters=[incident_id]),
            "post": operation(
                "send_update", "response", "Send an update to stakeholder lists, the status page or webhooks",
                answers(201, "The update as sent.", ref("Update"), *POST_ERRORS, 404, location=True),
                description="`subject` and `body` are template text: fields such as `{{ title }}` or "
                            "`{{ next_update_at }}` are filled in as it goes (sandboxed; the fields are listed "
                            "by GET /comms_templates). Left out, the `template`'s own text is used. An unknown "
                            "field or anything unsafe is refused (400) before anything is sent, as is a list "
                            "nobody is on, a disabled webhook, or the status page where it is not installed. "
                            "Stakeholders are emailed (and texted, for lists that text) through the outbox, each "
                            "address once; webhooks are posted by the engine. Meets the update owed by the "
                            "cadence (`on_time`) and owes the next. Writes the `status_update` timeline event and "
                            "the audit entry.",
                role="responder", parameters=[incident_id],
                request_body=body({"template": text(60, "A template's key."), "stage": STAGE,
                                   "subject": text(20_000), "body": text(20_000),
                                   "stakeholder_list_ids": IDS, "status_page": {"type": "boolean"},
                                   "webhook_ids": IDS},
                                  example={"template": "management", "stage": "identified",
                                           "stakeholder_list_ids": [1]})),
        },
        "/stakeholder_lists": {
            "get": operation("stakeholder_lists", "response", "The stakeholder lists updates are sent to",
                             answers(200, "Every list, by name.", obj({"stakeholder_lists": {
                                 "type": "array", "items": ref("StakeholderList")}}), 401)),
        },
        "/comms_templates": {
            "get": operation("comms_templates", "response", "The update templates, and the fields they may use",
                             answers(200, "Shipped templates first, then your own.", obj({
                                 "templates": {"type": "array", "items": ref("CommsTemplate")},
                                 "fields": {"type": "array", "items": {"type": "string"}}}), 401)),
        },
    }


@cache
def document() -> dict:
    """The whole document: the routes described here by hand, and those declared with
    app.api.spec (spectree makes their paths and schemas from the pydantic models)."""
    written = _written()
    generated = generated_paths()
    overlap = set(written["paths"]) & set(generated["paths"])
    for path in overlap:  # a path with old and new methods
        written["paths"][path].update(generated["paths"].pop(path))
    written["paths"].update(generated["paths"])
    written["paths"] = dict(sorted(written["paths"].items()))
    clash = (set(written["components"]["schemas"]) & set(generated["schemas"])) - {"Pagination"}
    if clash:  # Pagination is the generated one's on purpose: one pagination for every list
        raise TypeError(f"API models named as hand-written schemas: {', '.join(sorted(clash))}")
    written["components"]["schemas"].update(generated["schemas"])
    written["tags"] += [{"name": tag} for tag in API_TAGS if {"name": tag} not in written["tags"]]
    return written


def _written() -> dict:
    incident_id, service_id = param("incident_id"), param("service_id")
    status_filter = {"type": "string", "enum": ["open", "triggered", "acknowledged", "resolved", "all"],
                     "default": "open"}
    paths = {
        "/me": {"get": operation("me", "meta", "Who this token acts as",
                                 answers(200, "The token's owner and the token.", ref("Me"), 401))},
        "/incidents": {
            "get": operation(
                "list_incidents", "incidents", "List incidents, most urgent first",
                answers(200, "A page of incidents.", listing("incidents", "Incident"), 400, 401),
                description="Ordered by status (triggered, then acknowledged, then resolved), then severity "
                            "(SEV-1 first), then newest first.",
                parameters=[
                    query("status", status_filter, "`open` is triggered and acknowledged."),
                    query("severity", {"type": "array", "items": {"type": "string"}},
                          "Only these severities: 1 to 4 or SEV-1 to SEV-4, repeated (`severity=1&severity=2`) "
                          "or comma separated (`severity=1,2`).", style="form", explode=True),
                    query("service_id", ID, "Only incidents on this service."),
                    query("team_id", ID, "Only incidents on services this team owns."),
                    query("q", {"type": "string", "maxLength": 200}, "Text in the title (case-insensitive)."),
                    *PAGE_PARAMETERS,
                ]),
            "post": operation(
                "create_incident", "incidents", "Open an incident",
                answers(201, "The new incident.", ref("Incident"), *POST_ERRORS, location=True,
                        conflict="The service is inactive."),
                description="Opened with source `api`; writes the `opened` timeline event and the audit entry. "
                            "An unknown `service_id` is a 400. An impact start in the future is taken as now.",
                role="responder",
                request_body=body({
                    "title": text(MAX_TITLE),
                    "service_id": ID,
                    "severity": SEVERITY_INPUT,
                    "description": text(20_000, "Markdown."),
                    "impact_started_at": {**TIME, "description": "When customers were first affected; "
                                                                 "ISO 8601 with a zone (Z or an offset)."},
                }, required=("title", "service_id", "severity"),
                    example={"title": "Checkout 5xx above 5%", "service_id": 1, "severity": 2,
                             "impact_started_at": "2026-03-01T09:30:00Z"})),
        },
        "/incidents/{incident_id}": {
            "get": operation("show_incident", "incidents", "One incident",
                             answers(200, "The incident.", ref("Incident"), 401, 404), parameters=[incident_id]),
        },
        "/incidents/{incident_id}/acknowledge": {
            "post": operation(
                "acknowledge", "incidents", "Acknowledge an incident",
                answers(200, "The incident, acknowledged.", ref("Incident"), 400, 401, 403, 404, 413,
                        conflict="The incident is resolved."),
                description="Writes the `acknowledged` timeline event (via `api`) and the audit entry. "
                            "An acknowledged incident stays as it is. The body, if any, is an empty object.",
                role="responder", parameters=[incident_id],
                request_body=body({}, optional_body=True)),
        },
        "/incidents/{incident_id}/resolve": {
            "post": operation(
                "resolve", "incidents", "Resolve an incident",
                answers(200, "The incident, resolved.", ref("Incident"), 400, 401, 403, 404, 413),
                description="Writes the `resolved` timeline event (via `api`, with the note) and the audit entry. "
                            "A resolved incident stays as it is, so a retried call is harmless.",
                role="responder", parameters=[incident_id],
                request_body=body({"note": text(MAX_NOTE, "Said on the timeline with the resolution.")},
                                  optional_body=True, example={"note": "Rolled back release 2026.03.1"})),
        },
        "/incidents/{incident_id}/notes": {
            "post": operation(
                "add_note", "incidents", "Add a note to the timeline",
                answers(201, "The note, as its timeline event.", ref("TimelineEvent"), *POST_ERRORS, 404),
                description="Writes a `note` timeline event (via `api`), or a `decision` one, and the audit entry.",
                role="responder", parameters=[incident_id],
                request_body=body({"text": text(MAX_NOTE, "Markdown; not blank."),
                                   "decision": {"type": "boolean", "description": "Record it as a decision "
                                                                                  "(a `decision` event)."}},
                                  required=("text",),
                                  example={"text": "Error rate back under 1% after the rollback."})),
        },
        "/incidents/{incident_id}/severity": {
            "post": operation(
                "change_severity", "incidents", "Change an incident's severity",
                answers(200, "The incident.", ref("Incident"), *POST_ERRORS, 404),
                description="A change needs a `reason` (kept for the review) and writes the `severity_changed` "
                            "timeline event and the audit entry; the severity it already has changes nothing.",
                role="responder", parameters=[incident_id],
                request_body=body({"severity": SEVERITY_INPUT, "reason": text(2_000)}, required=("severity",),
                                  example={"severity": 1, "reason": "All regions affected"})),
        },
        "/incidents/{incident_id}/timeline": {
            "get": operation("timeline", "incidents", "An incident's timeline, oldest first",
                             answers(200, "Every event.", obj({"incident_id": ID, "events": {
                                 "type": "array", "items": ref("TimelineEvent")}}), 401, 404),
                             parameters=[incident_id]),
        },
        "/alerts": {
            "get": operation(
                "list_alerts", "alerts", "List alerts, newest first",
                answers(200, "A page of alerts.", listing("alerts", "Alert"), 400, 401),
                parameters=[query("status", status_filter, "`open` is triggered and acknowledged."),
                            query("service_id", ID, "Only alerts on this service."),
                            query("incident_id", ID, "Only alerts of this incident."),
                            *PAGE_PARAMETERS]),
        },
        "/alerts/{alert_id}": {
            "get": operation("show_alert", "alerts", "One alert, with what monitoring sent",
                             answers(200, "The alert with its custom details, links and images.",
                                     ref("AlertDetail"), 401, 404),
                             parameters=[path_id("alert_id", "The alert's id.")]),
        },
        "/services": {
            "get": operation("list_services", "services", "List services, active first, by name",
                             answers(200, "Every service.", listing("services", "Service", paginated=False), 401)),
            "post": operation(
                "create_service", "services", "Create a service",
                answers(201, "The new service, with its first integration key shown whole.",
                        ref("ServiceCreated"), *POST_ERRORS, location=True,
                        conflict="A service with that name exists."),
                description="Writes the audit entries for the service and its key.", role="admin",
                request_body=body({
                    "name": text(120),
                    "description": text(20_000),
                    "team_id": ID,
                    "severity_mapping": SEVERITY_MAPPING,
                }, required=("name",), example={"name": "checkout-api", "team_id": 1,
                                                "severity_mapping": {"critical": 1, "info": None}})),
        },
        "/services/{service_id}/integration_keys": {
            "get": operation("list_integration_keys", "services", "A service's integration keys, revoked ones too",
                             answers(200, "The keys; whole for responders and admins.",
                                     listing("integration_keys", "IntegrationKey", paginated=False), 401, 404),
                             parameters=[service_id]),
            "post": operation(
                "add_integration_key", "services", "Add an integration key",
                answers(201, "The new key, shown whole.", ref("IntegrationKey"), *POST_ERRORS, 404),
                description="Writes the audit entry.", role="admin", parameters=[service_id],
                request_body=body({"name": text(120, "What sends with it; default \"Events API v2\".")},
                                  optional_body=True, example={"name": "Prometheus"})),
        },
        "/services/{service_id}/integration_keys/{key_id}/revoke": {
            "post": operation(
                "revoke_integration_key", "services", "Revoke an integration key",
                answers(200, "The key, revoked.", ref("IntegrationKey"), *POST_ERRORS, 404),
                description="Events sent with it are refused from now on. Writes the audit entry; revoking "
                            "a revoked key changes nothing. The body, if any, is an empty object.",
                role="admin", parameters=[service_id, path_id("key_id", "The integration key's id.")],
                request_body=body({}, optional_body=True)),
        },
        "/change_events": {
            "get": operation(
                "list_change_events", "change events", "List change events, newest first",
                answers(200, "A page of change events.", listing("change_events", "ChangeEvent"), 400, 401),
                parameters=[query("service_id", ID, "Only changes on this service."),
                            query("since", TIME, "Only changes at or after this time (ISO 8601 with a zone)."),
                            *PAGE_PARAMETERS]),
        },
        **oncall_paths(),
        "/postmortems": {
            "get": operation(
                "list_postmortems", "post-mortems", "List post-mortems, newest first",
                answers(200, "A page of post-mortems.", listing("postmortems", "Postmortem"), 400, 401),
                parameters=[query("status", {"type": "string", "enum": ["all", "draft", "in_review", "published"],
                                             "default": "all"}, "Only post-mortems in this state."),
                            query("incident_id", ID, "The post-mortem of this incident."), *PAGE_PARAMETERS]),
        },
        "/postmortems/{postmortem_id}": {
            "get": operation(
                "show_postmortem", "post-mortems", "One post-mortem, whole",
                answers(200, "Its sections, reviewers, 5 Whys, fishbone, contributing factors and action items.",
                        ref("PostmortemDetail"), 401, 404),
                parameters=[path_id("postmortem_id", "The post-mortem's id.")]),
        },
        "/action_items": {
            "get": operation(
                "list_action_items", "action items", "List action items: open first, then by due date",
                answers(200, "A page of action items.", listing("action_items", "ActionItem"), 400, 401),
                parameters=[
                    query("status", {"type": "string", "enum": ["open", "closed", "all", "in_progress", "done",
                                                                "wont_do"], "default": "open"},
                          "`open` is open and in progress; `closed` is done and won't do."),
                    query("owner_id", ID, "Only this person's."),
                    query("team_id", ID, "Only this team's."),
                    query("incident_id", ID, "Only this incident's."),
                    query("postmortem_id", ID, "Only this post-mortem's."),
                    query("overdue", {"type": "string", "enum": ["true", "false"], "default": "false"},
                          "Only overdue ones."),
                    *PAGE_PARAMETERS]),
            "post": operation(
                "create_action_item", "action items", "Add an action item to an incident",
                answers(201, "The new action item.", ref("ActionItem"), *POST_ERRORS, location=True),
                description="It joins the incident's post-mortem, if there is one. The team defaults to the "
                            "owner's first team, else the service's. Reminders go to the owner before and after the "
                            "due date. Writes the audit entry. An unknown `incident_id` is a 400.",
                role="responder",
                request_body=body({
                    "incident_id": ID,
                    "title": text(300),
                    "due_on": DAY,
                    "owner_id": ID,
                    "team_id": ID,
                    "priority": PRIORITY,
                    "type": ACTION_TYPE,
                    "ticket_url": text(1000, "An http(s) link to the issue tracker."),
                    "description": text(20_000, "Markdown."),
                }, required=("incident_id", "title", "due_on"),
                    example={"incident_id": 42, "title": "Alert on connection pool saturation", "due_on": "2026-03-20",
                             "owner_id": 3, "priority": "high", "type": "detective"})),
        },
        "/action_items/{action_item_id}": {
            "get": operation("show_action_item", "action items", "One action item",
                             answers(200, "The action item.", ref("ActionItem"), 401, 404),
                             parameters=[path_id("action_item_id", "The action item's id.")]),
        },
        "/action_items/{action_item_id}/status": {
            "post": operation(
                "set_action_item_status", "action items", "Move an action item: open, in progress, done, won't do",
                answers(200, "The action item.", ref("ActionItem"), *POST_ERRORS, 404),
                description="`done` records when; `wont_do` needs a `reason`. The status it already has changes "
                            "nothing. Writes the audit entry.",
                role="responder", parameters=[path_id("action_item_id", "The action item's id.")],
                request_body=body({"status": ACTION_STATUS, "reason": text(5000, "Why it won't be done.")},
                                  required=("status",), example={"status": "done"})),
        },
        "/insights/metrics": {
            "get": operation(
                "insights_metrics", "insights", "The learning and improvement metrics for a period",
                answers(200, "Every figure of the insights dashboard.", ref("InsightsMetrics"), 400, 401),
                description="Incidents count when detected in the period (whole local days in `time_zone`); "
                            "drills and merged incidents are left out except under training. Without dates: the "
                            "last 30 days up to today.",
                parameters=[
                    query("start_date", DAY, "First day, inclusive (default: 29 days before `end_date`)."),
                    query("end_date", DAY, "Last day, inclusive (default: today)."),
                    query("time_zone", {"type": "string", "maxLength": 64},
                          "An IANA zone for the days (default: the token owner's)."),
                    query("team_id", ID, "Only incidents on services this team owns."),
                    query("service_id", ID, "Only this service's incidents."),
                    query("severity", {"type": "string"}, "Only this severity: 1 to 4 or SEV-1 to SEV-4."),
                    query("granularity", {"type": "string", "enum": ["week", "month"], "default": "week"},
                          "The trend's buckets."),
                ]),
        },
        **response_paths(),
        "/status_page/components": {
            "get": operation("list_components", "status page", "List status page components, in page order",
                             answers(200, "Every component.", listing("components", "StatusComponent",
                                                                      paginated=False), 401)),
            "post": operation(
                "create_component", "status page", "Add a component to the status page",
                answers(201, "The new component.", ref("StatusComponent"), *POST_ERRORS, location=True,
                        conflict="A component with that name exists."),
                description="Writes the audit entry; the public page shows it within a second.", role="admin",
                request_body=body({**COMPONENT_INPUT, "status": HAND_STATUS}, required=("name",),
                                  example={"name": "Checkout", "group_id": 1, "service_ids": [1]})),
        },
        "/status_page/components/{component_id}": {
            "get": operation("show_component", "status page", "One status page component",
                             answers(200, "The component.", ref("StatusComponent"), 401, 404),
                             parameters=[param("component_id")]),
            "post": {**operation(
                "update_component", "status page", "Change a component",
                answers(200, "The component.", ref("StatusComponent"), *POST_ERRORS, 404,
                        conflict="Another component has that name."),
                description="Deprecated: use PATCH /status_page/components/{component_id} (with If-Match). Only "
                            "the fields sent change. Writes the audit entry.", role="admin",
                parameters=[param("component_id")],
                request_body=body(COMPONENT_INPUT, example={"description": "Basket and payment", "position": 2})),
                "deprecated": True},
        },
        "/status_page/components/{component_id}/status": {
            "post": operation(
                "set_component_status", "status page", "Set a component's status by hand",
                answers(200, "The component.", ref("StatusComponent"), *POST_ERRORS, 404),
                description="The page shows the worst of this, open public incidents and maintenance. Writes the "
                            "status history and the audit entry.", role="admin", parameters=[param("component_id")],
                request_body=body({"status": HAND_STATUS}, required=("status",),
                                  example={"status": "degraded_performance"})),
        },
        "/status_page/components/{component_id}/delete": {
            "post": {**operation(
                "delete_component", "status page", "Remove a component, with its history",
                answers(200, "The component as it was.", ref("StatusComponent"), *POST_ERRORS, 404),
                description="Deprecated: use DELETE /status_page/components/{component_id} (with If-Match). "
                            "Writes the audit entry. The body, if any, is an empty object.", role="admin",
                parameters=[param("component_id")], request_body=body({}, optional_body=True)),
                "deprecated": True},
        },
        "/openapi.json": {
            "get": {"operationId": "openapi", "tags": ["meta"], "summary": "This document", "security": [],
                    "description": "Public: no token needed.",
                    "responses": {"200": {"description": "The OpenAPI document.",
                                          "content": {"application/json": {"schema": {"type": "object"}}}}}},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Firebreak API",
            "version": "1.0.0",
            "description": (
                "Incidents, alerts, services, change events, on-call schedules, post-mortems, action "
                "items, the response (roles, tasks, updates) and status page components. Send "
                "`Authorization: Bearer <token>` (make one on your profile page or with "
                "`flask --app wsgi create-api-token`). A read-scope token may only read; writes act with "
                "the token owner's role (viewers read, responders act on incidents and make overrides, "
                "admins configure services).\n\n"
                "Bodies are JSON objects; a field the operation does not take is refused. Errors are RFC 9457 "
                "problem details (`application/problem+json`) with the right status, `errors` listing each "
                "problem with the input. A POST with `Idempotency-Key` sent again within 24 hours answers its "
                "first answer (`Idempotent-Replayed: true`) and makes nothing; the key with another request is 422. "
                "Times are ISO 8601: answers give UTC with a `Z`; times you send need a zone. Lists take "
                f"`page` (from 1) and `per_page` (1 to {MAX_PER_PAGE}) and answer with `pagination`."),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": "incidents"}, {"name": "alerts"}, {"name": "services"}, {"name": "change events"},
                 {"name": "on-call"}, {"name": "post-mortems"}, {"name": "action items"}, {"name": "response"},
                 {"name": "status page"}, {"name": "insights"}, {"name": "meta"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "An API token, fbk_…"}},
            "parameters": {
                "incident_id": path_id("incident_id", "The incident's id (its number)."),
                "service_id": path_id("service_id", "The service's id."),
                "component_id": path_id("component_id", "The status page component's id."),
                "page": query("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
                              "Which page, from 1. A page past the end is empty."),
                "per_page": query("per_page", {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE,
                                               "default": DEFAULT_PER_PAGE},
                                  f"How many per page, at most {MAX_PER_PAGE}."),
            },
            "responses": COMMON_RESPONSES,
            "schemas": {
                "Incident": INCIDENT,
                "TimelineEvent": TIMELINE_EVENT,
                "Alert": obj(ALERT_FIELDS),
                "AlertDetail": obj(ALERT_DETAIL_FIELDS),
                "Service": obj(SERVICE_FIELDS),
                "ServiceCreated": obj({**SERVICE_FIELDS, "integration_key": ref("IntegrationKey")}),
                "IntegrationKey": INTEGRATION_KEY,
                "ChangeEvent": CHANGE_EVENT,
                "Postmortem": obj(POSTMORTEM_FIELDS),
                "PostmortemDetail": POSTMORTEM_DETAIL,
                "Why": WHY,
                "ActionItem": ACTION_ITEM,
                "StatusComponent": STATUS_COMPONENT,
                "GroupRef": REF,
                "Error": ERROR,
                "Me": ME,
                "ServiceRef": REF,
                "TeamRef": REF,
                "PersonRef": REF,
                **ONCALL_SCHEMAS,
                **RESPONSE_SCHEMAS,
                **INSIGHTS_SCHEMAS,
            },
        },
    }


@bp.route("/openapi.json")
@public
def openapi():
    """The API described for machines (and for people, through any OpenAPI viewer)."""
    return jsonify(document())
