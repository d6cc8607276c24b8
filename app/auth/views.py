"""Sign-in, one's own profile and tokens, and the people and teams directory."""
from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user

from app import clock
from app.auth import known_devices, oidc, password_reset, service, sessions, twofactor
from app.auth.forms import (
    AdminPasswordForm, EmptyForm, LoginForm, MemberForm, NewPersonForm, PasswordForm, PersonForm,
    ProfileForm, TeamForm, TokenForm,
)
from app.auth.models import ApiToken, Role, Team, User
from app.errors import DomainError, NotFound
from app.extensions import db, limiter
from app.forms import choices_from
from app.notify import contacts
from app.notify.queries import log_for_user
from app.web import act_and_flash, current_actor, public, render, requires, see_other, submit

bp = Blueprint("auth", __name__)


def _signin_limit() -> str:
    return current_app.config["SIGNIN_RATE_LIMIT"]


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: never let `next` send someone to another host."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(_signin_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm(next=request.args.get("next", ""))
    status = 200
    if form.validate_on_submit():
        try:
            user = service.authenticate(form.email.data, form.password.data, ip=request.remote_addr)
            if not oidc.password_allowed(user):
                db.session.rollback()  # not a sign-in: nothing of it is kept
                raise DomainError(oidc.PASSWORD_REFUSED)
        except DomainError as error:
            db.session.commit()  # keep the failure count
            form.form_errors.append(error.message)
            status = 401
        else:
            db.session.commit()
            if twofactor.has_second_factor(user):  # the password alone does not sign in
                session.clear()
                twofactor.pass_password(session, user, clock.now(), _safe_next(form.next.data))
                return see_other("two_factor.second_step")
            return complete_sign_in(user, _safe_next(form.next.data))
    elif request.method == "POST":
        status = 400
    return render("auth/login.html", form=form, status=status)


def complete_sign_in(user: User, target: str | None, *, by_provider: bool = False):
    """Sign this browser in as `user`, whose every step has passed, and send them on:
    to enrolment when the two-factor policy needs it (app.auth.twofactor), to their
    phone's code when nothing pages them yet, else to `target` or home. After single
    sign-on (`by_provider`) the identity provider's own second factor stands for ours,
    so the policy does not send them to enrolment."""
    now = clock.now()
    password_reset.end_open(user, now)  # a reset link dies with a sign-in
    known_devices.signed_in(user, request.user_agent.string, request.remote_addr, now)
    db.session.commit()
    session.clear()  # a fresh session on sign-in: no fixation
    login_user(user)
    session.permanent = True
    sessions.start(clock.now())
    if not by_provider and twofactor.hold_for_enrolment(session, user):
        flash("Set up two-factor sign-in to continue: your role needs it.", "info")
        return see_other("two_factor.enrol")
    if target is None and _waiting_for_a_code(user):
        flash("You cannot be paged yet: enter the code sent to your phone, or ask for a new one.", "info")
        target = url_for("notify.profile")
    return redirect(target or url_for("home.index"), code=303)


def _waiting_for_a_code(user: User) -> bool:
    """Someone was given a contact method (an admin typed their phone) that they have
    not verified, and nothing else pages them: they are asked for the code first."""
    return not contacts.usable_methods(user) and any(m.active and not m.verified for m in user.contact_methods)


@bp.route("/logout", methods=["POST"])
@requires(Role.VIEWER)
def logout():
    sessions.finish(clock.now())
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return see_other("auth.login")


@bp.route("/profile/sign-out-everywhere", methods=["POST"])
@requires(Role.VIEWER)
def sign_out_everywhere():
    if EmptyForm().validate_on_submit():
        service.sign_out_everywhere(current_actor(), current_user._get_current_object())
        db.session.commit()
        logout_user()
        session.clear()
        flash("You are signed out everywhere: on this browser and every other.", "info")
    return see_other("auth.login")


# --- one's own profile ----------------------------------------------------------

