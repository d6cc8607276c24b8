"""Response headers that keep pages from being framed, sniffed or scripted by others."""
from __future__ import annotations

from flask import Flask, current_app, request

from app.auth.service import load_session_user
from app.extensions import login_manager

# No inline scripts or styles anywhere: htmx is configured (base.html) not to inject
# its indicator styles, and pages carry no <script> blocks of their own.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
       "form-action 'self'; object-src 'none'")


def init_app(app: Flask) -> None:
    login_manager.user_loader(load_session_user)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to see that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    app.after_request(_headers)


def _headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    if current_app.config["PREFERRED_URL_SCHEME"] == "https" or request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    return response
