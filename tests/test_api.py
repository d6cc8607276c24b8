"""The JSON API under /api/v1: every route, its refusals, what it records, and its
contract. Every answer any test here gets is checked against the OpenAPI document
the API serves, and every request that succeeds is checked against it too."""
from __future__ import annotations

import copy
import importlib
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from app import clock
from app.alerts.models import Alert, ChangeEvent
from app.api.openapi import document
from app.audit.models import ActorKind, AuditEntry
from app.audit.service import Actor
from app.auth import service as people
from app.auth.models import ApiToken, Role
from app.extensions import db
from app.incidents import service as lifecycle
from app.incidents.models import EventKind, Incident, IncidentEvent, Status
from app.postmortems import actions
from app.postmortems import service as postmortems
from app.services.models import IntegrationKey, Service
from app.statuspage import service as status_page
from tests.problems import detail, listed
from tests.factories import SYSTEM, make_service, make_team, make_user, resolve, story
from tests.oncall_api_walk import walk_oncall
from tests.response_api_walk import walk_response

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# openapi-core reads application/json itself; problem details are JSON too (RFC 9457).
SPEC = OpenAPI.from_dict(copy.deepcopy(document()),
                         config=Config(extra_media_type_deserializers={"application/problem+json": json.loads}))
NOTHING = object()
# Over MAX_CONTENT_LENGTH (512 KB).
TOO_LARGE = json.dumps({"note": "x" * (600 * 1024)})


# --- calling the API -------------------------------------------------------------------

class Api:
    """Calls /api/v1 with one bearer token (or none) and holds every answer to the
    OpenAPI document. `log` collects (path template, method, status) of each call."""

    def __init__(self, client, secret: str | None, log: list):
        self.client, self.secret, self.log = client, secret, log

    def get(self, path: str, **query):
        return self.call("GET", path, query=query)

    def post(self, path: str, body=NOTHING, *, data: str | bytes | None = None):
        return self.call("POST", path, body=body, data=data)

    def call(self, method: str, path: str, *, query=None, body=NOTHING, data=None, headers=None):
        url = "/api/v1" + path
        headers = {**({"Authorization": f"Bearer {self.secret}"} if self.secret else {}), **(headers or {})}
        if body is not NOTHING:
            data = json.dumps(body)
        kwargs = {"method": method, "headers": headers, "query_string": query or None}
        if data is not None:
            kwargs.update(data=data, content_type="application/json")
        sent = Request(EnvironBuilder(url, **kwargs).get_environ())
        answer = self.client.open(url, csrf=False, **kwargs)
        SPEC.validate_response(WerkzeugOpenAPIRequest(sent), WerkzeugOpenAPIResponse(answer))
        if answer.status_code < 300:
            SPEC.validate_request(WerkzeugOpenAPIRequest(sent))
        rule, _ = self.client.application.url_map.bind("localhost").match(url, method, return_rule=True)
        self.log.append((template(rule.rule), method.lower(), answer.status_code))
        return answer


def rest_walks():
    """The walks of the resources declared with app.api.spec: `walk` in each
    tests/*_rest_walk.py (tests/teams_rest_walk.py shows one)."""
    for path in sorted(Path(__file__).parent.glob("*_rest_walk.py")):
        yield importlib.import_module(f"tests.{path.stem}").walk


def without_links(pagination: dict) -> dict:
    return {key: value for key, value in pagination.items() if key != "links"}


def template(rule: str) -> str:
    """/api/v1/incidents/<int:incident_id> → /incidents/{incident_id}"""
    return re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule.removeprefix("/api/v1"))


def token(user, *, scope: str = "write") -> str:
    _, secret = people.create_api_token(SYSTEM, user, name=f"{user.name} {scope}", scope=scope)
    db.session.commit()
    return secret


@pytest.fixture
def log():
    return []


@pytest.fixture
def world(app, client, log):
    """Three people with write tokens, a responder's read-only token, no token at all,
    and a service (owned by a team) with a known integration key."""
    clock.set(T0)
    admin = make_user(Role.ADMIN, name="Ada Admin")
    responder = make_user(Role.RESPONDER, name="Rita Responder")
    viewer = make_user(Role.VIEWER, name="Vic Viewer")
    team = make_team("Payments", members=[responder])
    service = make_service("checkout-api", team=team, with_key=False)
    db.session.add(IntegrationKey(service=service, key="a" * 32, name="Prometheus", created_at=T0))
    db.session.commit()
    return SimpleNamespace(
        admin=admin, responder=responder, viewer=viewer, team=team, service=service,
        as_admin=Api(client, token(admin), log), as_responder=Api(client, token(responder), log),
        as_viewer=Api(client, token(viewer), log), as_reader=Api(client, token(responder, scope="read"), log),
        anonymous=Api(client, None, log),
    )


def open_incident(service: Service, title: str = "Checkout is failing", severity: int = 2, *,
                  status: Status = Status.TRIGGERED) -> Incident:
    """An incident opened (and moved to `status`) through the lifecycle, a minute after the last."""
    now = clock.advance(timedelta(minutes=1))
    actor = Actor.system("tests")
    incident = lifecycle.open_incident(actor, service=service, title=title, severity=severity, now=now, source="web")
    if status == Status.ACKNOWLEDGED:
        lifecycle.acknowledge(actor, incident, now)
    elif status == Status.RESOLVED:
        resolve(actor, incident, now)  # and the engine's follow-up
    db.session.commit()
    return incident


def trigger(client, key: str = "a" * 32, dedup: str = "http-5xx", **payload):
    answer = client.post("/v2/enqueue", json={
        "routing_key": key, "event_action": "trigger", "dedup_key": dedup,
        "payload": {"summary": f"5xx on {dedup}", "source": "prom-1", "severity": "critical", **payload},
        "links": [{"href": "https://grafana.example.com/d/x", "text": "Dashboard"}],
        "images": [{"src": "https://grafana.example.com/x.png", "alt": "5xx"}],
    })
    assert answer.status_code == 202, answer.json
    return db.session.scalar(sa.select(Alert).where(Alert.dedup_key == dedup))


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def events(incident: Incident, kind: EventKind) -> list[IncidentEvent]:
    return db.session.scalars(sa.select(IncidentEvent).where(
        IncidentEvent.incident_id == incident.id, IncidentEvent.kind == kind.value)).all()


def audits(action: str) -> list[AuditEntry]:
    return db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).all()


def written() -> tuple[int, ...]:
    return tuple(count(m) for m in (Incident, IncidentEvent, AuditEntry, Service, IntegrationKey))