@bp.route("/profile", methods=["GET", "POST"])
@requires(Role.VIEWER)
def profile():
    user = current_user._get_current_object()
    form = ProfileForm(obj=user)

    def save():
        before = user.phone
        service.update_user(current_actor(), user, name=form.name.data, phone=form.phone.data,
                            time_zone=form.time_zone.data.strip())
        if user.phone != before:
            contacts.add_phone(current_actor(), user, user.phone, clock.now())
    return submit(form, save, success="Your profile is saved.", to=url_for("auth.profile")) \
        or _profile_page(form=form)


def _profile_page(form=None, password_form=None, token_form=None, new_token: str | None = None, status=200):
    user = current_user._get_current_object()
    tokens = db.session.scalars(sa.select(ApiToken).where(ApiToken.user_id == user.id)
                                .order_by(ApiToken.created_at.desc())).all()
    return render("auth/profile.html", user=user, form=form or ProfileForm(obj=user),
                  password_form=password_form or PasswordForm(), token_form=token_form or TokenForm(),
                  tokens=tokens, new_token=new_token, revoke_form=EmptyForm(), status=status)


@bp.route("/profile/password", methods=["POST"])
@requires(Role.VIEWER)
def change_password():
    user = current_user._get_current_object()
    form = PasswordForm()
    def change():
        service.set_password(current_actor(), user, form.password.data, current=form.current_password.data)
        sessions.follow_version(user)  # this browser stays in; every other is out
    return submit(form, change,
                  after=lambda: login_user(user),  # the session id carries the new version
                  success="Your password is changed; other sessions are signed out.", to=url_for("auth.profile")) \
        or _profile_page(password_form=form, status=400)


@bp.route("/profile/tokens", methods=["POST"])
@requires(Role.VIEWER)
def create_token():
    form = TokenForm()
    return submit(form, lambda: service.create_api_token(current_actor(), current_user._get_current_object(),
                                                         name=form.name.data, scope=form.scope.data,
                                                         expires_on=form.expires_on.data),
                  success=None,  # the secret is shown on this one answer only; it is stored hashed
                  to=lambda made: _profile_page(new_token=made[1], status=201)) \
        or _profile_page(token_form=form, status=400)


@bp.route("/profile/tokens/<int:token_id>/revoke", methods=["POST"])
@requires(Role.VIEWER)
def revoke_token(token_id: int):
    form = EmptyForm()
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise NotFound("No such token.")
    if form.validate_on_submit():
        service.revoke_api_token(current_actor(), token)
        db.session.commit()
        flash(f"Token {token.name!r} is revoked.", "success")
    if current_user.id != token.user_id:
        return see_other("auth.show_person", user_id=token.user_id)
    return see_other("auth.profile")


# --- one's own sessions, every token -----------------------------------------------

def _sessions_page(status=200):
    user = current_user._get_current_object()
    return render("auth/sessions.html", "sessions", sessions_list=sessions.active_sessions(user, clock.now()),
                  current=sessions.current(), form=EmptyForm(), status=status)


@bp.route("/profile/sessions")
@requires(Role.VIEWER)
def list_sessions():
    return _sessions_page()


@bp.route("/profile/sessions/<int:session_id>/end", methods=["POST"])
@requires(Role.VIEWER)
def end_session(session_id: int):
    record = sessions.get_own(current_actor(), session_id)
    if EmptyForm().validate_on_submit():
        current = sessions.current()
        act_and_flash(lambda: sessions.end(current_actor(), record, clock.now(), current_id=current and current.id),
                      "That session is ended: its browser is signed out.")
    return see_other("auth.list_sessions")


@bp.route("/profile/sessions/end-others", methods=["POST"])
@requires(Role.VIEWER)
def end_other_sessions():
    if EmptyForm().validate_on_submit():
        current = sessions.current()
        act_and_flash(lambda: sessions.end_others(current_actor(), current_user._get_current_object(), clock.now(),
                                                  current_id=current and current.id),
                      lambda count: f"Ended {count} other session{'s' if count != 1 else ''}.")
    return see_other("auth.list_sessions")


@bp.route("/admin/api-tokens")
@requires(Role.ADMIN)
def all_tokens():
    return render("auth/api_tokens.html", tokens=service.all_api_tokens(), revoke_form=EmptyForm())


