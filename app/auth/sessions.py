"""How long a signed-in browser session lasts: an absolute lifetime and an idle limit.

The session is a signed cookie, so the server cannot forget it; instead it carries
when the person signed in and when they were last seen (by the one clock, so tests
set the time rather than wait), and every request checks both. A session without
those stamps is not one we made and counts as ended. Signing out everywhere (or a
password change, or deactivation) bumps the person's `session_version`, which every
cookie carries (`User.get_id`), and ends every session at once.
"""
from __future__ import annotations

from datetime import datetime

from flask import current_app, session

SIGNED_IN_AT = "signed_in_at"
SEEN_AT = "seen_at"


def start(now: datetime) -> None:
    """Stamp a session that has just signed in."""
    session[SIGNED_IN_AT] = session[SEEN_AT] = int(now.timestamp())


def ended(now: datetime) -> str | None:
    """Why this signed-in session is over ("idle", "lifetime"), or None while it lasts."""
    signed_in, seen = session.get(SIGNED_IN_AT), session.get(SEEN_AT)
    if not isinstance(signed_in, int) or not isinstance(seen, int):
        return "lifetime"
    config = current_app.config
    at = now.timestamp()
    if at - signed_in >= config["SESSION_LIFETIME_HOURS"] * 3600:
        return "lifetime"
    if at - seen >= config["SESSION_IDLE_MINUTES"] * 60:
        return "idle"
    return None


def seen(now: datetime) -> None:
    """Note activity (at most once a minute: the idle limit is counted in minutes)."""
    stamp = int(now.timestamp())
    last = session.get(SEEN_AT)
    if not isinstance(last, int) or stamp - last >= 60 or stamp < last:
        session[SEEN_AT] = stamp