# --- the document ----------------------------------------------------------------------

def test_the_document_is_public_and_valid_openapi(client):
    answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    spec = answer.json
    assert spec == json.loads(json.dumps(document()))
    OpenAPI.from_dict(spec)  # validates the document itself
    assert spec["openapi"] == "3.1.0"
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": "An API token, fbk_…"}
    assert {"Incident", "TimelineEvent", "Alert", "Service", "IntegrationKey", "ChangeEvent", "Error",
            "Pagination"} <= set(spec["components"]["schemas"])
    assert spec["paths"]["/openapi.json"]["get"]["security"] == []


def test_the_document_describes_every_api_route_and_no_other(app):
    routes = {(template(rule.rule), method.lower())
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in document()["paths"].items() for method in item}
    assert routes == documented


def test_every_write_documents_its_body_and_refusals():
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            if path != "/openapi.json":
                assert "401" in statuses, (method, path)
            if method == "post":
                schema = operation["requestBody"]["content"]["application/json"]["schema"]
                if "$ref" in schema:
                    schema = document()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
                assert schema["type"] == "object"
                assert {"400", "403", "413"} <= statuses, path
            if "{" in path:
                assert "404" in statuses, path


@pytest.mark.db
def test_every_route_gives_every_status_it_documents_and_each_answer_matches_the_document(world, client, log):
    """A walk through the whole API. Each call is checked against the document as it
    is made (see Api.call); at the end, every (route, status) the document promises
    must have been seen, and nothing it does not."""
    w = world
    incident = open_incident(w.service)
    resolved = open_incident(w.service, "Old trouble", status=Status.RESOLVED)
    alert = trigger(client)
    inactive = make_service("retired-service")
    inactive.active = False
    client.post("/v2/change/enqueue", json={"routing_key": "a" * 32, "payload": {"summary": "Deploy v42"}})
    db.session.commit()
    key = w.service.integration_keys[0]
    postmortem = postmortems.for_incident(resolved)  # a SEV-2: resolving it made the draft
    item = actions.create_item(SYSTEM, resolved, clock.now(), title="Alert sooner", due_on=date(2026, 3, 20))
    group = status_page.create_group(SYSTEM, name="Payments", now=clock.now())
    component = status_page.create_component(SYSTEM, name="Card payments", now=clock.now(), group=group)
    status_page.create_component(SYSTEM, name="Search", now=clock.now())
    db.session.commit()

    paths = {
        "/status_page/components/{component_id}": f"/status_page/components/{component.id}",
        "/incidents/{incident_id}": f"/incidents/{incident.id}",
        "/alerts/{alert_id}": f"/alerts/{alert.id}",
        "/services/{service_id}": f"/services/{w.service.id}",
        "/services/{service_id}/integration_keys": f"/services/{w.service.id}/integration_keys",
    }

    # Reads.
    w.as_viewer.get("/me")
    w.as_viewer.get("/incidents", status="all", severity="1,2", per_page=10)
    w.as_viewer.get("/incidents", severity="SEV-9")
    w.as_viewer.get(paths["/incidents/{incident_id}"])
    w.as_viewer.get(f"/incidents/{incident.id}/timeline")
    w.as_viewer.get("/alerts", status="all")
    w.as_viewer.get("/alerts", status="loud")
    w.as_viewer.get(paths["/alerts/{alert_id}"])
    w.as_viewer.get("/services")
    w.as_viewer.get(paths["/services/{service_id}"])
    w.as_viewer.get(paths["/services/{service_id}/integration_keys"])
    w.as_viewer.get("/change_events", since="2026-03-01T00:00:00Z")
    w.as_viewer.get("/change_events", since="yesterday")
    w.as_viewer.get("/postmortems", status="draft")
    w.as_viewer.get("/postmortems", status="lost")
    w.as_viewer.get(f"/postmortems/{postmortem.id}")
    w.as_viewer.get("/action_items", status="all", overdue="true")
    w.as_viewer.get("/action_items", overdue="maybe")
    w.as_viewer.get(f"/action_items/{item.id}")
    w.as_viewer.get("/status_page/components")
    w.as_viewer.get(paths["/status_page/components/{component_id}"])
    w.as_viewer.get("/insights/metrics", start_date="2026-02-01", end_date="2026-03-31", time_zone="Europe/London",
                    granularity="month", team_id=w.team.id)
    w.as_viewer.get("/insights/metrics", start_date="soon", time_zone="Mars/Olympus")
    w.anonymous.get("/openapi.json")

    # Writes that succeed.
    created = w.as_responder.post("/incidents", {"title": "Payments down", "service_id": w.service.id,
                                                 "severity": "SEV-1", "description": "All regions",
                                                 "impact_started_at": "2026-03-02T08:55:00+01:00"})
    assert created.status_code == 201
    w.as_responder.post(f"/incidents/{incident.id}/acknowledge")
    w.as_responder.post(f"/incidents/{incident.id}/notes", {"text": "Rolling back"})
    w.as_responder.post(f"/incidents/{incident.id}/severity", {"severity": 1, "reason": "All regions"})
    w.as_responder.post(f"/incidents/{incident.id}/resolve", {"note": "Rolled back"})
    w.as_admin.post("/services", {"name": "search-api", "team_id": w.team.id,
                                  "severity_mapping": {"critical": 1, "info": None}})
    new_key = w.as_admin.post(f"/services/{w.service.id}/integration_keys", {"name": "Grafana"}).json
    w.as_admin.post(f"/services/{w.service.id}/integration_keys/{new_key['id']}/revoke")
    w.as_responder.post("/action_items", {"incident_id": resolved.id, "title": "Load test the pool",
                                          "due_on": "2026-03-27", "owner_id": w.responder.id, "priority": "high",
                                          "type": "preventive", "ticket_url": "https://tracker.example.com/PAY-1"})
    w.as_responder.post(f"/action_items/{item.id}/status", {"status": "done"})
    made = w.as_admin.post("/status_page/components", {"name": "Checkout", "group_id": group.id,
                                                       "service_ids": [w.service.id], "status": "degraded_performance"})
    assert made.status_code == 201 and made.json["status"] == "degraded_performance"
    changed = w.as_admin.post(paths["/status_page/components/{component_id}"],
                              {"description": "Card authorisation", "position": 3, "group_id": 0})
    assert changed.json["group"] is None and changed.json["position"] == 3
    assert w.as_admin.post(f"/status_page/components/{component.id}/status",
                           {"status": "partial_outage"}).json["status"] == "partial_outage"
    assert w.as_admin.post(f"/status_page/components/{made.json['id']}/delete").json["name"] == "Checkout"

    # Bad input, conflicts.
    w.as_responder.post("/incidents", {"title": "", "severity": 9})
    w.as_responder.post("/incidents", {"title": "Retired", "service_id": inactive.id, "severity": 3})
    w.as_responder.post(f"/incidents/{resolved.id}/acknowledge")
    w.as_responder.post(f"/incidents/{incident.id}/acknowledge", data="[]")
    w.as_responder.post(f"/incidents/{incident.id}/resolve", {"note": 42})
    w.as_responder.post(f"/incidents/{incident.id}/notes", {"text": "   "})
    w.as_responder.post(f"/incidents/{incident.id}/severity", {"severity": 3})
    w.as_admin.post("/services", {"name": "checkout-api"})
    w.as_admin.post("/services", {"name": 7})
    w.as_admin.post(f"/services/{w.service.id}/integration_keys", {"label": "typo"})
    w.as_admin.post(f"/services/{w.service.id}/integration_keys/{key.id}/revoke", data="not json")
    oncall_values = walk_oncall(w)
    oncall_values.update(walk_response(w, incident))
    for walk in rest_walks():
        oncall_values.update(walk(w))
    w.as_responder.post("/action_items", {"incident_id": resolved.id, "title": "", "due_on": "soon"})
    w.as_responder.post(f"/action_items/{item.id}/status", {"status": "wont_do"})
    w.as_admin.post("/status_page/components", {"name": " ", "service_ids": [9999]})
    w.as_admin.post("/status_page/components", {"name": "card PAYMENTS"})
    w.as_admin.post(paths["/status_page/components/{component_id}"], {"position": -1})
    w.as_admin.post(paths["/status_page/components/{component_id}"], {"name": "Search"})
    w.as_admin.post(f"/status_page/components/{component.id}/status", {"status": "under_maintenance"})
    w.as_admin.post(f"/status_page/components/{component.id}/delete", {"now": True})

    # Everyone else's refusals, route by route.
    for rule in client.application.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint == "api.openapi":
            continue
        path = template(rule.rule)
        real = path.replace("{incident_id}", str(incident.id)).replace("{service_id}", str(w.service.id)) \
            .replace("{key_id}", str(key.id)).replace("{alert_id}", str(alert.id)) \
            .replace("{postmortem_id}", str(postmortem.id)).replace("{action_item_id}", str(item.id)) \
            .replace("{component_id}", str(component.id))
        missing = path
        for name, (found, absent) in oncall_values.items():
            real, missing = real.replace(name, found), missing.replace(name, absent)
        missing = re.sub(r"\{\w+\}", "9999", missing)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert w.anonymous.call(method, real).status_code == 401
            if "{" in path:
                sent = {"body": {}} if method in ("POST", "PATCH", "PUT") else {}
                assert w.as_admin.call(method, missing, **sent).status_code == 404, (method, missing)
            if method == "POST":
                assert w.as_viewer.call(method, real, body={}).status_code == 403
                assert w.as_reader.call(method, real, body={}).status_code == 403
                assert w.as_admin.call(method, real, data=TOO_LARGE).status_code == 413

    promised = {(path, method, int(status)) for path, item in document()["paths"].items()
                for method, operation in item.items() for status in operation["responses"]}
    assert set(log) == promised


