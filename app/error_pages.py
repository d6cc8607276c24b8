"""Error answers in the site's own style: pages for people, JSON for machines."""
from __future__ import annotations

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


def _unexpected(error: Exception):
    db.session.rollback()
    current_app.logger.exception("unhandled error", exc_info=error)
    if current_app.testing and current_app.config.get("PROPAGATE_EXCEPTIONS"):
        raise error
    return _answer(500, InternalServerError.description)
