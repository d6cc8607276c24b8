"""Security email: what a person is told when something about their access changes.

Each kind is one message in plain text and HTML (templates/mail/<kind>.txt and
.html), put in the outbox like every other message, so the engine sends it, retries
it when the mail server fails, and the request that caused it never waits on SMTP.
It always goes to the account's own address (or the invited address), never to a
contact method a person may have added for pages.

Callers: invitations and password resets (app/auth/invitations.py,
app/auth/password_reset.py), sign-in from a browser not seen before
(app/auth/devices.py), and the second-factor and passkey code for "two-factor was
turned off" and "a new passkey was added".
"""
from __future__ import annotations

import secrets
from datetime import datetime

from flask import current_app

from app.auth.models import User
from app.links import external_url
from app.notify.models import Channel, Notification
from app.notify.outbox import enqueue

# kind: the subject line. The body is templates/mail/<kind>.txt and .html.
SUBJECTS = {
    "invitation": "You are invited to Firebreak",
    "password_reset": "Reset your Firebreak password",
    "two_factor_off": "Two-factor sign-in was turned off on your Firebreak account",
    "passkey_added": "A new passkey was added to your Firebreak account",
    "new_device": "New sign-in to your Firebreak account",
}


def render(kind: str, **context) -> tuple[str, str, str]:
    """(subject, text, html) of a message, from its templates. The HTML is autoescaped."""
    if kind not in SUBJECTS:
        raise ValueError(f"unknown security email {kind!r}")
    env = current_app.jinja_env
    context = {"subject": SUBJECTS[kind], "profile_url": external_url("auth.profile"), **context}
    text = env.get_template(f"mail/{kind}.txt").render(context)
    html = env.get_template(f"mail/{kind}.html").render(context)
    return SUBJECTS[kind], text, html


def send(to: User | str, kind: str, now: datetime, **context) -> Notification:
    """Put security email `kind` for a person (or an address, for an invitation) in
    the outbox, due now. `context` fills the templates (each names what it needs);
    the person's name is there as `name` when `to` is a person."""
    user = to if isinstance(to, User) else None
    address = user.email if user else to
    subject, text, html = render(kind, name=user.name if user else None, **context)
    return enqueue(key=f"security:{kind}:{secrets.token_hex(8)}", purpose="security", channel=Channel.EMAIL,
                   to_address=address, subject=subject, body=text, html_body=html, due=now, now=now,
                   user_id=user.id if user else None)
