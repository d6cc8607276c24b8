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
    return {**schema, "type": [*(kind if isinstance(kind, list) else [kind]), "null"]}


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

ERROR = obj({"error": {"type": "string", "description": "What was wrong, for people."},
             "errors": {"type": "array", "items": {"type": "string"},
                        "description": "Each problem with the input, when there are several to list."}},
            optional=("errors",))

PAGINATION = obj({"page": {"type": "integer", "minimum": 1}, "per_page": {"type": "integer", "minimum": 1},
                  "total": {"type": "integer", "minimum": 0}, "pages": {"type": "integer", "minimum": 0}})

ME = obj({"id": ID, "name": {"type": "string"}, "email": {"type": "string"},
          "role": {"type": "string", "enum": ["admin", "responder", "viewer"]}, "time_zone": {"type": "string"},
          "token": obj({"name": {"type": "string"}, "scope": {"type": "string", "enum": ["read", "write"]},
                        "prefix": {"type": "string"}})})


def listing(name: str, item: str, *, paginated: bool = True) -> dict:
    properties = {name: {"type": "array", "items": ref(item)}}
    if paginated:
        properties["pagination"] = ref("Pagination")
    return obj(properties)


# --- requests ------------------------------------------------------------------------

def body(properties: dict, *, required: tuple[str, ...] = (), optional_body: bool = False,
         example: dict | None = None) -> dict:
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
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


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
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description, **extra}


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


@cache
def document() -> dict:
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
                description="Writes a `note` timeline event (via `api`) and the audit entry.",
                role="responder", parameters=[incident_id],
                request_body=body({"text": text(MAX_NOTE, "Markdown; not blank.")}, required=("text",),
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
        "/services/{service_id}": {
            "get": operation("show_service", "services", "One service",
                             answers(200, "The service.", ref("Service"), 401, 404), parameters=[service_id]),
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
            "post": operation(
                "update_component", "status page", "Change a component",
                answers(200, "The component.", ref("StatusComponent"), *POST_ERRORS, 404,
                        conflict="Another component has that name."),
                description="Only the fields sent change. Writes the audit entry.", role="admin",
                parameters=[param("component_id")],
                request_body=body(COMPONENT_INPUT, example={"description": "Basket and payment", "position": 2})),
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
            "post": operation(
                "delete_component", "status page", "Remove a component, with its history",
                answers(200, "The component as it was.", ref("StatusComponent"), *POST_ERRORS, 404),
                description="Writes the audit entry. The body, if any, is an empty object.", role="admin",
                parameters=[param("component_id")], request_body=body({}, optional_body=True)),
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
                "Incidents, alerts, services, change events and status page components. Send `Authorization: Bearer <token>` "
                "(make one on your profile page or with `flask --app wsgi create-api-token`). A read-scope "
                "token may only read; writes act with the token owner's role (viewers read, responders act on "
                "incidents, admins configure services).\n\n"
                "Bodies are JSON objects; a field the operation does not take is refused. Errors answer "
                "`{\"error\": \"…\"}` with the right status, plus `errors` listing each problem with the input. "
                "Times are ISO 8601: answers give UTC with a `Z`; times you send need a zone. Lists take "
                f"`page` (from 1) and `per_page` (1 to {MAX_PER_PAGE}) and answer with `pagination`."),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": "incidents"}, {"name": "alerts"}, {"name": "services"}, {"name": "change events"},
                 {"name": "status page"}, {"name": "meta"}],
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
                "StatusComponent": STATUS_COMPONENT,
                "GroupRef": REF,
                "Error": ERROR,
                "Pagination": PAGINATION,
                "Me": ME,
                "ServiceRef": REF,
                "TeamRef": REF,
                "PersonRef": REF,
            },
        },
    }


@bp.route("/openapi.json")
@public
def openapi():
    """The API described for machines (and for people, through any OpenAPI viewer)."""
    return jsonify(document())
