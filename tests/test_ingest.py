"""Alerts in: PagerDuty Events API v2, Alertmanager webhooks, change events, heartbeats."""
from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import clock
from app.alerts.models import Alert, AlertStatus, ChangeEvent
from app.audit.models import AuditEntry
from app.extensions import db
from app.incidents.models import EventKind, Incident, IncidentEvent, Status
from app.alerts import ingest
from app.services.models import IntegrationKey, Service
from tests.factories import make_service, owe, story
from tests.whole_database import assert_same, each_from_here

SAMPLES = Path(__file__).parent / "samples"
KEY = "4e1c9f7a2b3d4c5e8f9a0b1c2d3e4f5a"
T0 = datetime(2026, 11, 27, 3, 12, 50, tzinfo=UTC)


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


@pytest.fixture
def service(app):
    clock.set(T0)
    service = make_service("checkout-api", with_key=False)
    db.session.add(IntegrationKey(service=service, key=KEY, name="Prometheus", created_at=T0))
    db.session.commit()
    return service


def enqueue(client, body, **kwargs):
    return client.post("/v2/enqueue", data=json.dumps(body) if not isinstance(body, (str, bytes)) else body,
                       content_type="application/json", **kwargs)


def count(model, *where):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def everything():
    return tuple(count(m) for m in (Alert, Incident, IncidentEvent, AuditEntry, ChangeEvent))


@pytest.mark.db
def test_a_trigger_opens_an_alert_and_an_incident(client, service):
    answer = enqueue(client, sample("events-v2-trigger.json"))
    assert answer.status_code == 202
    assert answer.json == {"status": "success", "message": "Event processed", "dedup_key": "checkout-api/http-5xx"}
    alert = db.session.scalar(sa.select(Alert))
    assert (alert.status, alert.severity, alert.occurrences) == (AlertStatus.TRIGGERED, "critical", 1)
    assert alert.custom_details["region"] == "eu-west-1" and alert.links[0]["text"] == "Checkout dashboard"
    assert alert.images[0]["alt"] == "5xx ratio" and alert.client == "Prometheus Alertmanager"
    incident = db.session.get(Incident, alert.incident_id)
    assert incident.title == "checkout-api: HTTP 5xx ratio 7.2% over 5m (threshold 5%)"
    assert (incident.severity, incident.status, incident.source) == (2, Status.TRIGGERED, "alert")
    assert incident.detected_at == T0
    assert incident.impact_started_at == datetime(2026, 11, 27, 3, 12, 45, tzinfo=UTC)
    kinds = db.session.scalars(sa.select(IncidentEvent.kind).where(IncidentEvent.incident_id == incident.id)).all()
    assert story(kinds) == [EventKind.OPENED, EventKind.ALERT_TRIGGERED]
    assert db.session.scalar(sa.select(AuditEntry.action).where(AuditEntry.object_type == "incidents")) == "incident.open"


@pytest.mark.db
def test_a_repeated_trigger_folds_into_the_open_alert(client, service):
    enqueue(client, sample("events-v2-trigger.json"))
    events = count(IncidentEvent)
    clock.set(T0 + timedelta(minutes=1))
    again = sample("events-v2-trigger.json")
    again["payload"]["summary"] = "checkout-api: HTTP 5xx ratio 9.1% over 5m (threshold 5%)"
    for _ in range(3):
        assert enqueue(client, again).status_code == 202
    assert (count(Alert), count(Incident)) == (1, 1)
    alert = db.session.scalar(sa.select(Alert))
    assert alert.occurrences == 4 and alert.last_seen_at == T0 + timedelta(minutes=1)
    assert alert.summary.startswith("checkout-api: HTTP 5xx ratio 9.1%")
    assert count(IncidentEvent) == events  # folding writes nothing on the timeline