# --- who may call what -----------------------------------------------------------------

def api_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.endpoint != "api.openapi":
            url = re.sub(r"<(?:[^:>]+:)?(\w+)>", "1", rule.rule).removeprefix("/api/v1")
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield method, url


def test_every_route_but_the_document_needs_a_token(world, app):
    for method, url in api_routes(app):
        answer = world.anonymous.call(method, url)
        assert answer.status_code == 401, (method, url)
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="firebreak"'
        assert detail(answer) == "A valid API token is needed: send 'Authorization: Bearer <token>'."


@pytest.mark.db
def test_viewers_read_everything_and_change_nothing(world, app):
    open_incident(world.service)
    before = written()
    for method, url in api_routes(app):
        if method == "GET":
            continue
        answer = world.as_viewer.call(method, url, body={})
        assert answer.status_code == 403, (method, url)
        assert "needs the" in answer.json["error"]
    assert written() == before


@pytest.mark.db
def test_read_scope_tokens_only_read_whoever_holds_them(world, app, client, log):
    incident = open_incident(world.service)
    reader = Api(client, token(world.admin, scope="read"), log)
    assert reader.get(f"/incidents/{incident.id}").status_code == 200
    before = written()
    for method, url in api_routes(app):
        if method == "POST":
            answer = reader.call(method, url.replace("/1", f"/{incident.id}", 1), body={})
            assert answer.status_code == 403 and detail(answer) == "This token may only read.", url
    assert written() == before


@pytest.mark.db
def test_only_admins_configure_services(world):
    w = world
    key = w.service.integration_keys[0]
    for url, body in [("/services", {"name": "sneaky"}),
                      (f"/services/{w.service.id}/integration_keys", {}),
                      (f"/services/{w.service.id}/integration_keys/{key.id}/revoke", {})]:
        answer = w.as_responder.post(url, body)
        assert answer.status_code == 403 and detail(answer) == "This needs the admin role.", url
    assert key.active and count(Service) == 1


@pytest.mark.db
def test_unknown_ids_are_404_with_a_message(world):
    w = world
    assert detail(w.as_viewer.get("/incidents/4040")) == "There is no incident #4040."
    assert w.as_responder.post("/incidents/4040/acknowledge").status_code == 404
    assert w.as_viewer.get("/incidents/4040/timeline").status_code == 404
    assert detail(w.as_viewer.get("/alerts/4040")) == "There is no alert 4040."
    assert detail(w.as_viewer.get("/services/4040")) == "There is no service 4040."
    assert w.as_viewer.get("/services/4040/integration_keys").status_code == 404
    # Ids past what the database holds name nothing, rather than breaking the query.
    assert w.as_viewer.get(f"/incidents/{2**63}").status_code == 404
    # A key of another service is not this service's.
    other = make_service("other-service")
    answer = w.as_admin.post(f"/services/{w.service.id}/integration_keys/{other.integration_keys[0].id}/revoke")
    assert answer.status_code == 404 and detail(answer) == ("Service checkout-api has no integration key "
                                                           f"{other.integration_keys[0].id}.")
    assert other.integration_keys[0].active


