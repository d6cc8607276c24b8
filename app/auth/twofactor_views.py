"""Two-factor pages: the second step of sign-in, one's own authenticator and recovery
codes, an admin's reset of someone's, and the organisation's policy.

The rules are in app.auth.twofactor; the sign-in itself ends in
app.auth.views.complete_sign_in, shared with the password-only path. `hold` keeps
someone the policy obliges to enrol on the enrolment page until they have.
"""
from __future__ import annotations

from flask import Blueprint, current_app, flash, make_response, redirect, request, session, url_for
from flask_login import current_user

from app import clock
from app.auth import passkeys, service, twofactor
from app.auth.forms import EmptyForm, TwoFactorCodeForm, TwoFactorOffForm, TwoFactorPolicyForm
from app.auth.models import Role, User
from app.auth.security_mail import send as send_security_mail
from app.auth.views import complete_sign_in
from app.extensions import db, htmx, limiter
from app.forms import add_error
from app.web import act_and_flash, attempt, current_actor, public, render, requires, see_other, submit

bp = Blueprint("two_factor", __name__)

# What someone held for enrolment may still reach.
WHILE_HELD = frozenset({"two_factor.enrol", "two_factor.start", "two_factor.confirm", "auth.logout", "static",
                        "passkeys.index", "passkeys.registration_options", "passkeys.register"})


def _signin_limit() -> str:
    return current_app.config["SIGNIN_RATE_LIMIT"]


def hold():
    """before_request (after app.web.enforce_access): a session marked at sign-in as
    needing enrolment reaches only enrolment and sign-out. Public pages and the API
    (bearer tokens, unaffected by two-factor) are left alone."""
    if not twofactor.held(session) or not current_user.is_authenticated:
        return None
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    if request.endpoint in WHILE_HELD or view is None or getattr(view, "_public", False) or request.blueprint == "api":
        return None
    target = url_for("two_factor.enrol")
    if htmx:
        response = make_response("", 204)
        response.headers["HX-Redirect"] = target
        return response
    flash("Set up two-factor sign-in first: your role needs it.", "info")
    return redirect(target, code=303)


# --- the second step of sign-in ------------------------------------------------------------

@bp.route("/login/two-factor", methods=["GET", "POST"])
@public
@limiter.limit(_signin_limit, methods=["POST"])
def second_step():
    now = clock.now()
    user = twofactor.pending_user(session, now)
    if user is None:
        flash("Sign in with your password first (the step before the code lasts "
              f"{twofactor.PENDING_MINUTES} minutes).", "info")
        return see_other("auth.login")
    form = TwoFactorCodeForm()
    status = 200
    if form.validate_on_submit():
        try:
            twofactor.check_code(user, form.code.data, now, ip=request.remote_addr)
        except twofactor.SecondStepRefused as error:
            db.session.commit()  # keep the count of wrong codes
            add_error(form, error)
            status = 401
        else:
            target = twofactor.pending_target(session)
            db.session.commit()
            return complete_sign_in(user, target)
    elif request.method == "POST":
        status = 400
    return render("auth/two_factor_login.html", form=form, user=user, status=status,
                  totp=twofactor.factor_of(user) is not None, passkey=passkeys.has_passkey(user))


# --- one's own second factor -----------------------------------------------------------------

def _page(*, code_form=None, off_form=None, recovery_codes=None, status=200):
    user = current_user._get_current_object()
    factor = twofactor.factor_of(user)
    secret = twofactor.pending_secret(user)
    uri = twofactor.provisioning_uri(user, secret) if secret else None
    return render("auth/two_factor.html", user=user, factor=factor, secret=secret,
                  qr=twofactor.qr_svg(uri) if uri else None, held=twofactor.held(session),
                  codes_left=twofactor.recovery_codes_left(user), recovery_codes=recovery_codes,
                  code_form=code_form or TwoFactorCodeForm(), off_form=off_form or TwoFactorOffForm(),
                  button=EmptyForm(), status=status)


@bp.route("/profile/two-factor")
@requires(Role.VIEWER)
def enrol():
    return _page()


@bp.route("/profile/two-factor/start", methods=["POST"])
@requires(Role.VIEWER)
def start():
    if EmptyForm().validate_on_submit():
        act_and_flash(lambda: twofactor.begin(current_actor(), current_user._get_current_object()))
    return see_other("two_factor.enrol")


@bp.route("/profile/two-factor/confirm", methods=["POST"])
@requires(Role.VIEWER)
def confirm():
    form = TwoFactorCodeForm()
    user = current_user._get_current_object()
    if not form.validate_on_submit():
        return _page(code_form=form, status=400)
    codes, refused = attempt(lambda: twofactor.confirm(current_actor(), user, form.code.data, clock.now()))
    if refused is not None:
        add_error(form, refused)
        return _page(code_form=form, status=400)
    twofactor.release(session)
    flash("Two-factor sign-in is on. Keep your recovery codes somewhere safe.", "success")
    return _page(recovery_codes=codes, status=201)  # shown on this one answer only


@bp.route("/profile/two-factor/recovery-codes", methods=["POST"])
@requires(Role.VIEWER)
def recovery_codes():
    if not EmptyForm().validate_on_submit():
        return see_other("two_factor.enrol")
    codes, refused = attempt(lambda: twofactor.regenerate_recovery_codes(
        current_actor(), current_user._get_current_object(), clock.now()))
    if refused is not None:
        flash(refused.message, "error")
        return see_other("two_factor.enrol")
    flash("New recovery codes are made; the old ones no longer work.", "success")
    return _page(recovery_codes=codes, status=201)


@bp.route("/profile/two-factor/turn-off", methods=["POST"])
@requires(Role.VIEWER)
@limiter.limit(_signin_limit, methods=["POST"])
def turn_off():
    form = TwoFactorOffForm()
    user = current_user._get_current_object()

    def off():
        now = clock.now()
        twofactor.turn_off(current_actor(), user, now, password=form.password.data or "", code=form.code.data or "")
        send_security_mail(user, "two_factor_off", now, when=_when(now), by=None)
    return submit(form, off, success="Two-factor sign-in is off; your password alone signs you in.",
                  to=url_for("two_factor.enrol")) or _page(off_form=form, status=400)


def _when(now) -> str:
    return f"{now:%-d %B %Y %H:%M} UTC"


# --- admins ----------------------------------------------------------------------------------

@bp.route("/people/<int:user_id>/two-factor/reset", methods=["POST"])
@requires(Role.ADMIN)
def reset(user_id: int):
    user: User = service.get_user(user_id)
    if EmptyForm().validate_on_submit():
        def reset_and_tell():
            now = clock.now()
            twofactor.reset(current_actor(), user)
            send_security_mail(user, "two_factor_off", now, when=_when(now), by=current_actor().label)
        act_and_flash(reset_and_tell, f"The second factor of {user.name} is removed and their sessions are "
                                      "signed out; they set it up again when they next sign in if it is required.")
    return see_other("auth.show_person", user_id=user.id)


@bp.route("/admin/two-factor", methods=["GET", "POST"])
@requires(Role.ADMIN)
def policy():
    form = TwoFactorPolicyForm(required=twofactor.policy().value)
    return submit(form, lambda: twofactor.set_policy(current_actor(), form.required.data),
                  success="Who needs two-factor sign-in is saved.", to=url_for("two_factor.policy")) \
        or render("auth/two_factor_policy.html", form=form, status=400 if form.errors else 200)
