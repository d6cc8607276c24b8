"""Request ids, and logs as one JSON object per line (`LOG_FORMAT=json`), for log
collectors that search by field rather than by text.

Every request has an id: a sound `X-Request-ID` it came with (a proxy's or a load
balancer's, so their logs and ours line up), or one made here. The response carries it
back in `X-Request-ID`, and in JSON every record logged while the request is handled
carries it as `request_id`, gunicorn's access record included (it reads the response
header). Records about an incident carry `incident_id`: those logged by a view of one
(`incident_id` in its URL) or by an engine unit working on one (`about_incident`).

The default text format is left as it was: only JSON adds fields. `init_app` installs
the JSON handler on the root logger (the engine's process, `flask` commands);
under gunicorn, gunicorn.conf.py installs it first, through GUNICORN_LOGCONFIG, for
gunicorn's own error and access logs and the app's records in its workers alike.
Records below WARNING are shown in neither format, gunicorn's own excepted.

The JSON access record leaves secrets out of the URLs it shows (path, query, request
line, referrer): the value of a query parameter named like one (the calendar feed's
`?token=`), and the path segment that is one (`/heartbeats/<token>`, an
Alertmanager integration key, invitation and reset links, …: `SECRET_SEGMENTS`, which
a test holds to every route with such a part).
"""
from __future__ import annotations

import json
import logging
import re
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Iterator
from urllib.parse import unquote_plus

from flask import Flask, Response, g, has_request_context, request
from flask.logging import default_handler

HEADER = "X-Request-ID"
# What an incoming id may be: bounded, and nothing that could break a log line or a header.
_SOUND_ID = re.compile(r"[A-Za-z0-9._:+=/@-]{1,128}")
_incident: ContextVar[int | None] = ContextVar("firebreak_incident", default=None)
REDACTED = "[redacted]"
# Query parameters whose values are secrets, by a part of their name.
_SECRET_PARAMETER = re.compile(r"token|key|secret|passw|signature|sig$|code|auth|credential|session", re.I)
# Routes whose next path segment is a secret (the token or key in the URL rule).
SECRET_SEGMENTS = ("/heartbeats/", "/integrations/alertmanager/", "/invite/", "/password-reset/", "/survey/",
                   "/status/subscribe/sms/", "/status/subscribe/confirm/", "/status/unsubscribe/")
_SECRET_SEGMENT = re.compile(r"(?<![^/])(" + "|".join(re.escape(prefix[1:]) for prefix in SECRET_SEGMENTS)
                             + r")[^/?#\s]+")


def request_id() -> str | None:
    """This request's id (None outside a request): the incoming one when sound, else
    a new one, the same for the whole request."""
    if not has_request_context():
        return None
    found = g.get("request_id")
    if found is None:
        given = request.headers.get(HEADER, "")
        found = g.request_id = given if _SOUND_ID.fullmatch(given) else uuid.uuid4().hex
    return found


def incident_id() -> int | None:
    """The incident the code at hand works on, if any."""
    found = _incident.get()
    if found is None and has_request_context() and request.view_args:
        found = request.view_args.get("incident_id")
    return found


@contextmanager
def about_incident(incident_id: int | None) -> Iterator[None]:
    """Records logged inside carry this incident's id (None: none)."""
    token = _incident.set(incident_id)
    try:
        yield
    finally:
        _incident.reset(token)


def _echo_request_id(response: Response) -> Response:
    response.headers[HEADER] = request_id()
    return response


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: time (UTC), level, logger, message,
    `request_id` and `incident_id` where there is one, `exception` with its traceback.
    gunicorn's access records add the request's method, path, status, size and time."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            entry.update(_access_fields(record.args))
            entry["message"] = _redact_message(entry["message"], record.args)
        elif (found := request_id()) is not None:
            entry["request_id"] = found
        if (incident := incident_id()) is not None:
            entry["incident_id"] = incident
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def redact_query(query: str) -> str:
    """A query string with the values of secret parameters replaced."""
    parts = []
    for part in query.split("&"):
        name, equals, value = part.partition("=")
        secret = equals and value and _SECRET_PARAMETER.search(unquote_plus(name))
        parts.append(f"{name}={REDACTED}" if secret else part)
    return "&".join(parts)


def redact_url(url: str) -> str:
    """A path or URL (`/a/b?c=d`, `https://host/a?c=d`, or a request line that holds
    one) with its secret path segment and secret query values replaced."""
    def query(match: re.Match) -> str:
        return "?" + redact_query(match.group(1))
    return re.sub(r"\?([^\s#]*)", query, _SECRET_SEGMENT.sub(lambda m: m.group(1) + REDACTED, url))


def _access_fields(atoms) -> dict:
    """gunicorn's access log atoms (its SafeAtoms: '-' for what is missing), secrets
    left out of its URLs."""
    status = atoms["s"]
    fields = {"request_id": atoms["{x-request-id}o"], "method": atoms["m"], "path": redact_url(atoms["U"]),
              "query": redact_query(atoms["q"]), "status": int(status) if str(status).isdigit() else status,
              "bytes": atoms["B"],
              "duration_ms": round(atoms["D"] / 1000, 3) if isinstance(atoms["D"], int) else None,
              "remote_addr": atoms["h"], "user_agent": atoms["a"]}
    return {name: value for name, value in fields.items() if value not in ("-", "", None)}


def _redact_message(message: str, atoms) -> str:
    """The access record's text with its request line and referrer redacted."""
    for name in ("r", "f"):
        shown = str(atoms.get(name, ""))
        if shown not in ("", "-"):
            message = message.replace(shown, redact_url(shown))
    return message


# gunicorn's logconfig_dict when LOG_FORMAT=json (gunicorn merges it into its defaults):
# its error log on stderr and its access log on stdout, as in text, and the app's
# records through the root logger.
GUNICORN_LOGCONFIG = {
    "root": {"level": "WARNING", "handlers": ["json_stderr"]},
    "loggers": {
        "gunicorn.error": {"handlers": ["json_stderr"], "propagate": False, "qualname": "gunicorn.error"},
        "gunicorn.access": {"handlers": ["json_stdout"], "propagate": False, "qualname": "gunicorn.access"},
    },
    "handlers": {
        "json_stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
        "json_stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"},
    },
    "formatters": {"json": {"()": "app.logs.JsonFormatter"}},
}


def use_json() -> None:
    """Root's records as JSON on stderr, once per process (gunicorn may have done it)."""
    root = logging.getLogger()
    if not any(isinstance(handler.formatter, JsonFormatter) for handler in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)


def init_app(app: Flask) -> None:
    app.after_request(_echo_request_id)
    if app.config["LOG_FORMAT"] == "json":
        use_json()
        # Flask gives its logger a text handler of its own when it finds none above it.
        logging.getLogger(app.name).removeHandler(default_handler)