@pytest.mark.db
def test_a_repeat_keeps_what_it_does_not_send_and_replaces_what_it_does(client, service):
    first = sample("events-v2-trigger.json")
    first["links"] = [{"href": "https://grafana.example.com/d/checkout", "text": "Dashboard"}]
    enqueue(client, first)
    repeat = {"routing_key": KEY, "event_action": "trigger", "dedup_key": first["dedup_key"],
              "payload": {"summary": "still failing", "source": "prom-2", "severity": "warning",
                          "custom_details": {"ratio": 0.09}}}
    assert enqueue(client, repeat).json["dedup_key"] == first["dedup_key"]
    db.session.expire_all()
    alert = db.session.scalar(sa.select(Alert))
    assert (alert.occurrences, alert.summary, alert.severity) == (2, "still failing", "warning")
    assert alert.custom_details == {"ratio": 0.09}
    assert alert.links == first["links"]  # a repeat without links keeps the first one's
    assert alert.source == first["payload"]["source"]  # where it came from first stays


@pytest.mark.db
def test_a_repeat_folds_only_on_its_own_active_service(client, service):
    enqueue(client, sample("events-v2-trigger.json"))
    other = make_service("payments", with_key=False)
    other_key = "9" * 32
    db.session.add(IntegrationKey(service=other, key=other_key, name="Prometheus", created_at=T0))
    db.session.commit()
    same_key_elsewhere = {**sample("events-v2-trigger.json"), "routing_key": other_key}
    assert enqueue(client, same_key_elsewhere).status_code == 202
    assert count(Alert) == 2 and count(Incident) == 2  # a dedup key is per service

    key = db.session.scalar(sa.select(IntegrationKey).where(IntegrationKey.key == KEY))
    key.revoked_at = T0
    db.session.commit()
    assert enqueue(client, sample("events-v2-trigger.json")).status_code == 400  # a revoked key folds nothing
    other.active = False
    db.session.commit()
    assert enqueue(client, same_key_elsewhere).status_code == 400  # nor a key on a deactivated service
    db.session.expire_all()
    assert sorted(db.session.scalars(sa.select(Alert.occurrences))) == [1, 1]


def full_path(body: dict) -> ingest.Outcome:
    """One event through the ORM path, as Alertmanager's events go, from the same
    address as the test client's requests."""
    event = ingest.validate_event(body)
    key = db.session.scalar(sa.select(IntegrationKey))
    service = db.session.get(Service, key.service_id)
    actor = ingest.integration_actor(event.origin, key.name, service.name, "127.0.0.1")
    outcome = ingest.process(event, service, key, clock.now(), actor)
    db.session.commit()
    return outcome


@pytest.mark.db
def test_the_fast_path_for_a_new_alert_and_its_repeat_writes_what_the_full_path_writes(client, service, monkeypatch):
    """Opening and folding: every table, row for row as stored, ids included."""
    body = sample("events-v2-trigger.json")
    body["payload"]["custom_details"] = {"ratio": 0.072}
    body["links"] = [{"href": "https://grafana.example.com/d/checkout", "text": "Dashboard"}]
    repeat = copy.deepcopy(body)
    repeat["payload"]["summary"], repeat["links"] = "still failing", None
    nameless = {**copy.deepcopy(body), "dedup_key": None}

    sent = [{k: v for k, v in one.items() if v is not None} for one in (body, repeat, nameless)]

    def fast() -> None:
        with monkeypatch.context() as patched:
            patched.setattr(ingest, "process", None)  # through the Core path: the full path would fail
            assert [enqueue(client, one).status_code for one in sent] == [202, 202, 202]

    def full() -> None:
        assert [full_path(one).result for one in sent] == ["created", "folded", "created"]
    fast_rows, full_rows = each_from_here(monkeypatch, fast, full)
    assert_same(fast_rows, full_rows)
    assert [len(fast_rows[table]) for table in ("incidents", "alerts", "incident_events")] == [2, 2, 4]
    assert [row[6] for row in fast_rows["audit_log"]] == ["service.create", "incident.open", "incident.open"]
    incident = db.session.get(Incident, 1)
    assert incident.next_escalation_at is not None and incident.version == 2
    assert db.session.get(Alert, 1).occurrences == 2 and db.session.get(Alert, 2).dedup_key == "generated-1"


