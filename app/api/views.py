"""The JSON API under /api/v1. Bearer tokens only (see app.web.enforce_access);
no cookies, so no CSRF."""
from __future__ import annotations

from flask import Blueprint, jsonify

from app.auth.models import Role
from app.web import current_actor, requires

bp = Blueprint("api", __name__, url_prefix="/api/v1")


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
