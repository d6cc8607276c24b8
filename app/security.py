"""Response headers that keep pages from being framed, sniffed or scripted by others."""
from __future__ import annotations

from flask import Flask, request

from app.auth.sessions import load_user
from app.extensions import login_manager

# No inline scripts or styles anywhere: htmx is configured (base.html) not to inject
# its indicator styles, and pages carry no <script> blocks of their own.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
       "form-action 'self'; object-src 'none'")


def init_app(app: Flask) -> None:
    login_manager.user_loader(load_user)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to see that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    app.after_request(_headers)


# On every answer, whatever made it: pages, JSON, errors, static files, and the status
# page's cache, which answers without Flask (app.statuspage.cache).
HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),  # frame-ancestors, for browsers that predate it
    ("Referrer-Policy", "same-origin"),
)
# Only on answers that went over TLS: on plain HTTP browsers ignore it (RFC 6797), and
# a proxy that ends TLS says so in X-Forwarded-Proto, trusted with PROXY_COUNT.
HSTS = ("Strict-Transport-Security", "max-age=63072000; includeSubDomains")


def headers_for(https: bool) -> list[tuple[str, str]]:
    return [*HEADERS, HSTS] if https else list(HEADERS)


def _headers(response):
    headers = response.headers
    for name, value in headers_for(request.is_secure):
        headers.setdefault(name, value)
    return response
