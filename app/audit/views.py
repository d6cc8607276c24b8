"""The audit log, for admins: read and filter, never edit."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, request

from app.audit import service as audit
from app.audit.models import AuditEntry
from app.auth.models import Role, User
from app.extensions import db
from app.forms import record_id
from app.web import render, requires

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")


@bp.route("/")
@requires(Role.ADMIN)
def index():
    args = request.args
    actor_user_id = record_id(args.get("actor"))
    stmt = audit.query(action=args.get("action") or None, actor_user_id=actor_user_id,
                       object_type=args.get("object_type") or None, text=(args.get("q") or "").strip() or None)
    page = db.paginate(stmt, per_page=50, error_out=False)
    object_types = db.session.scalars(sa.select(AuditEntry.object_type).distinct().order_by(AuditEntry.object_type)).all()
    people = db.session.scalars(sa.select(User).order_by(User.name)).all()
    return render("audit/index.html", "results", page=page, object_types=object_types, people=people, args=args)