def test_unknown_api_paths_and_methods_answer_json(world, client):
    assert client.get("/api/v1/nothing-here").json["error"]
    answer = client.delete("/api/v1/incidents", headers={"Authorization": f"Bearer {world.as_admin.secret}"},
                           csrf=False)
    assert answer.status_code == 405 and answer.is_json


@pytest.mark.db
def test_reading_marks_the_token_used(world):
    clock.advance(timedelta(minutes=5))
    assert world.as_viewer.get("/me").status_code == 200
    used = db.session.scalar(sa.select(ApiToken).where(ApiToken.user_id == world.viewer.id))
    assert used.last_used_at == clock.now()


# --- incidents: reading ----------------------------------------------------------------

@pytest.fixture
def mix(world):
    """Incidents in every status and severity, opened a minute apart, on two services."""
    other = make_service("search-api")
    made = {
        "tri_sev3_old": open_incident(world.service, "checkout slow", 3),
        "res_sev1": open_incident(world.service, "checkout down (resolved)", 1, status=Status.RESOLVED),
        "ack_sev2": open_incident(other, "search errors", 2, status=Status.ACKNOWLEDGED),
        "tri_sev1": open_incident(other, "search down", 1),
        "ack_sev1": open_incident(world.service, "payments 50% off", 1, status=Status.ACKNOWLEDGED),
        "tri_sev3_new": open_incident(world.service, "checkout 100_% slow", 3),
        "res_sev4": open_incident(other, "typo on search page", 4, status=Status.RESOLVED),
    }
    return SimpleNamespace(other=other, **{name: row.id for name, row in made.items()})


def ids(answer) -> list[int]:
    assert answer.status_code == 200, answer.json
    return [row["id"] for row in answer.json["incidents"]]


@pytest.mark.db
def test_incidents_are_listed_most_urgent_first(world, mix):
    m, api = mix, world.as_viewer
    urgent = [m.tri_sev1, m.tri_sev3_new, m.tri_sev3_old, m.ack_sev1, m.ack_sev2, m.res_sev1, m.res_sev4]
    assert ids(api.get("/incidents", status="all")) == urgent
    assert ids(api.get("/incidents")) == urgent[:5]  # open by default
    assert ids(api.get("/incidents", status="triggered")) == urgent[:3]
    assert ids(api.get("/incidents", status="acknowledged")) == [m.ack_sev1, m.ack_sev2]
    assert ids(api.get("/incidents", status="resolved")) == [m.res_sev1, m.res_sev4]
    answer = api.get("/incidents")
    assert without_links(answer.json["pagination"]) == {"page": 1, "per_page": 50, "total": 5, "pages": 1}


@pytest.mark.db
def test_incident_pages_run_across_statuses_in_order(world, mix):
    api = world.as_viewer
    everything = ids(api.get("/incidents", status="all"))
    pages = [api.get("/incidents", status="all", per_page=3, page=n) for n in (1, 2, 3, 4)]
    assert [ids(p) for p in pages] == [everything[0:3], everything[3:6], everything[6:], []]
    assert without_links(pages[0].json["pagination"]) == {"page": 1, "per_page": 3, "total": 7, "pages": 3}
    assert without_links(pages[3].json["pagination"]) == {"page": 4, "per_page": 3, "total": 7, "pages": 3}
    # links to the other pages, in the body and in the Link header (RFC 8288)
    assert pages[0].json["pagination"]["links"] == {
        "self": "/api/v1/incidents?status=all&page=1&per_page=3", "first": "/api/v1/incidents?status=all&page=1&per_page=3",
        "last": "/api/v1/incidents?status=all&page=3&per_page=3", "prev": None,
        "next": "/api/v1/incidents?status=all&page=2&per_page=3"}
    assert pages[0].headers["Link"] == ('</api/v1/incidents?status=all&page=1&per_page=3>; rel="first", '
                                        '</api/v1/incidents?status=all&page=3&per_page=3>; rel="last", '
                                        '</api/v1/incidents?status=all&page=2&per_page=3>; rel="next"')
    assert pages[3].json["pagination"]["links"]["next"] is None
    assert pages[3].json["pagination"]["links"]["prev"] == "/api/v1/incidents?status=all&page=3&per_page=3"
    assert ids(api.get("/incidents", status="all", per_page=100)) == everything


@pytest.mark.db
def test_incident_filters(world, mix):
    m, api = mix, world.as_viewer
    assert ids(api.get("/incidents", status="all", severity="1")) == [m.tri_sev1, m.ack_sev1, m.res_sev1]
    assert set(ids(api.get("/incidents", status="all", severity=["1", "4"]))) == {
        m.tri_sev1, m.ack_sev1, m.res_sev1, m.res_sev4}
    assert set(ids(api.get("/incidents", status="all", severity="SEV-1,sev4"))) == {
        m.tri_sev1, m.ack_sev1, m.res_sev1, m.res_sev4}
    assert set(ids(api.get("/incidents", status="all", service_id=m.other.id))) == {
        m.ack_sev2, m.tri_sev1, m.res_sev4}
    assert set(ids(api.get("/incidents", status="all", team_id=world.team.id))) == {
        m.tri_sev3_old, m.res_sev1, m.ack_sev1, m.tri_sev3_new}
    assert ids(api.get("/incidents", status="all", q="SEARCH  DOWN")) == [m.tri_sev1]
    # Wildcards in q are taken literally.
    assert ids(api.get("/incidents", status="all", q="50%")) == [m.ack_sev1]
    assert ids(api.get("/incidents", status="all", q="100_%")) == [m.tri_sev3_new]
    assert ids(api.get("/incidents", status="all", service_id=999)) == []


@pytest.mark.parametrize("query, message", [
    ({"status": "closed"}, "'status' must be one of open, triggered, acknowledged, resolved, all"),
    ({"severity": "5"}, "'severity' must be 1 to 4 or \"SEV-1\" to \"SEV-4\", not '5'"),
    ({"service_id": "checkout"}, "'service_id' must be a whole number from 1 to 2147483647"),
    ({"team_id": "0"}, "'team_id' must be a whole number from 1 to 2147483647"),
    ({"per_page": "101"}, "'per_page' must be a whole number from 1 to 100"),
    ({"page": "0"}, "'page' must be a whole number from 1 to 1000000"),
    ({"page": "-1", "status": "x"}, "'status' must be one of open, triggered, acknowledged, resolved, all; "
                                    "'page' must be a whole number from 1 to 1000000"),
])
def test_bad_incident_queries_say_what_is_wrong(world, query, message):
    answer = world.as_viewer.get("/incidents", **query)
    assert answer.status_code == 400
    assert answer.json["error"] == message
    assert listed(answer) == message.split("; ")


