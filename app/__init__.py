"""Firebreak: incident management in one small Flask application."""
from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app import config as settings
from app import logs, patches, statuspage
from app.extensions import csrf, db, htmx, limiter, login_manager, migrate
from app.patches import Firebreak


def create_app(config: dict | None = None) -> Flask:
    app = Firebreak(__name__, template_folder="../templates", static_folder="../static",
                    instance_path=str(settings.INSTANCE))
    app.config.update(settings.DEFAULTS)
    app.config.update(settings.from_env())
    app.config.update(config or {})
    patches.before_routes(app)
    logs.init_app(app)  # first: every record from here on in the chosen format

    statuspage.init_app(app)  # its cache middleware goes inside ProxyFix
    if app.config["PROXY_COUNT"]:
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)
    from app import metrics  # here, not at the top: see gunicorn.conf.py's on_starting
    metrics.init_app(app)  # outermost: times every request, the status page cache's answers too

    db.init_app(app)
    migrate.init_app(app, db, directory=str(settings.ROOT / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)

    from app import cli, error_pages, models, security, templating, web  # noqa: F401 (models: every table)
    from app.alerts.views import bp as alerts_bp
    from app.api.views import bp as api_bp
    from app.audit.views import bp as audit_bp
    from app.auth import oidc
    from app.auth.oidc_views import bp as oidc_bp
    from app.auth.invitation_views import bp as invitations_bp
    from app.auth.password_reset_views import bp as password_reset_bp
    from app.auth import twofactor_views
    from app.auth.passkey_views import bp as passkeys_bp
    from app.auth.views import bp as auth_bp
    from app.comms.views import bp as comms_bp
    from app.escalation.views import bp as escalation_bp
    from app.home.views import bp as home_bp
    from app.incidents.views import bp as incidents_bp
    from app.insights.views import bp as insights_bp
    from app.metrics.views import bp as metrics_bp
    from app.notify.twilio_views import bp as twilio_bp
    from app.notify.views import bp as notify_bp
    from app.oncall.views import bp as oncall_bp
    from app.postmortems.views import bp as postmortems_bp
    from app.services.maintenance_views import bp as maintenance_bp
    from app.services.views import bp as services_bp
    from app.triage.views import bp as triage_bp
    from app.statuspage.admin_views import bp as statuspage_admin_bp
    from app.statuspage.incident_views import bp as statuspage_incidents_bp
    from app.statuspage.public_views import bp as statuspage_bp

    app.url_value_preprocessor(web.refuse_ids_out_of_range)
    app.before_request(web.enforce_access)
    app.before_request(twofactor_views.hold)  # after access: someone who must enrol reaches only that
    security.init_app(app)
    oidc.init_app(app)
    templating.init_app(app)
    from app.alerts import writer
    writer.init_app(app)
    error_pages.init_app(app)
    cli.init_app(app)

    app.register_blueprint(home_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(twofactor_views.bp)
    app.register_blueprint(passkeys_bp)
    app.register_blueprint(password_reset_bp)
    app.register_blueprint(invitations_bp)
    app.register_blueprint(oidc_bp)
    app.register_blueprint(incidents_bp)
    app.register_blueprint(oncall_bp)
    app.register_blueprint(services_bp)
    app.register_blueprint(escalation_bp)
    app.register_blueprint(triage_bp)
    app.register_blueprint(maintenance_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(alerts_bp)
    app.register_blueprint(notify_bp)
    app.register_blueprint(twilio_bp)
    app.register_blueprint(postmortems_bp)
    app.register_blueprint(comms_bp)
    app.register_blueprint(insights_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(statuspage_bp)
    app.register_blueprint(statuspage_admin_bp)
    app.register_blueprint(statuspage_incidents_bp)
    app.register_blueprint(metrics_bp)
    patches.apply(app, limiter)
    return app