@pytest.mark.db
def test_the_fast_path_for_a_resolve_writes_what_the_full_path_writes(client, service, monkeypatch):
    """The resolve of an incident's only alert: the alert and the incident resolved,
    escalation stopped, the page not yet sent cancelled, the update owed cancelled, the
    survey round, two timeline entries and the audit entry; every table, row for row
    as stored, ids included."""
    body = sample("events-v2-trigger.json")
    resolve = {"routing_key": KEY, "event_action": "resolve", "dedup_key": body["dedup_key"]}
    assert enqueue(client, body).status_code == 202
    owe(db.session.scalar(sa.select(Incident.id)), T0)
    clock.set(T0 + timedelta(minutes=7))

    def fast() -> None:
        with monkeypatch.context() as patched:
            patched.setattr(ingest, "process", None)  # through the Core path: the full path would fail
            answer = enqueue(client, resolve)
        assert answer.status_code == 202 and answer.json["dedup_key"] == body["dedup_key"]

    def full() -> None:
        assert full_path(resolve).result == "resolved"
    fast_rows, full_rows = each_from_here(monkeypatch, fast, full)
    assert_same(fast_rows, full_rows)
    incident = db.session.get(Incident, 1)
    assert (incident.status, incident.escalation_state, incident.next_escalation_at) == (
        Status.RESOLVED, "stopped", None)
    assert incident.followup_at is not None and incident.version == 4
    kinds = db.session.scalars(sa.select(IncidentEvent.kind).order_by(IncidentEvent.id)).all()
    assert story(kinds) == ["opened", "alert_triggered", "alert_resolved", "resolved"]
    assert db.session.scalars(sa.select(IncidentEvent.text).order_by(IncidentEvent.id.desc())).first() == (
        "Resolved by Events API v2, key “Prometheus” (checkout-api): every alert resolved")
    from app.comms.models import CommsDue
    from app.insights.models import SurveyRound
    from app.notify.models import Notification
    assert sorted(db.session.scalars(sa.select(Notification.status))) == ["cancelled", "sent"]
    assert db.session.scalars(sa.select(CommsDue.state)).all() == ["cancelled"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SurveyRound)) == 1
    assert db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.object_type == "incidents")
                              .order_by(AuditEntry.id)).all() == ["incident.open", "incident.resolve"]


@pytest.mark.db
def test_an_alert_naming_its_impact_is_read_against_the_services_severity_matrix(client, service):
    from app.triage import service as triage
    from tests.factories import SYSTEM
    triage.set_matrix(SYSTEM, service, {"unavailable": 1, "degraded": 3})
    db.session.commit()

    def opened(dedup_key, severity, impact=None):
        body = sample("events-v2-trigger.json")
        body["dedup_key"], body["payload"]["severity"] = dedup_key, severity
        body["payload"]["custom_details"] = {"impact": impact} if impact else {}
        assert enqueue(client, body).status_code == 202
        alert = db.session.scalar(sa.select(Alert).where(Alert.dedup_key == dedup_key))
        return db.session.get(Incident, alert.incident_id).severity if alert.incident_id else alert.suppressed

    assert opened("down", "critical", "Unavailable") == 1  # the matrix says more than the mapping (SEV-2)
    assert opened("slow", "critical", "degraded") == 2     # the mapping says more than the matrix: it wins
    assert opened("note", "info", "degraded") == 3         # info alone opens nothing; the matrix does
    assert opened("bug", "warning", "bug") == 4            # no cell for bug: the mapping decides
    assert opened("odd", "info", "on fire") == "info"      # an impact the matrix does not know is ignored
    assert opened("plain", "info") == "info"

    am = sample("alertmanager-webhook-firing.json")
    am["alerts"] = am["alerts"][:1]
    am["alerts"][0]["labels"]["impact"] = "unavailable"
    assert client.post(f"/integrations/alertmanager/{KEY}", json=am).status_code == 200
    alert = db.session.scalar(sa.select(Alert).where(Alert.dedup_key == am["alerts"][0]["fingerprint"]))
    assert db.session.get(Incident, alert.incident_id).severity == 1


@pytest.mark.db
def test_a_trigger_without_dedup_key_gets_one_and_always_opens_a_new_alert(client, service):
    body = sample("events-v2-trigger.json")
    del body["dedup_key"]
    first, second = enqueue(client, body).json, enqueue(client, body).json
    assert len(first["dedup_key"]) == 32 and first["dedup_key"] != second["dedup_key"]
    assert (count(Alert), count(Incident)) == (2, 2)
    resolved = enqueue(client, {"routing_key": KEY, "event_action": "resolve", "dedup_key": first["dedup_key"]})
    assert resolved.status_code == 202 and count(Incident, Incident.status == Status.RESOLVED) == 1