@pytest.mark.db
def test_an_incident_reads_whole(world, client):
    incident = open_incident(world.service, "Checkout is failing", 2)
    lifecycle.acknowledge(Actor.for_user(world.responder), incident, clock.now())
    db.session.commit()
    body = world.as_viewer.get(f"/incidents/{incident.id}").json
    assert body == {
        "id": incident.id, "ref": f"#{incident.id}", "title": "Checkout is failing", "description": "",
        "status": "acknowledged", "severity": 2, "severity_name": "SEV-2", "severity_label": "Major",
        "initial_severity": 2, "urgency": "high",
        "service": {"id": world.service.id, "name": "checkout-api"}, "source": "web", "is_exercise": False,
        "created_at": "2026-03-02T09:01:00Z", "updated_at": "2026-03-02T09:01:00Z", "version": incident.version,
        "impact_started_at": None, "detected_at": "2026-03-02T09:01:00Z",
        "acknowledged_at": "2026-03-02T09:01:00Z", "mitigated_at": None, "resolved_at": None,
        "response_due_at": "2026-03-02T09:16:00Z", "resolution_due_at": "2026-03-02T13:01:00Z",
        "declared_by": None, "acknowledged_by": {"id": world.responder.id, "name": "Rita Responder"},
        "resolved_by": None, "merged_into_id": None,
    }


@pytest.mark.db
def test_listing_costs_the_same_queries_for_few_or_many_incidents(world, app):
    """No query per incident: services and people arrive with the page."""
    statements: list[str] = []

    def listen(conn, cursor, statement, *args):
        statements.append(statement)

    def queries_for_listing() -> int:
        statements.clear()
        sa.event.listen(db.engine, "before_cursor_execute", listen)
        try:
            assert world.as_viewer.get("/incidents", status="all").status_code == 200
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listen)
        return len(statements)

    def incidents_on_new_services(n: int) -> None:
        for _ in range(n):
            responder = make_user(Role.RESPONDER)
            incident = open_incident(make_service(), status=Status.TRIGGERED)
            lifecycle.acknowledge(Actor.for_user(responder), incident, clock.now())
            lifecycle.resolve(Actor.for_user(responder), incident, clock.now())
            db.session.commit()

    incidents_on_new_services(2)
    few = queries_for_listing()
    incidents_on_new_services(12)
    assert queries_for_listing() == few


def test_the_incident_list_walks_the_status_severity_index(world, app, backend):
    """On 100,000 incidents a page must not sort them all: each status segment is read
    in the order of ix_incidents_status_severity_created."""
    if backend != "sqlite":
        pytest.skip("reads SQLite's query plan")
    open_incident(world.service)
    captured: list[tuple[str, tuple]] = []

    def listen(conn, cursor, statement, parameters, *args):
        if "FROM incidents" in statement:
            captured.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", listen)
    try:
        assert world.as_viewer.get("/incidents", status="all", severity="1,2").status_code == 200
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listen)
    counting, paging = captured[0], captured[1]
    assert "count" in counting[0].lower() and paging[0].startswith("SELECT incidents.id")
    for statement, parameters in (counting, paging):
        with db.engine.connect() as conn:
            plan = " | ".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement,
                                                                              parameters))
        assert "SEARCH incidents USING COVERING INDEX ix_incidents_status_severity_created" in plan, plan
        assert "SCAN" not in plan and "TEMP B-TREE" not in plan, plan


# --- incidents: acting -----------------------------------------------------------------

@pytest.mark.db
def test_opening_an_incident(world):
    w = world
    answer = w.as_responder.post("/incidents", {
        "title": "  Payments   down ", "service_id": w.service.id, "severity": 1, "description": "All **regions**",
        "impact_started_at": "2026-03-02T09:55:00+01:00"})
    assert answer.status_code == 201
    body = answer.json
    assert answer.headers["Location"] == f"/api/v1/incidents/{body['id']}"
    assert (body["title"], body["severity"], body["severity_name"], body["status"], body["source"]) == (
        "Payments down", 1, "SEV-1", "triggered", "api")
    assert body["impact_started_at"] == "2026-03-02T08:55:00Z" and body["detected_at"] == "2026-03-02T09:00:00Z"
    assert body["declared_by"] == {"id": w.responder.id, "name": "Rita Responder"}
    assert body["description"] == "All **regions**"
    incident = db.session.get(Incident, body["id"])
    [opened] = events(incident, EventKind.OPENED)
    assert (opened.via, opened.actor_kind, opened.actor_user_id) == ("api", ActorKind.API_TOKEN, w.responder.id)
    [entry] = audits("incident.open")
    assert entry.object_id == incident.id and entry.actor_token_id is not None
    assert entry.actor_label == "Rita Responder (API token Rita Responder write)"


@pytest.mark.db
def test_an_impact_start_in_the_future_is_taken_as_now(world):
    answer = world.as_responder.post("/incidents", {"title": "x", "service_id": world.service.id, "severity": 4,
                                                    "impact_started_at": "2030-01-01T00:00:00Z"})
    assert answer.json["impact_started_at"] == "2026-03-02T09:00:00Z"


@pytest.mark.db
@pytest.mark.parametrize("data, errors", [
    ('{"title": "x",', ["The request body is not valid JSON (Expecting property name enclosed in double quotes "
                        "at line 1 column 15)"]),
    ("", ["'title' is missing", "'service_id' is missing", "'severity' is missing"]),
    ('["title"]', ["The request body must be a JSON object, not an array"]),
    ('"title"', ["The request body must be a JSON object, not a string"]),
    ('{"title": 5, "service_id": "1", "severity": true}',
     ["'title' must be a string", "'service_id' must be a positive integer id",
      "'severity' must be 1 to 4 or \"SEV-1\" to \"SEV-4\""]),
    ('{"title": " ", "service_id": 1, "severity": 7}',
     ["'title' must not be blank", "'severity' must be 1 to 4 or \"SEV-1\" to \"SEV-4\""]),
    ('{"title": "x", "service_id": 1, "severity": "SEV-5", "sevirity": 2}',
     ["'sevirity' is not a field here (expected: title, service_id, severity, description, impact_started_at)",
      "'severity' must be 1 to 4 or \"SEV-1\" to \"SEV-4\""]),
    ('{"title": "x", "service_id": 1, "severity": 2, "impact_started_at": "2026-03-02T08:00:00"}',
     ["'impact_started_at' needs a time zone, e.g. 2026-03-01T09:30:00Z or 2026-03-01T10:30:00+01:00"]),
    ('{"title": "x", "service_id": 1, "severity": 2, "impact_started_at": "last tuesday"}',
     ["'impact_started_at' must be an ISO 8601 time such as 2026-03-01T09:30:00Z"]),
    ('{"title": "x", "service_id": 999, "severity": 2}', ["'service_id' names no service (there is no service 999)"]),
    ('{"title": "%s", "service_id": 1, "severity": 2}' % ("x" * 1025), ["'title' must be at most 1,024 characters"]),
])
def test_opening_an_incident_with_a_bad_body_says_everything_that_is_wrong(world, data, errors):
    before = written()
    answer = world.as_responder.post("/incidents", data=data)
    assert answer.status_code == 400
    assert detail(answer) == "; ".join(errors) and listed(answer) == errors
    assert written() == before


