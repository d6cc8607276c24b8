"""Password reset pages: ask by address, then choose a new password from the link."""
from __future__ import annotations

from flask import Blueprint, flash, request
from flask_login import current_user

from app import clock
from app.auth import password_reset
from app.auth.forms import NewPasswordForm, PasswordResetRequestForm
from app.errors import Gone
from app.extensions import limiter
from app.web import attempt, public, render, see_other

bp = Blueprint("password_reset", __name__)

# Per client, and per address asked for (whoever asks): enough for a person who
# mistyped, too few to flood someone's inbox.
PER_CLIENT = "5 per minute;20 per hour"
PER_ADDRESS = "3 per 15 minutes;10 per day"


def _address() -> str:
    return (request.form.get("email") or "").strip().lower()[:254]


@bp.route("/password-reset", methods=["GET", "POST"])
@public
@limiter.limit(PER_CLIENT, methods=["POST"])
@limiter.limit(PER_ADDRESS, methods=["POST"], key_func=_address)
def request_link():
    form = PasswordResetRequestForm()
    if form.validate_on_submit():
        _, refused = attempt(lambda: password_reset.request_reset(form.email.data, clock.now(),
                                                                   ip=request.remote_addr))
        if refused is None:
            return render("auth/password_reset_sent.html", email=form.email.data.strip())
        form.email.errors.append(refused.message)
    return render("auth/password_reset.html", form=form, status=400 if form.errors else 200)


@bp.route("/password-reset/<token>", methods=["GET", "POST"])
@public
@limiter.limit(PER_CLIENT, methods=["POST"])
def choose(token: str):
    now = clock.now()
    try:
        password_reset.find(token, now)
    except Gone as gone:
        return render("auth/link_gone.html", title="Password reset", message=gone.message,
                      again=True, status=gone.status)
    form = NewPasswordForm()
    if form.validate_on_submit():
        _, refused = attempt(lambda: password_reset.complete(token, form.password.data, now, ip=request.remote_addr))
        if refused is None:
            flash("Your password is set and every session is signed out. Sign in with the new one.", "success")
            return see_other("auth.login")
        form.password.errors.append(refused.message)
    signed_in_as = current_user.email if current_user.is_authenticated else None
    return render("auth/password_reset_choose.html", form=form, signed_in_as=signed_in_as,
                  status=400 if form.errors else 200)