@pytest.mark.db
def test_acknowledge_and_resolve_act_on_the_open_alert_and_its_incident(client, service):
    enqueue(client, sample("events-v2-trigger.json"))
    clock.set(T0 + timedelta(minutes=2))
    assert enqueue(client, sample("events-v2-acknowledge.json")).status_code == 202
    incident = db.session.scalar(sa.select(Incident))
    assert incident.status == Status.ACKNOWLEDGED and incident.acknowledged_at == T0 + timedelta(minutes=2)
    clock.set(T0 + timedelta(minutes=9))
    assert enqueue(client, sample("events-v2-resolve.json")).status_code == 202
    db.session.expire_all()
    incident = db.session.scalar(sa.select(Incident))
    alert = db.session.scalar(sa.select(Alert))
    assert alert.status == AlertStatus.RESOLVED and incident.status == Status.RESOLVED
    assert incident.resolved_at == T0 + timedelta(minutes=9)
    kinds = db.session.scalars(sa.select(IncidentEvent.kind).order_by(IncidentEvent.id)).all()
    assert story(kinds) == ["opened", "alert_triggered", "alert_acknowledged", "acknowledged", "alert_resolved", "resolved"]


def timeline(incident_id: int) -> list[tuple[str, str, str]]:
    """An incident's timeline as (kind, who, text)."""
    return [(str(e.kind), e.actor_label, e.text) for e in db.session.scalars(
        sa.select(IncidentEvent).where(IncidentEvent.incident_id == incident_id).order_by(IncidentEvent.id))]


@pytest.mark.db
def test_the_timeline_names_the_door_an_event_came_through_and_its_key(client, service, monkeypatch):
    """A key's name says what was meant to send with it (the default is "Events API v2",
    whatever then sends): the timeline names the door the event came through beside it."""
    from app.alerts import ingest
    key = db.session.scalar(sa.select(IntegrationKey))
    key.name = "Events API v2"  # the default, kept for an Alertmanager webhook
    db.session.commit()
    body = sample("alertmanager-webhook-firing.json")
    client.post(f"/integrations/alertmanager/{KEY}", json=body)
    body["alerts"] = body["alerts"][:1]
    body["alerts"][0]["status"] = "resolved"
    client.post(f"/integrations/alertmanager/{KEY}", json=body)
    webhook = "Alertmanager webhook, key “Events API v2” (checkout-api)"
    alert = db.session.scalar(sa.select(Alert).where(Alert.dedup_key == "a3f9c2d1e4b5f607"))
    assert timeline(alert.incident_id) == [
        ("opened", webhook, "SEV-2 incident opened on checkout-api"),
        ("alert_triggered", webhook, "Alert from checkout-1:8080: Checkout 5xx ratio above 5% on checkout-1"),
        ("alert_resolved", webhook, "Alert resolved: Checkout 5xx ratio above 5% on checkout-1"),
        ("resolved", webhook, f"Resolved by {webhook}: every alert resolved")]

    # Through the Events API, with a key of the door's own name: said once.
    enqueue(client, sample("events-v2-trigger.json"))
    enqueue(client, sample("events-v2-acknowledge.json"))
    with monkeypatch.context() as patched:
        patched.setattr(ingest, "process", None)  # the resolve through the hot path: the full path would fail
        assert enqueue(client, sample("events-v2-resolve.json")).status_code == 202
    incident = db.session.scalar(sa.select(Incident).where(Incident.title.startswith("checkout-api: HTTP 5xx")))
    said = timeline(incident.id)
    assert {who for _, who, _ in said} == {"Events API v2 (checkout-api)"}
    assert said[2][2].startswith("Alert acknowledged by Events API v2 (checkout-api): checkout-api: HTTP 5xx")
    assert said[-1][2] == "Resolved by Events API v2 (checkout-api): every alert resolved"
    audit = db.session.scalars(sa.select(AuditEntry.actor_label).where(AuditEntry.object_id == incident.id,
                                                                       AuditEntry.object_type == "incidents")).all()
    assert set(audit) == {"Events API v2 (checkout-api)"}