@pytest.mark.db
def test_incidents_are_not_opened_on_inactive_services(world):
    world.service.active = False
    db.session.commit()
    answer = world.as_responder.post("/incidents", {"title": "x", "service_id": world.service.id, "severity": 2})
    assert answer.status_code == 409
    assert detail(answer) == "Service checkout-api is inactive: it takes no new incidents."
    assert count(Incident) == 0


@pytest.mark.db
def test_acknowledging(world):
    incident = open_incident(world.service)
    answer = world.as_responder.post(f"/incidents/{incident.id}/acknowledge")
    assert answer.status_code == 200
    assert answer.json["status"] == "acknowledged"
    assert answer.json["acknowledged_by"] == {"id": world.responder.id, "name": "Rita Responder"}
    [event] = events(incident, EventKind.ACKNOWLEDGED)
    assert (event.via, event.actor_user_id) == ("api", world.responder.id)
    assert event.text == "Acknowledged by Rita Responder (API token Rita Responder write)"
    [entry] = audits("incident.acknowledge")
    assert entry.summary == f"#{incident.id} acknowledged via api"
    # Again: nothing more happens. An empty object is as good as no body.
    again = world.as_responder.post(f"/incidents/{incident.id}/acknowledge", {})
    assert again.status_code == 200 and again.json["status"] == "acknowledged"
    assert len(events(incident, EventKind.ACKNOWLEDGED)) == 1 and len(audits("incident.acknowledge")) == 1


@pytest.mark.db
def test_a_resolved_incident_cannot_be_acknowledged(world):
    incident = open_incident(world.service, status=Status.RESOLVED)
    answer = world.as_responder.post(f"/incidents/{incident.id}/acknowledge")
    assert answer.status_code == 409
    assert detail(answer) == f"Incident #{incident.id} is resolved: there is nothing to acknowledge."
    assert events(incident, EventKind.ACKNOWLEDGED) == []


@pytest.mark.db
def test_acknowledge_takes_no_fields(world):
    incident = open_incident(world.service)
    answer = world.as_responder.post(f"/incidents/{incident.id}/acknowledge", {"note": "on it"})
    assert answer.status_code == 400
    assert answer.json["error"] == "'note' is not a field here (expected: none)"
    assert db.session.get(Incident, incident.id).status == Status.TRIGGERED


@pytest.mark.db
def test_resolving_with_a_note(world):
    incident = open_incident(world.service)
    answer = world.as_responder.post(f"/incidents/{incident.id}/resolve", {"note": "Rolled back 2026.03.1"})
    assert answer.status_code == 200
    body = answer.json
    assert body["status"] == "resolved" and body["resolved_at"] == "2026-03-02T09:01:00Z"
    assert body["resolved_by"] == {"id": world.responder.id, "name": "Rita Responder"}
    [event] = events(incident, EventKind.RESOLVED)
    assert event.via == "api" and event.text.endswith(": Rolled back 2026.03.1")
    [entry] = audits("incident.resolve")
    assert entry.before == {"status": "triggered"} and entry.after == {"status": "resolved"}
    # A retry changes nothing.
    assert world.as_responder.post(f"/incidents/{incident.id}/resolve").status_code == 200
    assert len(events(incident, EventKind.RESOLVED)) == 1 and len(audits("incident.resolve")) == 1


@pytest.mark.db
def test_resolving_without_a_note(world):
    incident = open_incident(world.service, status=Status.ACKNOWLEDGED)
    assert world.as_responder.post(f"/incidents/{incident.id}/resolve", {"note": "  "}).json["status"] == "resolved"
    [event] = events(incident, EventKind.RESOLVED)
    assert event.text == "Resolved by Rita Responder (API token Rita Responder write)"
    answer = world.as_responder.post(f"/incidents/{incident.id}/resolve", {"note": ["no"]})
    assert answer.status_code == 400 and answer.json["error"] == "'note' must be a string"


@pytest.mark.db
def test_adding_a_note(world):
    incident = open_incident(world.service)
    answer = world.as_responder.post(f"/incidents/{incident.id}/notes", {"text": "Error rate is falling"})
    assert answer.status_code == 201
    [event] = events(incident, EventKind.NOTE)
    assert answer.json == {
        "id": event.id, "incident_id": incident.id, "at": "2026-03-02T09:01:00Z", "kind": "note",
        "actor": {"kind": "api_token", "label": "Rita Responder (API token Rita Responder write)",
                  "user_id": world.responder.id},
        "via": "api", "text": "Error rate is falling", "data": None,
    }
    [entry] = audits("incident.note")
    assert entry.object_id == incident.id
    for body, error in [({"text": "  "}, "'text' must not be blank"), ({}, "'text' is missing"),
                        ({"text": "x" * 20_001}, "'text' must be at most 20,000 characters")]:
        answer = world.as_responder.post(f"/incidents/{incident.id}/notes", body)
        assert answer.status_code == 400 and answer.json["error"] == error
    assert len(events(incident, EventKind.NOTE)) == 1


@pytest.mark.db
def test_changing_severity(world):
    incident = open_incident(world.service, severity=3)
    answer = world.as_responder.post(f"/incidents/{incident.id}/severity",
                                     {"severity": "SEV-1", "reason": "All regions"})
    assert answer.status_code == 200
    assert (answer.json["severity"], answer.json["severity_name"], answer.json["initial_severity"]) == (1, "SEV-1", 3)
    [event] = events(incident, EventKind.SEVERITY_CHANGED)
    assert event.via == "api" and event.data == {"old": 3, "new": 1, "reason": "All regions"}
    [entry] = audits("incident.severity")
    assert (entry.before, entry.after) == ({"severity": 3}, {"severity": 1})
    # The same severity again changes nothing and needs no reason.
    assert world.as_responder.post(f"/incidents/{incident.id}/severity", {"severity": 1}).status_code == 200
    assert len(events(incident, EventKind.SEVERITY_CHANGED)) == 1


