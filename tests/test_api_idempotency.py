"""Idempotency-Key on the API's POSTs: the same request again answers the first answer
and makes nothing; the key with another request is refused; a refused request leaves
no trace; keys are per token and last 24 hours (clock set, never waited for)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.api.idempotency import IdempotencyKey
from app.auth import service as people
from app.auth.models import Role, Team
from app.extensions import db
from tests.factories import SYSTEM, make_user
from tests.problems import detail

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def post(app, client):
    clock.set(T0)
    tokens = {}
    for role in ("ada", "bo"):
        _, tokens[role] = people.create_api_token(SYSTEM, make_user(Role.ADMIN), name=role)
    db.session.commit()

    def send(body, key="k-1", token="ada", path="/api/v1/teams"):
        headers = {"Authorization": f"Bearer {tokens[token]}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return client.post(path, json=body, headers=headers, csrf=False)
    return send


def teams() -> list[str]:
    db.session.rollback()
    return db.session.scalars(sa.select(Team.name).order_by(Team.id)).all()


def test_the_same_request_again_gets_the_first_answer_and_makes_nothing(post):
    first = post({"name": "Payments"})
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = post({"name": "Payments"})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json and again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert teams() == ["Payments"]
    # without a key, the same request is a new one (and here refused: the name is taken)
    assert post({"name": "Payments"}, key=None).status_code == 409


def test_the_key_with_another_request_is_refused_and_changes_nothing(post):
    post({"name": "Payments"})
    reused = post({"name": "Search"})
    assert reused.status_code == 422 and "another request" in detail(reused)
    assert post({"name": "Search"}, path="/api/v1/teams?x=1").status_code == 422
    assert teams() == ["Payments"]


def test_a_refused_request_leaves_no_trace_and_may_be_sent_again_corrected(post):
    refused = post({"name": " "})
    assert refused.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IdempotencyKey)) == 0
    assert post({"name": "Payments"}).status_code == 201
    assert teams() == ["Payments"]


def test_keys_are_per_token_and_last_a_day(post):
    post({"name": "Payments"})
    assert post({"name": "Search"}, token="bo").status_code == 201  # bo's k-1 is bo's own
    clock.set(T0 + timedelta(hours=23, minutes=59))
    assert post({"name": "Payments"}).headers.get("Idempotent-Replayed") == "true"
    clock.set(T0 + timedelta(hours=24))
    late = post({"name": "Payments"})
    assert late.status_code == 409 and "Idempotent-Replayed" not in late.headers  # run again: the name is taken
    assert teams() == ["Payments", "Search"]


def test_a_key_still_running_or_malformed_is_refused(post):
    assert post({"name": "Payments"}, key="x" * 256).status_code == 400
    assert post({"name": "Payments"}, key="").status_code == 400
    assert teams() == []
    post({"name": "Payments"})
    db.session.execute(sa.update(IdempotencyKey).values(status=None))  # as if its answer were still coming
    db.session.commit()
    busy = post({"name": "Payments"})
    assert busy.status_code == 409 and "still being answered" in detail(busy)
    assert teams() == ["Payments"]