@pytest.mark.db
def test_both_paths_name_an_events_api_key_by_its_name(client, service, monkeypatch):
    """The hot path (`app.alerts.hotpath`) and the full path word the timeline alike."""
    from app.alerts import ingest
    said = {}
    for path in ("hot", "full"):
        enqueue(client, sample("events-v2-trigger.json"))
        with monkeypatch.context() as patched:
            if path == "hot":
                patched.setattr(ingest, "process", None)  # the full path would fail
            else:
                patched.setattr("app.alerts.hotpath.eligible", lambda event: False)
            assert enqueue(client, sample("events-v2-resolve.json")).status_code == 202
        incident = db.session.scalar(sa.select(Incident).order_by(Incident.id.desc()))
        said[path] = timeline(incident.id)
    assert said["hot"] == said["full"]
    assert said["hot"][-1] == ("resolved", "Events API v2, key “Prometheus” (checkout-api)",
                               "Resolved by Events API v2, key “Prometheus” (checkout-api): every alert resolved")


def test_acknowledge_and_resolve_without_an_open_alert_are_accepted_and_ignored(client, service):
    before = everything()
    assert enqueue(client, sample("events-v2-acknowledge.json")).status_code == 202
    assert enqueue(client, sample("events-v2-resolve.json")).status_code == 202
    assert everything() == before


@pytest.mark.db
def test_after_a_resolve_the_same_key_opens_a_new_alert(client, service):
    enqueue(client, sample("events-v2-trigger.json"))
    enqueue(client, sample("events-v2-resolve.json"))
    enqueue(client, sample("events-v2-trigger.json"))
    assert count(Alert) == 2 and count(Incident) == 2
    assert count(Alert, Alert.status != AlertStatus.RESOLVED) == 1


def test_every_validation_error_is_listed_and_nothing_is_written(client, service):
    before = everything()
    answer = enqueue(client, sample("events-v2-invalid.json"))
    assert answer.status_code == 400
    assert answer.json["status"] == "invalid event" and answer.json["message"] == "Event object is invalid"
    assert answer.json["errors"] == [
        "Length of 'routing_key' is incorrect (should be 32 characters)",
        "'event_action' is invalid (must be one of: trigger, acknowledge, resolve)",
    ]
    body = sample("events-v2-trigger.json")
    body["payload"].update(summary="", severity="catastrophic", source=None)
    body["dedup_key"] = "k" * 256
    errors = enqueue(client, body).json["errors"]
    assert errors == [
        "'dedup_key' is too long (at most 255 characters)",
        "'payload.summary' is missing or blank",
        "'payload.source' is missing or blank",
        "'payload.severity' is invalid (must be one of: critical, error, warning, info)",
    ]
    body = sample("events-v2-trigger.json")
    body["payload"]["summary"] = "x" * 1025
    assert enqueue(client, body).json["errors"] == ["'payload.summary' is too long (at most 1024 characters)"]
    assert enqueue(client, {"routing_key": KEY, "event_action": "resolve"}).json["errors"] == [
        "'dedup_key' is required for 'resolve' events"]
    assert everything() == before


def test_the_1024_character_summary_and_255_character_key_are_accepted(client, service):
    body = sample("events-v2-trigger.json")
    body["payload"]["summary"] = "s" * 1024
    body["dedup_key"] = "k" * 255
    assert enqueue(client, body).status_code == 202


def test_an_unknown_or_revoked_routing_key_is_refused(client, service):
    body = sample("events-v2-trigger.json")
    body["routing_key"] = "0" * 32
    answer = enqueue(client, body)
    assert answer.status_code == 400 and "Invalid routing key" in answer.json["errors"][0]
    key = db.session.scalar(sa.select(IntegrationKey))
    key.revoked_at = T0
    db.session.commit()
    assert enqueue(client, sample("events-v2-trigger.json")).status_code == 400
    assert count(Alert) == 0