@pytest.mark.db
def test_a_severity_change_needs_a_reason_and_a_severity(world):
    incident = open_incident(world.service, severity=3)
    before = written()
    answer = world.as_responder.post(f"/incidents/{incident.id}/severity", {"severity": 2})
    assert answer.status_code == 400
    assert detail(answer) == "Say why the severity changes: it is kept for the review."
    answer = world.as_responder.post(f"/incidents/{incident.id}/severity", {"reason": "worse", "severity": 0})
    assert answer.json["error"] == "'severity' must be 1 to 4 or \"SEV-1\" to \"SEV-4\""
    assert written() == before
    assert db.session.get(Incident, incident.id).severity == 3


@pytest.mark.db
def test_the_timeline_reads_oldest_first(world):
    incident = open_incident(world.service)
    world.as_responder.post(f"/incidents/{incident.id}/acknowledge")
    clock.advance(timedelta(minutes=3))
    world.as_responder.post(f"/incidents/{incident.id}/notes", {"text": "Found it"})
    world.as_responder.post(f"/incidents/{incident.id}/resolve")
    answer = world.as_viewer.get(f"/incidents/{incident.id}/timeline")
    assert answer.json["incident_id"] == incident.id
    timeline = [e for e in answer.json["events"] if e["kind"] in story(e["kind"] for e in answer.json["events"])]
    assert [e["kind"] for e in timeline] == ["opened", "acknowledged", "note", "resolved"]
    assert [e["via"] for e in timeline] == ["web", "api", "api", "api"]
    assert [e["at"] for e in timeline] == ["2026-03-02T09:01:00Z", "2026-03-02T09:01:00Z",
                                           "2026-03-02T09:04:00Z", "2026-03-02T09:04:00Z"]
    assert timeline[0]["actor"] == {"kind": "system", "label": "tests", "user_id": None}


# --- alerts ----------------------------------------------------------------------------

@pytest.mark.db
def test_alerts_list_newest_first_and_read_with_what_monitoring_sent(world, client):
    first = trigger(client, dedup="disk-full", custom_details={"disk": "/var", "used": 0.97})
    clock.advance(timedelta(minutes=1))
    second = trigger(client, dedup="latency")
    client.post("/v2/enqueue", json={"routing_key": "a" * 32, "event_action": "resolve", "dedup_key": "latency"})
    api = world.as_viewer

    listed = api.get("/alerts").json
    assert [a["id"] for a in listed["alerts"]] == [first.id]
    assert without_links(listed["pagination"]) == {"page": 1, "per_page": 50, "total": 1, "pages": 1}
    assert "custom_details" not in listed["alerts"][0]
    assert [a["id"] for a in api.get("/alerts", status="all").json["alerts"]] == [second.id, first.id]
    assert [a["id"] for a in api.get("/alerts", status="resolved").json["alerts"]] == [second.id]
    by_incident = api.get("/alerts", status="all", incident_id=first.incident_id).json["alerts"]
    assert [a["id"] for a in by_incident] == [first.id]
    other = make_service("search-api")
    assert api.get("/alerts", status="all", service_id=other.id).json["alerts"] == []
    assert [a["id"] for a in api.get("/alerts", status="all", per_page=1, page=2).json["alerts"]] == [first.id]

    alert = api.get(f"/alerts/{first.id}").json
    assert alert["custom_details"] == {"disk": "/var", "used": 0.97}
    assert alert["links"] == [{"href": "https://grafana.example.com/d/x", "text": "Dashboard"}]
    assert alert["images"] == [{"src": "https://grafana.example.com/x.png", "href": "", "alt": "5xx"}]
    assert (alert["status"], alert["severity"], alert["summary"], alert["service"]) == (
        "triggered", "critical", "5xx on disk-full", {"id": world.service.id, "name": "checkout-api"})
    assert alert["incident_id"] == first.incident_id and alert["created_at"] == "2026-03-02T09:00:00Z"


def test_bad_alert_queries_say_what_is_wrong(world):
    answer = world.as_viewer.get("/alerts", status="loud", incident_id="x", per_page="1000")
    assert answer.status_code == 400
    assert listed(answer) == ["'status' must be one of open, triggered, acknowledged, resolved, all",
                                     "'incident_id' must be a whole number from 1 to 2147483647",
                                     "'per_page' must be a whole number from 1 to 100"]


# --- services and keys -----------------------------------------------------------------

@pytest.mark.db
def test_services_list_and_read(world):
    retired = make_service("aardvark-api")
    retired.active = False
    db.session.commit()
    listed = world.as_viewer.get("/services").json["services"]
    assert [s["name"] for s in listed] == ["checkout-api", "aardvark-api"]
    service = world.as_viewer.get(f"/services/{world.service.id}").json
    assert service == {
        "id": world.service.id, "name": "checkout-api", "description": "",
        "team": {"id": world.team.id, "name": "Payments"},
        "severity_mapping": {"critical": 2, "error": 3, "warning": 4, "info": None},
        "active": True, "alert_grouping": "per_alert", "resolve_with_alerts": True,
        "ack_timeout_minutes": 30, "auto_resolve_minutes": None, "created_at": "2026-03-02T09:00:00Z",
        # One service also says how it escalates and its triage matrix (app.api.services_rest).
        "escalation_policy": None, "fallback_team": None,
        "severity_matrix": {"unavailable": None, "degraded": None, "bug": None},
    }


@pytest.mark.db
def test_an_admin_creates_a_service_with_its_first_key(world, client):
    answer = world.as_admin.post("/services", {"name": "search-api", "description": "Search", "team_id": world.team.id,
                                               "severity_mapping": {"critical": 1, "warning": None}})
    assert answer.status_code == 201
    body = answer.json
    assert answer.headers["Location"] == f"/api/v1/services/{body['id']}"
    assert body["severity_mapping"] == {"critical": 1, "error": 3, "warning": None, "info": None}
    assert body["team"] == {"id": world.team.id, "name": "Payments"}
    key = body["integration_key"]
    assert re.fullmatch(r"[0-9a-f]{32}", key["key"]) and key["key_prefix"] == key["key"][:6] and key["active"]
    assert [e.action for e in db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action.like("service.%")))
            ][-2:] == ["service.create", "service.add_key"]
    entry = audits("service.create")[-1]
    assert entry.object_id == body["id"] and entry.actor_user_id == world.admin.id
    # The key works at once.
    assert trigger(client, key=key["key"], dedup="search-down").service_id == body["id"]


