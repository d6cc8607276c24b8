"""Hostile input, the ingestion doors: schemathesis drives `POST /v2/enqueue`,
`POST /v2/change/enqueue`, the Alertmanager webhook and heartbeats from the contract
DESIGN.md gives them (written below as OpenAPI: the app serves no document for
PagerDuty's API), with valid and invalid events, on the demo organisation.

For every request: no 5xx; the answer has PagerDuty's shape; invalid events are
refused; and a refused request changes no row of any table.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, negative_data_rejection, response_schema_conformance, status_code_conformance,
)

from tests.hostile import database_url, demo_template, digest, examples, tally, tokens  # noqa: F401

KEY = "4e1c9f7a2b3d4c5e8f9a0b1c2d3e4f5a"  # the demo's checkout-api integration key
TEXT = {"type": ["string", "number"]}  # PagerDuty takes a number where it wants text
ROUTING_KEY = {"anyOf": [{"const": KEY}, {"type": "string", "minLength": 32, "maxLength": 32}]}
LINKS = {"type": "array", "maxItems": 60,
         "items": {"type": "object", "properties": {"href": {"type": "string"}, "text": {}}, "required": ["href"]}}
IMAGES = {"type": "array", "maxItems": 30,
          "items": {"type": "object", "properties": {"src": {"type": "string"}, "href": {}, "alt": {}},
                    "required": ["src"]}}
# Any string is a timestamp as far as the shape goes (one that is not ISO 8601 is
# refused with a message); a date-time format makes the generator try real ones too.
TIMESTAMP = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "maxLength": 40}]}
EVENT = {
    "type": "object",
    "properties": {
        "routing_key": ROUTING_KEY,
        "event_action": {"enum": ["trigger", "acknowledge", "resolve"]},
        "dedup_key": {"anyOf": [{"type": "string", "maxLength": 255}, {"type": "number"}]},
        "payload": {"type": "object", "properties": {
            "summary": {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 1024, "pattern": r"\S"},
                                  {"type": "number"}]},
            "source": {"anyOf": [{"type": "string", "pattern": r"\S"}, {"type": "number"}]},
            "severity": {"enum": ["critical", "error", "warning", "info"]},
            "timestamp": TIMESTAMP, "component": {}, "group": {}, "class": {}, "custom_details": {},
        }, "required": ["summary", "source", "severity"]},
        "links": LINKS, "images": IMAGES, "client": {}, "client_url": {},
    },
    "required": ["routing_key", "event_action", "dedup_key", "payload"],
}
CHANGE = {
    "type": "object",
    "properties": {
        "routing_key": ROUTING_KEY,
        "payload": {"type": "object", "properties": {
            "summary": {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 1024, "pattern": r"\S"},
                                  {"type": "number"}]},
            "source": {}, "timestamp": TIMESTAMP, "custom_details": {},
        }, "required": ["summary"]},
        "links": LINKS,
    },
    "required": ["routing_key", "payload"],
}
ALERTMANAGER = {
    "type": "object",
    "properties": {
        "version": {"const": "4"},
        "status": {"type": "string"}, "receiver": {"type": "string"}, "externalURL": {"type": "string"},
        "groupLabels": {"type": "object"}, "commonLabels": {"type": "object"}, "commonAnnotations": {"type": "object"},
        "alerts": {"type": "array", "minItems": 1, "maxItems": 20, "items": {"type": "object", "properties": {
            "status": {"enum": ["firing", "resolved"]},
            "fingerprint": {"type": "string", "minLength": 1, "maxLength": 255},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            "startsAt": TIMESTAMP, "endsAt": {"type": "string"}, "generatorURL": {"type": "string"},
        }, "required": ["status", "fingerprint"]}},
    },
    "required": ["alerts"],
}


def _answer(*extra: str) -> dict:
    properties = {"status": {"type": "string"}, "message": {"type": "string"}}
    properties.update({name: {} for name in extra})
    return {"content": {"application/json": {"schema": {"type": "object", "properties": properties,
                                                        "required": ["status", "message", *extra]}}}}


REFUSED = _answer("errors")
DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "Firebreak ingestion (PagerDuty Events API v2, Alertmanager)", "version": "1"},
    "paths": {
        "/v2/enqueue": {"post": {
            "requestBody": {"required": True, "content": {"application/json": {"schema": EVENT}}},
            "responses": {"202": _answer("dedup_key"), "400": REFUSED, "413": REFUSED}}},
        "/v2/change/enqueue": {"post": {
            "requestBody": {"required": True, "content": {"application/json": {"schema": CHANGE}}},
            "responses": {"202": _answer(), "400": REFUSED, "413": REFUSED}}},
        "/integrations/alertmanager/{integration_key}": {"post": {
            "parameters": [{"name": "integration_key", "in": "path", "required": True,
                            "schema": {"anyOf": [{"const": KEY}, {"type": "string", "minLength": 1}]}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": ALERTMANAGER}}},
            "responses": {"200": _answer("results"), "400": REFUSED, "404": REFUSED, "413": REFUSED}}},
    },
}
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = {result.ok().label: result.ok() for result in SCHEMA.get_all_operations()}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]


def _cases(operation):
    return st.one_of(operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE),
                     operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE))


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_every_ingestion_door_survives_generated_events(app, client, tally, label):
    operation = OPERATIONS[label]

    @settings(max_examples=examples(15, 600), deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=_cases(operation))
    def run(case):
        tally.examples += 1
        before = digest()
        response = case.call(app=app, session=client)
        tally.saw(response.status_code)
        assert response.status_code < 500, (case.as_curl_command(), response.text[:500])
        case.validate_response(response, checks=CHECKS)
        if 400 <= response.status_code < 500:
            assert digest() == before, f"{response.status_code} changed rows: {case.as_curl_command()}"

    run()