@pytest.mark.parametrize("body,message", [
    (b"", "empty"), (b"{not json", "not valid JSON"), (b"\xff\xfe{}", "not valid UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"), (b"[1, 2]", "must be a JSON object"),
])
def test_bodies_that_are_not_events_get_clear_errors(client, service, body, message):
    answer = enqueue(client, body)
    assert answer.status_code == 400 and answer.json["status"] == "invalid event"
    assert message in answer.json["errors"][0]
    assert count(Alert) == 0


def test_bodies_over_512_kb_get_413(client, service):
    body = sample("events-v2-trigger.json")
    body["payload"]["custom_details"] = {"blob": "x" * (513 * 1024)}
    answer = enqueue(client, body)
    assert answer.status_code == 413 and answer.json["status"] == "invalid event"
    assert count(Alert) == 0


@pytest.mark.db
def test_severity_mapping_decides_the_incident_and_info_opens_none(client, service):
    for severity, expected in [("critical", 2), ("error", 3), ("warning", 4)]:
        body = sample("events-v2-trigger.json")
        body["dedup_key"], body["payload"]["severity"] = severity, severity
        enqueue(client, body)
        alert = db.session.scalar(sa.select(Alert).where(Alert.dedup_key == severity))
        assert db.session.get(Incident, alert.incident_id).severity == expected
    body = sample("events-v2-trigger.json")
    body["dedup_key"], body["payload"]["severity"] = "info", "info"
    enqueue(client, body)
    info = db.session.scalar(sa.select(Alert).where(Alert.dedup_key == "info"))
    assert info.incident_id is None and info.suppressed == "info"
    assert count(Incident) == 3


@pytest.mark.db
def test_grouped_services_put_alerts_into_their_open_incident(client, service):
    service.alert_grouping = "grouped"
    db.session.commit()
    for n in range(3):
        body = sample("events-v2-trigger.json")
        body["dedup_key"] = f"alert-{n}"
        enqueue(client, body)
    assert (count(Alert), count(Incident)) == (3, 1)
    for n in range(2):
        enqueue(client, {"routing_key": KEY, "event_action": "resolve", "dedup_key": f"alert-{n}"})
    assert db.session.scalar(sa.select(Incident.status)) == Status.TRIGGERED  # one alert still open
    enqueue(client, {"routing_key": KEY, "event_action": "resolve", "dedup_key": "alert-2"})
    db.session.expire_all()
    assert db.session.scalar(sa.select(Incident.status)) == Status.RESOLVED


@pytest.mark.db
def test_one_delivery_resolving_every_alert_of_a_grouped_incident_resolves_it_once(client, service):
    """Alertmanager sends several alerts in one delivery, applied in one transaction:
    the incident resolves with the last of its alerts, once, and an alert that fires
    in the same delivery keeps a new incident open."""
    from app.incidents.models import IncidentEvent
    service.alert_grouping = "grouped"
    db.session.commit()
    body = sample("alertmanager-webhook-firing.json")
    assert client.post(f"/integrations/alertmanager/{KEY}", json=body).json["results"] == {"created": 2}
    [incident] = db.session.scalars(sa.select(Incident)).all()
    resolved = copy.deepcopy(body)
    resolved["status"] = "resolved"
    for alert in resolved["alerts"]:
        alert["status"] = "resolved"
    fresh = copy.deepcopy(body["alerts"][0])
    fresh["fingerprint"] = "c0ffee0000000001"
    resolved["alerts"].append(fresh)  # fires after the two resolve
    answer = client.post(f"/integrations/alertmanager/{KEY}", json=resolved)
    assert answer.status_code == 200 and answer.json["results"] == {"resolved": 2, "created": 1}
    db.session.expire_all()
    incident = db.session.get(Incident, incident.id)
    assert incident.status == Status.RESOLVED
    kinds = db.session.scalars(sa.select(IncidentEvent.kind).where(IncidentEvent.incident_id == incident.id)).all()
    assert kinds.count("resolved") == 1 and kinds.count("alert_resolved") == 2
    assert [a.status for a in db.session.scalars(sa.select(Alert).where(Alert.incident_id == incident.id))] == [
        AlertStatus.RESOLVED, AlertStatus.RESOLVED]
    new = db.session.scalar(sa.select(Alert).where(Alert.dedup_key == "c0ffee0000000001"))
    assert new.status == AlertStatus.TRIGGERED and db.session.get(Incident, new.incident_id).status == Status.TRIGGERED
    assert new.incident_id != incident.id