@pytest.mark.db
@pytest.mark.parametrize("body, status, error", [
    ({"name": "Checkout-API"}, 409, "A service with that name exists."),
    ({}, 400, "'name' is missing"),
    ({"name": "x", "team_id": 999}, 400, "'team_id' names no team (there is no team 999)"),
    ({"name": "x", "severity_mapping": {"critical": 0, "fatal": 1}}, 400,
     "'severity_mapping' gives 'critical' 0; use 1 to 4, or null to record the alert only; "
     "has an unknown event severity 'fatal' (use critical, error, warning, info)"),
    ({"name": "x", "severity_mapping": [1]}, 400,
     "'severity_mapping' must be an object such as {\"critical\": 1, \"info\": null}"),
    ({"name": "x" * 121}, 400, "'name' must be at most 120 characters"),
])
def test_bad_services_are_refused(world, body, status, error):
    before = written()
    answer = world.as_admin.post("/services", body)
    assert answer.status_code == status
    assert answer.json["error"] == error
    assert written() == before


@pytest.mark.db
def test_integration_keys_are_whole_for_responders_and_admins_only(world):
    url = f"/services/{world.service.id}/integration_keys"
    [for_responder] = world.as_reader.get(url).json["integration_keys"]
    assert for_responder["key"] == "a" * 32 and for_responder["name"] == "Prometheus"
    [for_viewer] = world.as_viewer.get(url).json["integration_keys"]
    assert for_viewer["key"] is None and for_viewer["key_prefix"] == "aaaaaa"


@pytest.mark.db
def test_adding_and_revoking_an_integration_key(world, client):
    url = f"/services/{world.service.id}/integration_keys"
    added = world.as_admin.post(url)
    assert added.status_code == 201
    key = added.json
    assert key["name"] == "Events API v2" and len(key["key"]) == 32 and key["revoked_at"] is None
    [entry] = audits("service.add_key")
    assert entry.after == {"key_id": key["id"], "name": "Events API v2"}
    named = world.as_admin.post(url, {"name": "Grafana"}).json
    assert named["name"] == "Grafana"

    clock.advance(timedelta(minutes=2))
    revoked = world.as_admin.post(f"{url}/{key['id']}/revoke")
    assert revoked.status_code == 200
    assert revoked.json["revoked_at"] == "2026-03-02T09:02:00Z" and revoked.json["active"] is False
    [entry] = audits("service.revoke_key")
    assert entry.after == {"key_id": key["id"], "revoked": True}
    # Events with it are refused; revoking again changes nothing.
    refused = client.post("/v2/enqueue", json={"routing_key": key["key"], "event_action": "trigger",
                                               "payload": {"summary": "x", "source": "y", "severity": "error"}})
    assert refused.status_code == 400
    assert world.as_admin.post(f"{url}/{key['id']}/revoke", {}).json["revoked_at"] == "2026-03-02T09:02:00Z"
    assert len(audits("service.revoke_key")) == 1
    keys = world.as_viewer.get(url).json["integration_keys"]
    assert [(k["name"], k["active"]) for k in keys] == [("Prometheus", True), ("Events API v2", False),
                                                        ("Grafana", True)]


# --- change events ---------------------------------------------------------------------

@pytest.mark.db
def test_change_events_list_newest_first_with_filters(world, client):
    def change(summary: str, at: str, key: str = "a" * 32):
        answer = client.post("/v2/change/enqueue", json={
            "routing_key": key, "payload": {"summary": summary, "timestamp": at, "source": "ci",
                                            "custom_details": {"sha": "abc123"}},
            "links": [{"href": "https://ci.example.com/1", "text": "Build"}]})
        assert answer.status_code == 202

    other = make_service("search-api")
    change("Deploy v1", "2026-03-01T08:00:00Z")
    change("Deploy v2", "2026-03-02T08:00:00Z")
    change("Search deploy", "2026-03-02T08:30:00Z", key=other.integration_keys[0].key)
    api = world.as_viewer
    listed = api.get("/change_events").json
    assert [c["summary"] for c in listed["change_events"]] == ["Search deploy", "Deploy v2", "Deploy v1"]
    assert listed["pagination"]["total"] == 3
    assert listed["change_events"][1] == {
        "id": listed["change_events"][1]["id"], "service": {"id": world.service.id, "name": "checkout-api"},
        "summary": "Deploy v2", "source": "ci", "at": "2026-03-02T08:00:00Z", "received_at": "2026-03-02T09:00:00Z",
        "custom_details": {"sha": "abc123"}, "links": [{"href": "https://ci.example.com/1", "text": "Build"}]}
    assert [c["summary"] for c in api.get("/change_events", service_id=world.service.id).json["change_events"]] == [
        "Deploy v2", "Deploy v1"]
    assert [c["summary"] for c in api.get("/change_events", since="2026-03-02T08:00:00Z").json["change_events"]] == [
        "Search deploy", "Deploy v2"]
    # An offset works, even with its "+" left unescaped in the URL (it arrives as a space).
    since = api.client.get("/api/v1/change_events?since=2026-03-02T09:00:00+01:00",
                           headers={"Authorization": f"Bearer {api.secret}"}).json
    assert [c["summary"] for c in since["change_events"]] == ["Search deploy", "Deploy v2"]
    assert count(ChangeEvent) == 3


@pytest.mark.parametrize("since, error", [
    ("2026-03-02", "'since' needs a time zone, e.g. 2026-03-01T09:30:00Z or 2026-03-01T10:30:00+01:00"),
    ("yesterday", "'since' must be an ISO 8601 time such as 2026-03-01T09:30:00Z"),
])
def test_bad_change_event_queries_say_what_is_wrong(world, since, error):
    answer = world.as_viewer.get("/change_events", since=since)
    assert answer.status_code == 400 and answer.json["error"] == error


def test_an_optional_enum_field_may_be_null_as_the_api_reads_it():
    """An optional field sent as null is read as left out, and the document says so:
    for an enum too (a nullable enum must list null, or the enum still refuses it)."""
    import jsonschema

    create = document()["paths"]["/status_page/components"]["post"]["requestBody"]
    status = create["content"]["application/json"]["schema"]["properties"]["status"]
    jsonschema.validate(None, status)
    jsonschema.validate("major_outage", status)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate("down", status)
