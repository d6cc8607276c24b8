"""Change events (deploys and the like) over the API: read only."""
from __future__ import annotations

from flask import jsonify

from app.api import queries
from app.api.inputs import Query
from app.api.schemas import change_json, pagination_json
from app.api.views import bp
from app.auth.models import Role
from app.web import requires


@bp.route("/change_events")
@requires(Role.VIEWER)
def list_change_events():
    query = Query()
    service_id, since = query.identifier("service_id"), query.time("since")
    page, per_page = query.page()
    query.check()
    found = queries.change_events(service_id=service_id, since=since, page=page, per_page=per_page)
    return jsonify({"change_events": [change_json(row) for row in found.items],
                    "pagination": pagination_json(page, per_page, found.total)})