@pytest.mark.db
def test_services_may_keep_incidents_open_when_alerts_resolve(client, service):
    service.resolve_with_alerts = False
    db.session.commit()
    enqueue(client, sample("events-v2-trigger.json"))
    enqueue(client, sample("events-v2-resolve.json"))
    assert db.session.scalar(sa.select(Incident.status)) == Status.TRIGGERED


@pytest.mark.db
def test_alerts_in_a_maintenance_window_are_recorded_but_open_no_incident(client, service):
    from app.services import maintenance
    from tests.factories import SYSTEM
    maintenance.schedule(SYSTEM, title="DB upgrade", starts_at=T0 - timedelta(minutes=5),
                         ends_at=T0 + timedelta(hours=1), services=[service], now=T0)
    db.session.commit()
    enqueue(client, sample("events-v2-trigger.json"))
    alert = db.session.scalar(sa.select(Alert))
    assert alert.suppressed == "maintenance" and alert.incident_id is None and count(Incident) == 0
    clock.set(T0 + timedelta(minutes=30))  # a repeat inside the window folds and still opens nothing
    enqueue(client, sample("events-v2-trigger.json"))
    db.session.expire_all()
    assert db.session.scalar(sa.select(Alert.occurrences)) == 2 and count(Incident) == 0
    clock.set(T0 + timedelta(hours=2))  # still firing after the window: now it pages
    enqueue(client, sample("events-v2-trigger.json"))
    db.session.expire_all()
    alert = db.session.scalar(sa.select(Alert))
    assert alert.incident_id is not None and alert.suppressed is None and count(Incident) == 1


@pytest.mark.db
def test_alertmanager_webhook_maps_each_alert_by_fingerprint(client, service):
    body = sample("alertmanager-webhook-firing.json")
    answer = client.post(f"/integrations/alertmanager/{KEY}", json=body)
    assert answer.status_code == 200 and answer.json["results"] == {"created": 2}
    alerts = db.session.scalars(sa.select(Alert).order_by(Alert.id)).all()
    assert [a.dedup_key for a in alerts] == ["a3f9c2d1e4b5f607", "b7e1d0c9a8f76543"]
    assert alerts[0].summary == "Checkout 5xx ratio above 5% on checkout-1"
    assert alerts[0].source == "checkout-1:8080" and alerts[0].severity == "critical"
    assert alerts[0].links == [{"href": "http://prometheus.example.com:9090/graph?g0.expr=...", "text": "Source"}]
    incident = db.session.get(Incident, alerts[0].incident_id)
    assert incident.impact_started_at == datetime(2026, 11, 27, 3, 12, 15, 123000, tzinfo=UTC)

    before = everything()
    retried = client.post(f"/integrations/alertmanager/{KEY}", json=body)  # a retried delivery
    assert retried.json["results"] == {"duplicate": 2} and everything() == before

    resolved = copy.deepcopy(body)
    resolved["status"] = "resolved"
    resolved["alerts"][0]["status"] = "resolved"
    resolved["alerts"] = resolved["alerts"][:1]
    client.post(f"/integrations/alertmanager/{KEY}", json=resolved)
    db.session.expire_all()
    assert db.session.get(Alert, alerts[0].id).status == AlertStatus.RESOLVED
    assert db.session.get(Alert, alerts[1].id).status == AlertStatus.TRIGGERED


@pytest.mark.db
def test_an_alertmanager_alert_is_titled_by_its_summary_annotation(client, service):
    """Its `summary` annotation when it has one with words in it, else its `description`,
    else its alert name."""
    body = sample("alertmanager-webhook-firing.json")
    first, second = body["alerts"]
    third = {**copy.deepcopy(second), "fingerprint": "c0ffee0000000003", "annotations": {}}
    first["annotations"]["summary"] = "Checkout 5xx ratio above 5% on checkout-1"
    second["annotations"]["summary"] = "  "  # a template whose labels were missing
    body["alerts"].append(third)
    answer = client.post(f"/integrations/alertmanager/{KEY}", json=body)  # not refused for its blank summary
    assert (answer.status_code, answer.json.get("results")) == (200, {"created": 3})
    titles = db.session.scalars(sa.select(Incident.title).order_by(Incident.id)).all()
    assert titles == ["Checkout 5xx ratio above 5% on checkout-1", "6.1% of requests failed in the last 5 minutes.",
                      "CheckoutHighErrorRate"]


