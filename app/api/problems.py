"""Error answers of the JSON API: RFC 9457 problem details.

Every refusal is `application/problem+json`:

    {"type": "about:blank", "title": "Bad Request", "status": 400,
     "detail": "'title' is missing; 'severity' must be 1 to 4 …",
     "errors": [{"detail": "is missing", "pointer": "/title"},
                {"detail": "must be 1 to 4 …", "parameter": "severity"}],
     "error": "'title' is missing; …"}

`type` is about:blank (the status says it all) and `title` the status's phrase;
`detail` says what went wrong for people; `errors` (RFC 9457 §3's example member)
lists each problem with the input: `pointer` is a JSON Pointer into the body,
`parameter` a query parameter's name. `error` repeats `detail` for clients written
against the API before problem details; it goes in the release after next.
"""
from __future__ import annotations

import re
from http import HTTPStatus

from flask import jsonify

MEDIA_TYPE = "application/problem+json"
_NAMED = re.compile(r"^'([^']+)' (.+)$", re.S)


def problem(status: int, detail: str, *, errors: list[dict] | None = None, headers: dict | None = None):
    """The problem details answer for `status`."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "error": detail}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.mimetype = MEDIA_TYPE
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def field_error(message: str, where: str = "body") -> dict:
    """One problem from the API's "'name' what is wrong" wording: named by a JSON
    Pointer for a body field, by name for a query parameter, else only its detail."""
    named = _NAMED.match(message)
    if named is None:
        return {"detail": message}
    name, detail = named.groups()
    if where == "query":
        return {"detail": detail, "parameter": name}
    pointer = "/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in name.split("."))
    return {"detail": detail, "pointer": pointer}
