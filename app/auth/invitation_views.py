"""Invitation pages: the list and the invite form (admins, and managers for their
teams), the accept page the emailed link opens, and `flask invite`."""
from __future__ import annotations

import click
import sqlalchemy as sa
from flask import Blueprint, flash, jsonify, redirect, request, session, url_for
from flask_login import current_user

from app import clock
from app.audit.service import Actor
from app.auth import devices, invitations, oidc, permissions
from app.auth.forms import AcceptInvitationForm, EmptyForm, InviteForm, JoinWithPasskeyForm
from app.auth.models import Invitation, Role, Team
from app.auth.passkey_views import options_response
from app.auth.passkeys import PasskeyRefused
from app.auth.views import complete_sign_in
from app.errors import DomainError, Gone
from app.extensions import db, limiter
from app.forms import add_error
from app.web import SOME_TEAM, act_and_flash, attempt, current_actor, public, render, requires, see_other

bp = Blueprint("invitations", __name__, cli_group=None)


def _invite_form(form: InviteForm | None = None) -> InviteForm:
    form = form or InviteForm()
    form.team_id.choices = permissions.team_choices(current_user._get_current_object())
    return form


def _page(form: InviteForm | None = None, status: int = 200):
    return render("auth/invitations.html", form=_invite_form(form), action_form=EmptyForm(),
                  invitations=invitations.pending(current_actor(), clock.now()), status=status)


@bp.route("/people/invitations", methods=["GET", "POST"])
@requires(Role.ADMIN, manages=SOME_TEAM)
def index():
    form = _invite_form()
    if form.validate_on_submit():
        team = db.session.get(Team, form.team_id.data) if form.team_id.data else None
        sent, refused = attempt(lambda: invitations.invite(current_actor(), form.emails.data, form.role.data, team,
                                                           clock.now()))
        if refused is None:
            if sent.made:
                flash(f"Invited {', '.join(inv.email for inv, _ in sent.made)}.", "success")
            for reason in sent.left_out:
                flash(f"Left out {reason}.", "info")
            return see_other("invitations.index")
        add_error(form, refused)
    return _page(form, status=400 if form.errors else 200)


@bp.route("/people/invitations/<int:invitation_id>/resend", methods=["POST"])
@requires(Role.ADMIN, manages=(Invitation, "invitation_id"))
def resend(invitation_id: int):
    invitation = invitations.get(invitation_id)
    if EmptyForm().validate_on_submit():
        act_and_flash(lambda: invitations.resend(current_actor(), invitation, clock.now()),
                      f"A new link is on its way to {invitation.email}; the old one no longer works.")
    return see_other("invitations.index")


@bp.route("/people/invitations/<int:invitation_id>/revoke", methods=["POST"])
@requires(Role.ADMIN, manages=(Invitation, "invitation_id"))
def revoke(invitation_id: int):
    invitation = invitations.get(invitation_id)
    if EmptyForm().validate_on_submit():
        act_and_flash(lambda: invitations.revoke(current_actor(), invitation, clock.now()),
                      f"The invitation of {invitation.email} is revoked.")
    return see_other("invitations.index")


@bp.route("/invite/<token>", methods=["GET", "POST"])
@public
@limiter.limit("10 per minute", methods=["POST"])
def accept(token: str):
    """The emailed link: who the invitation is for, and the account's set-up. Other
    ways to finish it (single sign-on, a passkey) go in the `other_ways` block of
    the template."""
    now = clock.now()
    try:
        invitation = invitations.find(token, now)
    except Gone as gone:
        return _gone(gone)
    form = AcceptInvitationForm()
    if form.validate_on_submit():
        user, refused = attempt(lambda: invitations.accept(token, now, name=form.name.data,
                                                           password=form.password.data, phone=form.phone.data,
                                                           time_zone=form.time_zone.data, ip=request.remote_addr))
        if refused is None:
            signed_in = complete_sign_in(user, url_for("notify.profile"))
            flash(f"Welcome, {user.name}. Check how pages reach you: enter the code sent to your phone, "
                  "then send yourself a test page.", "success")
            return signed_in
        add_error(form, refused)
    return render("auth/invitation_accept.html", form=form, invitation=invitation, provider_form=EmptyForm(),
                  passkey_form=_passkey_form(), single_sign_on=oidc.enabled(),
                  status=400 if form.errors else 200)


