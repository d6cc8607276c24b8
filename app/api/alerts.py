"""Alerts over the API: read only (monitoring sends them through /v2/enqueue)."""
from __future__ import annotations

from flask import jsonify

from app.alerts.models import Alert
from app.api import queries
from app.api.inputs import Query
from app.api.schemas import alert_json, pagination_json
from app.api.views import bp, load
from app.auth.models import Role
from app.web import requires


@bp.route("/alerts")
@requires(Role.VIEWER)
def list_alerts():
    query = Query()
    status = query.choice("status", tuple(queries.ALERT_STATUS_FILTERS), "open")
    service_id, incident_id = query.identifier("service_id"), query.identifier("incident_id")
    page, per_page = query.page()
    query.check()
    found = queries.alerts(status=status, service_id=service_id, incident_id=incident_id, page=page, per_page=per_page)
    return jsonify({"alerts": [alert_json(row) for row in found.items],
                    "pagination": pagination_json(page, per_page, found.total)})


@bp.route("/alerts/<int:alert_id>")
@requires(Role.VIEWER)
def show_alert(alert_id: int):
    return jsonify(alert_json(load(Alert, alert_id, f"There is no alert {alert_id}."), detail=True))