@bp.route("/admin/api-tokens/<int:token_id>/revoke", methods=["POST"])
@requires(Role.ADMIN)
def revoke_any_token(token_id: int):
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise NotFound("No such token.")
    if EmptyForm().validate_on_submit():
        act_and_flash(lambda: service.revoke_api_token(current_actor(), token),
                      f"Token {token.name!r} of {token.user.name} is revoked.")
    return see_other("auth.all_tokens")


# --- people ---------------------------------------------------------------------

@bp.route("/people")
@requires(Role.VIEWER)
def people():
    q = (request.args.get("q") or "").strip()[:200]  # SQLite refuses LIKE patterns over 50 KB
    stmt = sa.select(User).order_by(User.active.desc(), User.name)
    if q:
        stmt = stmt.where(sa.or_(User.name.ilike(f"%{q}%"), User.email.ilike(f"%{q}%")))
    users = db.session.scalars(stmt).all()
    return render("auth/people.html", "results", users=users, q=q)


@bp.route("/people/<int:user_id>")
@requires(Role.VIEWER)
def show_person(user_id: int):
    user = service.get_user(user_id)
    tokens = []
    if current_user.can(Role.ADMIN):
        tokens = db.session.scalars(sa.select(ApiToken).where(ApiToken.user_id == user.id)
                                    .order_by(ApiToken.created_at.desc())).all()
    return render("auth/person.html", user=user, tokens=tokens, revoke_form=EmptyForm(),
                  password_form=AdminPasswordForm(), log=log_for_user(user.id),
                  second_factor=twofactor.factor_of(user) is not None)


@bp.route("/people/new", methods=["GET", "POST"])
@requires(Role.ADMIN)
def new_person():
    form = NewPersonForm()

    def add() -> User:
        user = service.create_user(current_actor(), email=form.email.data, name=form.name.data,
                                   role=form.role.data, password=form.password.data or None,
                                   phone=form.phone.data, time_zone=form.time_zone.data.strip())
        if not form.active.data:
            service.update_user(current_actor(), user, active=False)
        contacts.add_phone(current_actor(), user, user.phone, clock.now())
        return user
    return submit(form, add, success=lambda user: f"{user.name} is added.",
                  to=lambda user: url_for("auth.show_person", user_id=user.id)) or render("auth/person_form.html", form=form, user=None, status=400 if form.errors else 200)


@bp.route("/people/<int:user_id>/edit", methods=["GET", "POST"])
@requires(Role.ADMIN)
def edit_person(user_id: int):
    user = service.get_user(user_id)
    form = PersonForm(obj=user)

    def save():
        before = user.phone
        service.update_user(current_actor(), user, email=form.email.data, name=form.name.data,
                            phone=form.phone.data, time_zone=form.time_zone.data.strip(),
                            role=form.role.data, active=form.active.data)
        if user.phone != before:
            contacts.add_phone(current_actor(), user, user.phone, clock.now())
    return submit(form, save, success=lambda _: f"{user.name} is saved.",
                  to=url_for("auth.show_person", user_id=user.id)) \
        or render("auth/person_form.html", form=form, user=service.get_user(user_id),
                  status=400 if form.errors else 200)


@bp.route("/people/<int:user_id>/contact-methods/<int:method_id>/mark-verified", methods=["POST"])
@requires(Role.ADMIN)
def mark_verified(user_id: int, method_id: int):
    """An admin vouches for a person's contact method instead of a code (audited)."""
    user = service.get_user(user_id)
    method = contacts.get_method(method_id, user)
    if EmptyForm().validate_on_submit():
        act_and_flash(lambda: contacts.vouch(current_actor(), method, clock.now()),
                      f"{method.display} of {user.name} is marked verified: it pages from now on.")
    return see_other("auth.show_person", user_id=user.id)


@bp.route("/people/<int:user_id>/password", methods=["POST"])
@requires(Role.ADMIN)
def set_person_password(user_id: int):
    user = service.get_user(user_id)
    form = AdminPasswordForm()
    return submit(form, lambda: service.set_password(current_actor(), user, form.password.data),
                  success=f"The password of {user.name} is set; their sessions are signed out.",
                  to=url_for("auth.show_person", user_id=user.id)) or render("auth/person.html", user=user, tokens=[], revoke_form=EmptyForm(),
                  password_form=form, log=log_for_user(user.id), status=400)


