"""The JSON API under /api/v1. Bearer tokens only (see app.web.enforce_access);
no cookies, so no CSRF.

One blueprint, `bp`; its routes live in this package by resource (incidents,
alerts, services, change events, the OpenAPI document), imported at the bottom so
registering `bp` brings them all. Answers are JSON; errors are RFC 9457 problem
details (app.api.problems).
"""
from __future__ import annotations

import hashlib
import math
import time

from flask import Blueprint, current_app, g, jsonify, request
from limits import parse_many

from app.api import idempotency
from app.api.inputs import MAX_ID
from app.api.problems import field_error
from app.auth.models import Role
from app.errors import DomainError, NotFound
from app.extensions import db, limiter
from app.web import SAFE_METHODS, current_actor, json_error, requires

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _client() -> str:
    """Whom the rate limit counts: the token (by its hash), else the address."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer " and header[7:].strip():
        return "token:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
    return "address:" + (request.remote_addr or "")


@bp.before_request
def rate_limit():
    """API_RATE_LIMIT for every route of the API together, per token: over it, 429 with
    Retry-After. Counted here, in Flask-Limiter's storage (memory or Redis), rather
    than as a blueprint limit, which would put its hook before every request of every
    part of the app (app.patches, `limiter`)."""
    if not limiter.enabled:
        return None
    for item in parse_many(current_app.config["API_RATE_LIMIT"]):
        if not limiter.limiter.hit(item, "api", _client()):
            reset_at, _ = limiter.limiter.get_window_stats(item, "api", _client())
            wait = max(1, math.ceil(reset_at - time.time()))
            return json_error(429, f"Too many requests: {item} per API token. Wait {wait} s and try again.",
                              headers={"Retry-After": str(wait)})
    return None


@bp.errorhandler(DomainError)
def domain_error(error: DomainError):
    """A broken rule or bad input: nothing of the request is kept."""
    db.session.rollback()
    listed = getattr(error, "errors", None)
    if listed:
        where = getattr(error, "where", "body")
        errors = [item if isinstance(item, dict) else field_error(item, where) for item in listed]
    elif error.field:  # a service's refusal naming the field at fault
        errors = [{"detail": error.message, "pointer": f"/{error.field}"}]
    else:
        errors = None
    return json_error(error.status, error.message, errors=errors)


@bp.before_request
def repeated_post():
    """A POST sent again with the same Idempotency-Key gets its first answer (app.api.idempotency)."""
    actor = g.get("actor")
    if request.method == "POST" and actor is not None and actor.token is not None:
        return idempotency.before(actor.token.id)
    return None


@bp.after_request
def keep_token_use(response):
    """Reads change nothing but the token's `last_used_at` (see token_from_secret);
    keep that too, or a read-only script would look unused."""
    if request.method in SAFE_METHODS and response.status_code < 400 and db.session.dirty:
        db.session.commit()
    response = idempotency.after(response)
    if g.get("api_link") and response.status_code == 200:
        response.headers["Link"] = g.api_link  # RFC 8288: the list's next, prev, first and last pages
    return response


def load(model, object_id: int, message: str):
    """The row with this id, or a 404 saying `message`."""
    row = db.session.get(model, object_id) if 0 < object_id <= MAX_ID else None
    if row is None:
        raise NotFound(message)
    return row


@bp.route("/me")
@requires(Role.VIEWER)
def me():
    """Who this token acts as."""
    actor = current_actor()
    user, token = actor.user, actor.token
    return jsonify({
        "id": user.id, "name": user.name, "email": user.email, "role": user.role.value,
        "time_zone": user.time_zone,
        "token": {"name": token.name, "scope": token.scope.value, "prefix": token.prefix},
    })


# The routes, on this same blueprint: every module of the package but these, which
# hold no routes.
def _import_routes() -> None:
    import importlib
    import pkgutil

    import app.api as package
    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in ("views", "spec", "problems", "inputs", "schemas", "queries", "idempotency"):
            importlib.import_module(f"app.api.{module.name}")


_import_routes()
