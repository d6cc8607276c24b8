"""What every view shares: who may see it, who is acting, page or fragment.

Access is deny-by-default, and CSRF is checked here too (WTF_CSRF_CHECK_DEFAULT is off). `enforce_access` runs before every request: a view is
public only when marked `@public`; otherwise it needs a signed-in person (or, under
/api/v1, a bearer token) holding at least the view's role. Views that change
things (any method but GET/HEAD/OPTIONS) need a responder unless marked otherwise.
A view marked `requires(Role.ADMIN, manages=(Model, "model_id"))` is open besides to
a manager of the team that owns the object in its URL (app.auth.permissions): the one
place team-scoped access is decided for the web.
"""
from __future__ import annotations

from typing import Callable, TypeVar

from flask import (
    abort, current_app, flash, g, jsonify, make_response, redirect, render_template, request, session, url_for,
)
from flask_login import current_user, logout_user
from jinja2_fragments.flask import render_block

from app import clock, nul
from app.audit.service import Actor
from app.auth import permissions, sessions
from app.auth.models import Role, TokenScope
from app.auth.service import TokenExpired, token_from_secret
from app.database import MAX_ID, set_write_intent
from app.errors import DomainError
from app.extensions import csrf, db, htmx
from app.forms import add_error

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Paths that answer machines: errors there are JSON, not pages.
JSON_PREFIXES = ("/api/", "/v2/", "/integrations/", "/heartbeats/")
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
T = TypeVar("T")


def refuse_ids_out_of_range(endpoint: str | None, values: dict | None) -> None:
    """url_value_preprocessor: an `<int:…>` past MAX_ID names nothing, a 404 before any
    view or query (past 2**63 it does not even fit SQLite's integer: it answered 500).
    Here rather than in the converter: a converter refusing it on one of two rules that
    share a path (GET and POST of /incidents/<id>/tasks) makes werkzeug answer 405."""
    if values and any(type(value) is int and value > MAX_ID for value in values.values()):
        abort(404, description="Nothing has that id.")


def public(view: Callable) -> Callable:
    """Anyone may call this view: the status page, health, integrations, sign-in."""
    view._public = True
    return view


def no_csrf(view: Callable) -> Callable:
    """A machine endpoint with its own proof of origin (a signature, a secret key)."""
    view._no_csrf = True
    return view


# `requires(…, manages=SOME_TEAM)`: pages that create a team's things; the team chosen
# is checked as the thing is created.
SOME_TEAM = "some team"


def requires(role: Role, manages: tuple[type, str] | str | None = None) -> Callable[[Callable], Callable]:
    """The least role a person needs for this view (enforced in `enforce_access`);
    `manages` lets a team's manager in too: `(Model, "url_argument")` names the object
    whose team must be theirs, or SOME_TEAM any team they manage."""
    def decorate(view: Callable) -> Callable:
        view._min_role = role
        if manages is not None:
            view._manages = manages
        return view
    return decorate


def _manages(view: Callable, person=None) -> bool:
    """Whether `person` (the signed-in one unless given: an API token's owner) manages
    what the view changes (their way past its role)."""
    owned = getattr(view, "_manages", None)
    if owned is None:
        return False
    person = person if person is not None else current_user
    if owned == SOME_TEAM:
        return permissions.manages_some_team(person)
    model, argument = owned
    obj = db.session.get(model, request.view_args[argument])
    return obj is not None and permissions.manages(person, obj)


def is_json_path(path: str | None = None) -> bool:
    return (path or request.path).startswith(JSON_PREFIXES)


def current_actor() -> Actor:
    """The Actor behind this request (person on the web or API token)."""
    actor = g.get("actor")
    if actor is None:
        if current_user.is_authenticated:
            actor = Actor.for_user(current_user._get_current_object(), ip=request.remote_addr)
        else:
            raise RuntimeError("no actor on a public request")
        g.actor = actor
    return actor


def needed_role(view: Callable, method: str) -> Role:
    role = getattr(view, "_min_role", None)
    if role is not None:
        return role
    return Role.VIEWER if method in SAFE_METHODS else Role.RESPONDER


def enforce_access():
    """before_request: deny unless the view is public or the caller has the role."""
    # Reads begin deferred so they never queue behind writers (see app.database).
    set_write_intent(request.method not in SAFE_METHODS or request.path.startswith("/api/v1"))
    _refuse_nul()
    if request.endpoint is None or request.endpoint == "static":
        return None
    view = current_app.view_functions[request.endpoint]
    if getattr(view, "_public", False):
        _check_csrf(view)
        return None
    needed = needed_role(view, request.method)
    if request.blueprint == "api":
        header = request.headers.get("Authorization", "")
        scheme, _, secret = header.partition(" ")
        try:
            token = token_from_secret(secret.strip()) if scheme.lower() == "bearer" else None
        except TokenExpired as expired:
            db.session.commit()  # its audit entry
            response = json_error(401, expired.message)
            response.headers["WWW-Authenticate"] = ('Bearer realm="firebreak", error="invalid_token", '
                                                    'error_description="The token expired"')
            return response
        if token is None:
            response = json_error(401, "A valid API token is needed: send 'Authorization: Bearer <token>'.")
            response.headers["WWW-Authenticate"] = 'Bearer realm="firebreak"'
            return response
        if token.scope == TokenScope.READ and request.method not in SAFE_METHODS:
            return json_error(403, "This token may only read.")
        g.actor = Actor.for_token(token, ip=request.remote_addr)
        if not token.user.can(needed) and not _manages(view, token.user):
            more = ", or a manager of its team" if getattr(view, "_manages", None) else ""
            return json_error(403, f"This needs the {needed.value} role{more}.")
        return None
    if current_user.is_authenticated:
        _expire_session()
    if not current_user.is_authenticated:
        if is_json_path():
            return json_error(401, "Sign in first.")
        target = url_for("auth.login", next=request.full_path.rstrip("?") if request.method == "GET" else None)
        if htmx:
            response = make_response("", 401)
            response.headers["HX-Redirect"] = target
            return response
        return redirect(target)
    if not current_user.can(needed) and not _manages(view):
        more = ", or a manager of its team" if getattr(view, "_manages", None) else ""
        abort(403, description=f"This page needs the {needed.value} role{more}.")
    _check_csrf(view)
    return None