@bp.route("/people/<int:user_id>/sign-out", methods=["POST"])
@requires(Role.ADMIN)
def sign_out_person(user_id: int):
    user = service.get_user(user_id)
    if EmptyForm().validate_on_submit():
        service.sign_out_everywhere(current_actor(), user)
        db.session.commit()
        flash(f"{user.name} is signed out of every browser.", "success")
    return see_other("auth.show_person", user_id=user.id)


# --- teams ----------------------------------------------------------------------

@bp.route("/teams")
@requires(Role.VIEWER)
def teams():
    rows = db.session.scalars(sa.select(Team).order_by(Team.name)).all()
    return render("auth/teams.html", teams=rows)


def _member_form(team: Team, form: MemberForm | None = None) -> MemberForm:
    form = form or MemberForm()
    present = {m.user_id for m in team.memberships}
    candidates = db.session.scalars(sa.select(User).where(User.active.is_(True)).order_by(User.name)).all()
    form.user_id.choices = choices_from([u for u in candidates if u.id not in present])
    return form


@bp.route("/teams/<int:team_id>")
@requires(Role.VIEWER)
def show_team(team_id: int):
    team = service.get_team(team_id)
    return render("auth/team.html", team=team, form=TeamForm(obj=team), member_form=_member_form(team),
                  remove_form=EmptyForm())


@bp.route("/teams/new", methods=["GET", "POST"])
@requires(Role.ADMIN)
def new_team():
    form = TeamForm()
    return submit(form, lambda: service.create_team(current_actor(), name=form.name.data,
                                                    description=form.description.data),
                  success=lambda team: f"Team {team.name} is created.",
                  to=lambda team: url_for("auth.show_team", team_id=team.id)) or render("auth/team_form.html", form=form, status=400 if form.errors else 200)


@bp.route("/teams/<int:team_id>/edit", methods=["POST"])
@requires(Role.ADMIN)
def edit_team(team_id: int):
    team = service.get_team(team_id)
    form = TeamForm()
    if done := submit(form, lambda: service.update_team(current_actor(), team, name=form.name.data,
                                                        description=form.description.data),
                      success="Team saved.", to=url_for("auth.show_team", team_id=team.id)):
        return done
    team = service.get_team(team_id)
    return render("auth/team.html", team=team, form=form, member_form=_member_form(team),
                  remove_form=EmptyForm(), status=400)


@bp.route("/teams/<int:team_id>/members", methods=["POST"])
@requires(Role.ADMIN, manages=(Team, "team_id"))
def add_member(team_id: int):
    team = service.get_team(team_id)
    form = _member_form(team, MemberForm())
    if done := submit(form, lambda: service.add_member(current_actor(), team, service.get_user(form.user_id.data),
                                                       is_manager=form.is_manager.data),
                      success=None, to=url_for("auth.show_team", team_id=team.id)):
        return done
    team = service.get_team(team_id)
    return render("auth/team.html", team=team, form=TeamForm(obj=team), member_form=form,
                  remove_form=EmptyForm(), status=400)


@bp.route("/teams/<int:team_id>/members/<int:user_id>/remove", methods=["POST"])
@requires(Role.ADMIN, manages=(Team, "team_id"))
def remove_member(team_id: int, user_id: int):
    team = service.get_team(team_id)
    if EmptyForm().validate_on_submit():
        service.remove_member(current_actor(), team, service.get_user(user_id))
        db.session.commit()
    return see_other("auth.show_team", team_id=team.id)


@bp.route("/teams/<int:team_id>/members/<int:user_id>/manager", methods=["POST"])
@requires(Role.ADMIN, manages=(Team, "team_id"))
def set_manager(team_id: int, user_id: int):
    """Make a member a manager of the team (`is_manager=1`) or no longer one."""
    team = service.get_team(team_id)
    user = service.get_user(user_id)
    manager = request.form.get("is_manager") == "1"
    if EmptyForm().validate_on_submit():
        act_and_flash(lambda: service.set_manager(current_actor(), team, user, manager),
                      f"{user.name} is {'now' if manager else 'no longer'} a manager of {team.name}.")
    return see_other("auth.show_team", team_id=team.id)

