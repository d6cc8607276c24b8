"""Passkey pages: one's own passkeys, and signing in with one (on its own, or as the
second step after the password).

The ceremonies are JSON endpoints driven by static/js/passkeys.js (the browser's
WebAuthn API has no form to post): it asks for options, hands them to
navigator.credentials, and posts the answer back with the CSRF token in a header,
as htmx does. Renaming and removing are ordinary forms. The rules are in
app.auth.passkeys; a sign-in ends in app.auth.views.complete_sign_in.
"""
from __future__ import annotations

from flask import Blueprint, current_app, flash, jsonify, request, session, url_for
from flask_login import current_user

from app import clock
from app.auth import passkeys, twofactor
from app.auth.forms import EmptyForm, PasskeyNameForm
from app.auth.models import Role
from app.auth.views import complete_sign_in
from app.errors import DomainError
from app.extensions import db, limiter
from app.web import act_and_flash, attempt, current_actor, public, render, requires, see_other

bp = Blueprint("passkeys", __name__)


def _signin_limit() -> str:
    return current_app.config["SIGNIN_RATE_LIMIT"]


def options_response(body: str):
    """WebAuthn options (JSON from py_webauthn) as the answer, never cached."""
    response = current_app.response_class(body, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _refused(error: DomainError):
    return jsonify(error=error.message), error.status


def _credential():
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


# --- one's own passkeys ------------------------------------------------------------------------

@bp.route("/profile/passkeys")
@requires(Role.VIEWER)
def index():
    user = current_user._get_current_object()
    return render("auth/passkeys.html", passkeys=passkeys.passkeys_of(user), form=PasskeyNameForm(),
                  button=EmptyForm(), held=twofactor.held(session))


@bp.route("/profile/passkeys/options", methods=["POST"])
@requires(Role.VIEWER)
def registration_options():
    body, refused = attempt(lambda: passkeys.registration_options(
        current_actor(), current_user._get_current_object(), session, clock.now()))
    return _refused(refused) if refused else options_response(body)


@bp.route("/profile/passkeys", methods=["POST"])
@requires(Role.VIEWER)
def register():
    body = _credential()
    made, refused = attempt(lambda: passkeys.register(
        current_actor(), current_user._get_current_object(), session, body.get("credential"),
        body.get("name") or "", clock.now()))
    if refused:
        return _refused(refused)
    twofactor.release(session)  # a passkey is a second factor: the policy is met
    flash(f"The passkey {made.name!r} is added. It signs you in without your password.", "success")
    return jsonify(redirect=url_for("passkeys.index")), 201


@bp.route("/profile/passkeys/<int:passkey_id>/rename", methods=["POST"])
@requires(Role.VIEWER)
def rename(passkey_id: int):
    form = PasskeyNameForm()
    passkey = passkeys.get(current_actor(), passkey_id)
    if form.validate_on_submit():
        act_and_flash(lambda: passkeys.rename(current_actor(), passkey, form.name.data), "The passkey is renamed.")
    else:
        flash("Name the passkey (up to 64 characters).", "error")
    return see_other("passkeys.index")


@bp.route("/profile/passkeys/<int:passkey_id>/remove", methods=["POST"])
@requires(Role.VIEWER)
def remove(passkey_id: int):
    passkey = passkeys.get(current_actor(), passkey_id)
    if EmptyForm().validate_on_submit():
        name = passkey.name
        act_and_flash(lambda: passkeys.remove(current_actor(), passkey), f"The passkey {name!r} is removed.")
    return see_other("passkeys.index")


# --- signing in ------------------------------------------------------------------------------------

@bp.route("/login/passkeys/options", methods=["POST"])
@public
@limiter.limit(_signin_limit)
def sign_in_options():
    body = passkeys.sign_in_options(session, clock.now())
    db.session.commit()
    return options_response(body)


@bp.route("/login/passkeys", methods=["POST"])
@public
@limiter.limit(_signin_limit)
def sign_in():
    """The whole sign-in, with a passkey that verified the person."""
    now = clock.now()
    try:
        passkey = passkeys.authenticate(session, _credential(), now, ip=request.remote_addr)
    except DomainError as error:
        db.session.commit()  # keep the count of failures, and the used-up challenge
        return _refused(error)
    db.session.commit()
    answer = complete_sign_in(passkey.user, None)
    return jsonify(redirect=answer.location)


@bp.route("/login/two-factor/passkeys/options", methods=["POST"])
@public
@limiter.limit(_signin_limit)
def second_step_options():
    user = twofactor.pending_user(session, clock.now())
    if user is None:
        return jsonify(error="Sign in with your password first."), 401
    body = passkeys.sign_in_options(session, clock.now(), user)
    db.session.commit()
    return options_response(body)


@bp.route("/login/two-factor/passkeys", methods=["POST"])
@public
@limiter.limit(_signin_limit)
def second_step():
    """The second step after the password, with one of the person's passkeys."""
    now = clock.now()
    user = twofactor.pending_user(session, now)
    if user is None:
        return jsonify(error="Sign in with your password first."), 401
    try:
        passkeys.authenticate(session, _credential(), now, user=user, ip=request.remote_addr)
    except DomainError as error:
        db.session.commit()  # keep the count of wrong answers
        return _refused(error)
    target = twofactor.pending_target(session)
    db.session.commit()
    answer = complete_sign_in(user, target)
    return jsonify(redirect=answer.location)
