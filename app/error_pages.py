"""Error answers in the site's own style: pages for people, JSON for machines."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Flask, current_app, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.errors import DomainError
from app.extensions import db
from app.web import is_json_path, json_error

TITLES = {
    400: "That request was not understood",
    401: "Sign in first",
    403: "You may not do that",
    404: "Nothing here",
    405: "Not like that",
    413: "That is too large",
    429: "Slow down",
    500: "Something broke on our side",
}


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(sa.exc.OperationalError, _database_unavailable)
    app.register_error_handler(sa.exc.InterfaceError, _database_unavailable)
    app.register_error_handler(sa.exc.TimeoutError, _database_unavailable)
    app.register_error_handler(Exception, _unexpected)


def _answer(status: int, message: str, headers=None):
    if request.path.startswith(("/v2/", "/integrations/")):
        # Monitoring tools read PagerDuty's error shape.
        response = jsonify({"status": "invalid event", "message": message, "errors": [message]})
        response.status_code = status
    elif is_json_path():
        response = json_error(status, message)
    elif request.path == "/status" or request.path.startswith("/status/"):
        # The public status page's own error page: no sign-in, no session, no cookie.
        from app.statuspage.public_views import error_page
        response = error_page(status, TITLES.get(status, "Error"), message)
    else:
        body = render_template("errors/error.html", status=status,
                               title=TITLES.get(status, "Error"), message=message)
        response = make_response(body, status)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _http_error(error: HTTPException):
    status = error.code or 500
    message = error.description or TITLES.get(status, "")
    if isinstance(error, CSRFError):
        message = "This form has expired or did not come from Firebreak. Go back, reload the page and try again."
    if status == 413:
        message = "The request body is larger than Firebreak accepts."
    headers = {}
    if status == 405 and error.valid_methods:
        headers["Allow"] = ", ".join(error.valid_methods)
    if status == 429:
        message = f"Too many requests: {error.description}. Wait a little and try again."
    return _answer(status, message, headers)


def _domain_error(error: DomainError):
    db.session.rollback()
    return _answer(error.status, error.message)


# Seconds a client is asked to wait before trying again when the database cannot take a request.
RETRY_AFTER = 30


def database_trouble(error: Exception) -> str:
    """What stopped the database, in words a person or a monitoring tool can act on."""
    text = str(getattr(error, "orig", None) or error).lower()
    if "disk is full" in text or "no space left" in text or "could not extend file" in text:
        return "The database's disk is full"
    if "database is locked" in text or "busy" in text:
        return "The database is too busy"
    if isinstance(error, sa.exc.TimeoutError):
        return "Every database connection is in use"
    if "readonly" in text or "read-only" in text:
        return "The database is read-only"
    return "The database cannot be reached"


def _database_unavailable(error: Exception):
    """503, not 500: the request was sound, nothing of it was written, and trying again
    later will work. Answered without touching the database (no page navigation)."""
    try:
        db.session.rollback()
    except sa.exc.SQLAlchemyError:
        pass
    trouble = database_trouble(error)
    current_app.logger.error("database unavailable on %s %s: %s (%s)", request.method, request.path, trouble,
                             str(getattr(error, "orig", None) or error).splitlines()[0][:300])
    message = f"{trouble}: nothing was changed. Try again in a minute."
    headers = {"Retry-After": str(RETRY_AFTER)}
    if request.path.startswith(("/v2/", "/integrations/")):
        response = jsonify({"status": "unavailable", "message": message, "errors": [message]})
    elif is_json_path():
        response = json_error(503, message)
    else:
        response = make_response(render_template("errors/unavailable.html", status=503,
                                                 title="Firebreak cannot take that right now", message=message))
    response.status_code = 503
    response.headers.update(headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def _unexpected(error: Exception):
    db.session.rollback()
    current_app.logger.exception("unhandled error", exc_info=error)
    if current_app.testing and current_app.config.get("PROPAGATE_EXCEPTIONS"):
        raise error
    return _answer(500, InternalServerError.description)
