"""Knowledge search across incidents, post-mortems, lessons and action items."""
from __future__ import annotations

import sqlalchemy as sa
from flask import request

from app.auth.models import Role
from app.extensions import db
from app.forms import record_id
from app.postmortems import search
from app.postmortems.pages import bp
from app.services.models import Service
from app.triage import levels
from app.web import render, requires


def filters_from(args) -> search.Filters:
    def number(name):
        return record_id(args.get(name))
    severity = levels.parse(args.get("severity", "")) if args.get("severity") else None
    kind = args.get("kind", "")
    return search.Filters(q=" ".join(args.get("q", "").split())[:200], service_id=number("service_id"),
                          severity=severity, tag=search.normalise_tag(args.get("tag", "")),
                          kind=kind if kind in search.KINDS else "")


@bp.route("/search")
@requires(Role.VIEWER)
def search_page():
    f = filters_from(request.args)
    hits = search.search(f)
    services = db.session.scalars(sa.select(Service).order_by(Service.name)).all()
    return render("postmortems/search.html", "results", f=f, hits=hits, services=services,
                  service_names={s.id: s.name for s in services}, tags=search.all_tags(), kinds=search.KINDS,
                  searched=bool(f.q or f.service_id or f.severity or f.tag or f.kind))
