"""Absolute links for what leaves Firebreak: SMS, calls, email, webhooks, calendar
feeds, chat. One rule: PUBLIC_BASE_URL, then the path the route builds.

Not `url_for(..., _external=True)` as it stands: inside a request that takes the host
the request came with (a proxy's internal name), and outside one (the engine) it needs
SERVER_NAME, which would also make Flask match requests by host. This binds the URL map
to PUBLIC_BASE_URL instead, as url_for does with SERVER_NAME: the same string inside a
request, behind a proxy or in the engine, with PUBLIC_BASE_URL's path prefix kept, its
scheme and host exactly as written (so a page SMS's length does not move).
"""
from __future__ import annotations

from urllib.parse import quote, urlsplit

from flask import current_app


def external_url(endpoint: str, **values) -> str:
    """`external_url("incidents.show", incident_id=42)` → `https://firebreak.example/incidents/42`.

    Takes what url_for takes (`_anchor` too; other values go to the query string);
    needs an app context, not a request."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    parts = urlsplit(base)
    origin = base[:len(base) - len(parts.path)]
    adapter = current_app.url_map.bind(parts.netloc or "localhost", script_name=parts.path or "/",
                                       url_scheme=parts.scheme or "http")
    anchor = values.pop("_anchor", None)
    current_app.inject_url_defaults(endpoint, values)
    url = origin + adapter.build(endpoint, values)
    if anchor is not None:
        url += "#" + quote(anchor, safe="%!#$&'()*+,/:;=?@")
    return url