SESSION_ENDED = {
    "idle": "You were signed out after a while without activity. Sign in again.",
    "lifetime": "Your session has ended. Sign in again.",
}


def _expire_session() -> None:
    """Sign the browser out when its session is too old or was idle too long
    (app.auth.sessions); otherwise note that it was seen."""
    now = clock.now()
    why = sessions.ended(now)
    if why is None:
        sessions.seen(now)
        return
    logout_user()
    session.clear()
    flash(SESSION_ENDED[why], "info")


def _refuse_nul() -> None:
    """A NUL in the path, the query string or a form: 400 (app.nul says why). JSON
    bodies are the API's and ingestion's to judge; their forms are not read here, so
    a JSON event sent with curl's default form content type still reads whole."""
    query = request.query_string  # a NUL in the arguments is a raw one or %00 here
    found = nul.NUL in request.path or ((b"\x00" in query or b"%00" in query)
                                        and any(nul.NUL in key or nul.NUL in value
                                                for key, value in request.args.items(multi=True)))
    if not found and not is_json_path() and request.mimetype in FORM_TYPES:
        found = any(nul.NUL in key or nul.NUL in value for key, value in request.form.items(multi=True))
    if found:
        abort(400, description="The request holds a NUL character, which Firebreak does not store.")


def _check_csrf(view: Callable) -> None:
    """Forms and htmx posts carry the session's CSRF token (checked after sign-in
    and role, so an anonymous visitor is sent to sign in rather than told off)."""
    if (request.method not in SAFE_METHODS and not getattr(view, "_no_csrf", False)
            and current_app.config["WTF_CSRF_ENABLED"]):
        csrf.protect()


def json_error(status: int, message: str, *, errors: list[dict] | None = None, headers: dict | None = None):
    """A refusal on a JSON path: RFC 9457 problem details (app.api.problems)."""
    from app.api.problems import problem
    return problem(status, message, errors=errors, headers=headers)


def render(template: str, block: str | None = None, status: int = 200, **context):
    """The whole page, or only `block` when htmx asks for it.

    History-restore requests get the whole page. Responses say `Vary: HX-Request`
    so no cache hands a fragment to a full-page load.
    """
    if not isinstance(status, int):
        raise TypeError("render(status=…) is the HTTP status; name the template variable something else")
    if block and htmx and not htmx.history_restore_request:
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def see_other(endpoint: str, **values):
    """303 after a successful post, so a reload never repeats it."""
    return redirect(url_for(endpoint, **values), code=303)


def attempt(action: Callable[[], T]) -> tuple[T | None, DomainError | None]:
    """Run a change and commit it: `(result, None)`; or, when the service refuses it,
    roll it back: `(None, error)`. The one place a view turns a DomainError into a
    rollback; `submit` and `act_and_flash` are built on it, and views whose answer
    differs (htmx blocks, pages with a status of their own) use it directly."""
    try:
        result = action()
    except DomainError as error:
        db.session.rollback()
        return None, error
    db.session.commit()
    return result, None


def _message(success: str | Callable[[T], str | None] | None, result: T) -> str | None:
    return success(result) if callable(success) else success


def submit(form, action: Callable[[], T], *, success: str | Callable[[T], str | None] | None,
           to: str | Callable[[T], object], after: Callable[[], object] | None = None):
    """A posted form: when it validates, run `action()`, commit, call `after()`, flash
    `success` and answer 303 to the URL `to`; when the service refuses, roll back and
    show the error beside its field (app.forms.add_error).

    `success` and `to` may be functions of what the action returned (the new record),
    called after the commit; `to` may give a URL or the whole answer (an htmx block).
    Returns None whenever the form is to be shown again (a GET, invalid input, a
    refusal), so a view reads `return submit(...) or render(...)`.
    """
    if not form.validate_on_submit():
        return None
    result, refused = attempt(action)
    if refused is not None:
        add_error(form, refused)
        return None
    if after is not None:
        after()
    message = _message(success, result)
    if message:
        flash(message, "success")
    target = to(result) if callable(to) else to
    return redirect(target, code=303) if isinstance(target, str) else target


def act_and_flash(action: Callable[[], T], success: str | Callable[[T], str | None] | None = None) -> bool:
    """Run a change and commit it, flashing `success` (or what it makes of the action's
    result); or roll it back and flash the DomainError's message. For buttons whose
    answer is a redirect either way."""
    result, refused = attempt(action)
    if refused is not None:
        flash(refused.message, "error")
        return False
    message = _message(success, result)
    if message:
        flash(message, "success")
    return True
