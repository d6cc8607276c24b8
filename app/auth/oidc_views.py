"""Single sign-on's pages: the trip to the provider and back, and the admins' group →
team mapping. The rules are app.auth.oidc's; these views only carry the request."""
from __future__ import annotations

import requests
from authlib.integrations.base_client import OAuthError
from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_wtf import FlaskForm
from joserfc.errors import JoseError
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from app import clock
from app.auth import invitations, oidc, service
from app.auth.forms import EmptyForm
from app.auth.models import Role, Team
from app.auth.views import complete_sign_in
from app.extensions import db, limiter
from app.forms import choices_from
from app.links import external_url
from app.web import act_and_flash, current_actor, public, render, requires, see_other, submit

bp = Blueprint("oidc", __name__)


class MappingForm(FlaskForm):
    group_name = StringField("Provider group", validators=[DataRequired(), Length(max=oidc.MAX_GROUP_LENGTH)],
                             description="Exactly as the provider sends it in the groups claim.")
    team_id = SelectField("Team", coerce=int, validators=[DataRequired()])


def _signin_limit() -> str:
    return current_app.config["SIGNIN_RATE_LIMIT"]


@bp.route("/login/oidc")
@public
@limiter.limit(_signin_limit)
def start():
    """Off to the provider's authorization endpoint, with state, nonce and PKCE."""
    if not oidc.enabled():
        flash("Single sign-on is not set up here: sign in with your password.", "info")
        return redirect(url_for("auth.login"))
    try:
        return oidc.client().authorize_redirect(external_url("oidc.callback"))
    except (requests.RequestException, ValueError, KeyError):
        current_app.logger.exception("single sign-on: the provider's discovery document could not be read")
        return _refused("The identity provider does not answer. Try again, or ask an admin.", status=502)


@bp.route("/login/oidc/callback")
@public
@limiter.limit(_signin_limit)
def callback():
    """Back from the provider: the code exchanged, the ID token checked (app.auth.oidc)."""
    if not oidc.enabled():
        return redirect(url_for("auth.login"))
    ip, invitation = request.remote_addr, None
    try:
        invitation = invitations.taken_from(session, clock.now())
        token = oidc.client().authorize_access_token()
        claims = token.get("userinfo")
        if not claims:
            raise oidc.SignInRefused("no id token", "The identity provider sent no ID token.")
        claims = oidc.Claims.read(current_app.config["OIDC_ISSUER"], claims, current_app.config["OIDC_GROUPS_CLAIM"])
        if invitation:
            user = invitations.accept_through_provider(invitation, claims, clock.now(), ip=ip)
        else:
            user = oidc.sign_in(claims, clock.now(), ip=ip)
    except oidc.SignInRefused as error:
        db.session.rollback()
        oidc.refuse(error, ip)
        db.session.commit()
        return _refused(error.message)
    except (OAuthError, JoseError, requests.RequestException, ValueError, KeyError) as error:
        db.session.rollback()
        oidc.refuse(oidc.SignInRefused(_why(error), f"{type(error).__name__}: {error}"), ip)
        db.session.commit()
        return _refused("Single sign-on did not complete: the answer from the identity provider could not be "
                        "checked. Start again from the sign-in page.")
    db.session.commit()
    if invitation is None:
        return complete_sign_in(user, None, by_provider=True)
    signed_in = complete_sign_in(user, url_for("notify.profile"), by_provider=True)
    flash(f"Welcome, {user.name}. Add a mobile phone so pages reach you, then send yourself a test page.",
          "success")
    return signed_in


def _why(error: Exception) -> str:
    if isinstance(error, JoseError):
        return "invalid id token"
    if isinstance(error, OAuthError):
        return "state" if "state" in str(error).lower() else "provider error"
    return "provider unreachable"


def _refused(message: str, status: int = 403):
    return render("auth/oidc_refused.html", message=message, status=status)


# --- the admins' page -------------------------------------------------------------

def _mapping_form(form: MappingForm | None = None) -> MappingForm:
    form = form or MappingForm()
    form.team_id.choices = choices_from(db.session.scalars(db.select(Team).order_by(Team.name)).all())
    return form


def _page(form: MappingForm | None = None, status: int = 200):
    return render("auth/oidc_settings.html", form=_mapping_form(form), mappings=oidc.mappings(),
                  remove_form=EmptyForm(), status=status)


@bp.route("/admin/single-sign-on")
@requires(Role.ADMIN)
def settings():
    return _page()


@bp.route("/admin/single-sign-on/groups", methods=["POST"])
@requires(Role.ADMIN)
def add_mapping():
    form = _mapping_form()
    return submit(form, lambda: oidc.add_mapping(current_actor(), form.group_name.data,
                                                 service.get_team(form.team_id.data)),
                  success=lambda mapping: f"Group {mapping.group_name} now brings people into {mapping.team.name}.",
                  to=url_for("oidc.settings")) or _page(form, status=400)


@bp.route("/admin/single-sign-on/groups/<int:mapping_id>/remove", methods=["POST"])
@requires(Role.ADMIN)
def remove_mapping(mapping_id: int):
    if EmptyForm().validate_on_submit():
        act_and_flash(lambda: oidc.remove_mapping(current_actor(), mapping_id),
                      "The group mapping is removed; team members stay.")
    return see_other("oidc.settings")

