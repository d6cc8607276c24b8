"""The API's rate limit: each token may make API_RATE_LIMIT requests; the next is a 429
problem with Retry-After, and another token (or the same one later) is not held back."""
from __future__ import annotations

import pytest

from app.auth import service as people
from app.auth.models import Role
from app.extensions import db
from tests.factories import SYSTEM, make_user
from tests.problems import detail


@pytest.fixture
def app_config():
    return {"RATELIMIT_ENABLED": True, "API_RATE_LIMIT": "3 per minute"}


def token(user) -> str:
    _, secret = people.create_api_token(SYSTEM, user, name="script")
    db.session.commit()
    return secret


def test_a_token_over_its_limit_gets_429_with_retry_after_and_others_go_on(app, client):
    ada, bo = make_user(Role.ADMIN), make_user(Role.VIEWER)
    first, second = token(ada), token(bo)
    for _ in range(3):
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {first}"}).status_code == 200
    held = client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {first}"})
    assert held.status_code == 429 and "Too many requests" in detail(held)
    assert 0 < int(held.headers["Retry-After"]) <= 60
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {second}"}).status_code == 200
    # requests without a token are counted by address, apart from the tokens
    assert client.get("/api/v1/me").status_code == 401