def test_alertmanager_errors(client, service):
    assert client.post("/integrations/alertmanager/" + "0" * 32, json={"alerts": []}).status_code == 404
    answer = client.post(f"/integrations/alertmanager/{KEY}", json={"version": "4", "alerts": [{"status": "firing"}]})
    assert answer.status_code == 400 and answer.json["errors"] == ["alerts[0].fingerprint is missing"]
    assert count(Alert) == 0


@pytest.mark.db
def test_change_events_are_recorded_and_shown_near_incidents(client, service):
    enqueue(client, sample("events-v2-trigger.json"))
    change = {"routing_key": KEY, "payload": {"summary": "Deploy checkout-api v2.14.0", "source": "ci",
                                              "timestamp": "2026-11-27T03:10:00Z"},
              "links": [{"href": "https://ci.example.com/builds/2", "text": "Build"}]}
    answer = client.post("/v2/change/enqueue", json=change)
    assert answer.status_code == 202 and answer.json == {"status": "success", "message": "Change event processed"}
    row = db.session.scalar(sa.select(ChangeEvent))
    assert row.at == datetime(2026, 11, 27, 3, 10, tzinfo=UTC) and row.links[0]["text"] == "Build"
    from app.alerts.ingest import changes_near
    incident = db.session.scalar(sa.select(Incident))
    assert [c.summary for c in changes_near(incident)] == ["Deploy checkout-api v2.14.0"]
    assert count(IncidentEvent, IncidentEvent.kind == "change_event") == 1
    bad = client.post("/v2/change/enqueue", json={"routing_key": KEY, "payload": {}})
    assert bad.status_code == 400 and bad.json["errors"] == ["'payload.summary' is missing or blank"]


@pytest.mark.db
def test_heartbeats_raise_an_alert_when_silent_and_resolve_it_on_the_next_ping(app, client, service):
    from app.alerts.models import Heartbeat, HeartbeatState
    from app.engine.core import Engine
    from app.engine.jobs import all_jobs
    heartbeat = Heartbeat(service=service, name="nightly-backup", interval_seconds=3600, grace_seconds=300,
                          created_at=T0)
    db.session.add(heartbeat)
    db.session.commit()
    assert client.post(f"/heartbeats/{heartbeat.token}").status_code == 200
    assert client.post(f"/heartbeats/{'0' * 32}").status_code == 404
    db.session.expire_all()
    assert heartbeat.state == HeartbeatState.UP and heartbeat.due_at == T0 + timedelta(seconds=3900)
    engine = Engine(all_jobs(), lease_seconds=30)
    clock.set(T0 + timedelta(seconds=3899))
    assert engine.cycle().total == 0
    clock.set(T0 + timedelta(seconds=3901))
    # The missed heartbeat raises its alert, and its incident's paging begins in the same cycle.
    assert engine.cycle().done == {"missed_heartbeats": 1, "escalations": 1}
    assert engine.cycle().total == 0  # once, not every cycle
    alert = db.session.scalar(sa.select(Alert))
    assert alert.origin == "heartbeat" and "nightly-backup" in alert.summary and alert.incident_id
    clock.set(T0 + timedelta(seconds=4000))
    assert client.get(f"/heartbeats/{heartbeat.token}").status_code == 200
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).status == AlertStatus.RESOLVED
    assert db.session.get(Incident, alert.incident_id).status == Status.RESOLVED
    heartbeat_ = "Heartbeat “nightly-backup” (checkout-api)"
    said = [entry for entry in timeline(alert.incident_id) if entry[0] != "page_sent"]  # pages: the engine's
    assert said[:2] == [("opened", heartbeat_, "SEV-2 incident opened on checkout-api"),
                        ("alert_triggered", heartbeat_, f"Alert from heartbeat:nightly-backup: {alert.summary}")]
    assert said[-1] == ("resolved", heartbeat_, f"Resolved by {heartbeat_}: every alert resolved")