def _passkey_form() -> JoinWithPasskeyForm:
    """The passkey's name suggested from the browser ("Firefox on macOS"), when it says."""
    device = devices.describe(request.user_agent.string)
    return JoinWithPasskeyForm(passkey_name="" if device == devices.UNKNOWN else device)


def _joining() -> dict:
    """What static/js/passkeys.js posts for joining: the account's fields from the
    accept form, the passkey's name, and (the second time) the credential."""
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    text = {key: body.get(key) if isinstance(body.get(key), str) else ""
            for key in ("name", "phone", "time_zone", "passkey_name")}
    return {**text, "phone": text["phone"] or None}


@bp.route("/invite/<token>/passkey/options", methods=["POST"])
@public
@limiter.limit("10 per minute")
def passkey_options(token: str):
    """Joining with a passkey, step one: the fields are checked, then the browser is
    given the options to make the passkey with."""
    try:
        body = invitations.passkey_options(token, session, clock.now(), **_joining())
    except DomainError as error:
        return jsonify(error=error.message), error.status
    db.session.commit()
    return options_response(body)


@bp.route("/invite/<token>/passkey", methods=["POST"])
@public
@limiter.limit("10 per minute")
def accept_with_passkey(token: str):
    """Joining with a passkey, step two: the account is made with the passkey the
    browser made, and the person signed in."""
    body = request.get_json(silent=True)
    credential = body.get("credential") if isinstance(body, dict) else None
    try:
        user = invitations.accept_with_passkey(token, session, clock.now(), credential=credential,
                                               ip=request.remote_addr, **_joining())
    except PasskeyRefused as refused:
        db.session.commit()  # nothing but the used-up challenge was written: it stays used up
        return jsonify(error=refused.message), refused.status
    except DomainError as refused:
        db.session.rollback()
        return jsonify(error=refused.message), refused.status
    db.session.commit()
    answer = complete_sign_in(user, url_for("notify.profile"))
    flash(f"Welcome, {user.name}. Your passkey signs you in from now on. Check how pages reach you: enter the "
          "code sent to your phone, then send yourself a test page.", "success")
    return jsonify(redirect=answer.location), 201


@bp.route("/invite/<token>/single-sign-on", methods=["POST"])
@public
@limiter.limit("10 per minute")
def accept_through_provider(token: str):
    """“Join with single sign-on”: the session remembers the invitation and the
    browser goes to the provider; app.auth.oidc_views' callback finishes it."""
    if not oidc.enabled() or not EmptyForm().validate_on_submit():
        return redirect(url_for("invitations.accept", token=token), code=303)
    try:
        invitations.remember_for_provider(session, token, clock.now())
    except Gone as gone:
        return _gone(gone)
    return redirect(url_for("oidc.start"), code=303)


def _gone(gone: Gone):
    return render("auth/link_gone.html", title="Invitation", message=gone.message, again=False, status=gone.status)


@bp.cli.command("invite")
@click.option("--email", required=True, help="One address, or several separated by commas.")
@click.option("--role", required=True, type=click.Choice(["viewer", "responder", "admin"]))
@click.option("--team", "team_name", help="The team's name, as on the Teams page.")
def invite_command(email: str, role: str, team_name: str | None) -> None:
    """Invite people by email and print each invitation link (the email goes out
    with the engine, like every message)."""
    team = None
    if team_name:
        team = db.session.scalar(sa.select(Team).where(sa.func.lower(Team.name) == team_name.strip().lower()))
        if team is None:
            raise click.ClickException(f"No team is named {team_name!r}.")
    try:
        sent = invitations.invite(Actor.system("command line"), email, role, team, clock.now())
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    db.session.commit()
    for invitation, link in sent.made:
        click.echo(f"{invitation.email}: {link}")
    for reason in sent.left_out:
        click.echo(f"left out {reason}", err=True)
