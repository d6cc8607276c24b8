"""Hostile input, the JSON API: schemathesis drives every operation of the OpenAPI
document that /api/v1/openapi.json serves, in-process, with valid and invalid data,
as an admin and as a viewer, on the demo organisation.

For every request: no 5xx; the status, content type, headers and body conform to the
document; invalid data is refused; and a refused request (4xx) changes no row of any
table. `make test` runs a few examples per operation, `make hostile` many.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, negative_data_rejection, response_headers_conformance, response_schema_conformance,
    status_code_conformance,
)

from app.api.openapi import document
from tests.hostile import FULL, database_url, demo_template, digest, examples, snapshot, changed_tables, tally, tokens  # noqa: F401

SCHEMA = schemathesis.openapi.from_dict(document())
OPERATIONS = {result.ok().label: result.ok() for result in SCHEMA.get_all_operations()}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]


def _cases(operation, headers: dict):
    """Valid and invalid requests, half of them on real ids when the path has any."""
    names = [p.name for p in operation.path_parameters]
    fixed = [None, *({name: n for name in names} for n in (1, 2, 3))] if names else [None]
    return st.one_of(*(operation.as_strategy(generation_mode=mode, headers=headers, path_parameters=ids)
                       for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
                       for ids in fixed))


# `make hostile`: one test per operation and role, many examples each. `make test`:
# one test per role walking every operation with a few examples (one app, one copy
# of the database: most of the cost of a small run is setting up).
BATCHES = [[label] for label in sorted(OPERATIONS)] if FULL else [sorted(OPERATIONS)]


@pytest.mark.parametrize("role", ["admin", "viewer"])
@pytest.mark.parametrize("labels", BATCHES, ids=lambda labels: labels[0] if len(labels) == 1 else "all")
def test_every_api_operation_survives_generated_requests(app, client, tokens, tally, labels, role):
    headers = {"Authorization": f"Bearer {tokens[role]}"}
    for label in labels:
        operation = OPERATIONS[label]

        @settings(max_examples=examples(3, 150), deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=_cases(operation, headers))
        def run(case):
            tally.examples += 1
            before = digest()
            response = case.call(app=app, session=client, headers=headers)
            tally.saw(response.status_code)
            assert response.status_code < 500, (case.as_curl_command(headers), response.text[:500])
            # A body over MAX_CONTENT_LENGTH is refused whole (413) before anything reads it,
            # however it breaks the schema: a refusal schemathesis does not count as one.
            checks = CHECKS if response.status_code != 413 else [c for c in CHECKS if c is not negative_data_rejection]
            case.validate_response(response, checks=checks, headers=headers)
            if 400 <= response.status_code < 500:
                assert digest() == before, f"{response.status_code} changed rows: {case.as_curl_command(headers)}"

        run()
