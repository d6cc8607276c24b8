"""On-call pages: who is on call, schedules and their calendars, my shifts,
handovers, load, and the calendar feeds.

Thin views: parse, call `app.oncall.service`, render. Every action is a form post
answered with 303; with htmx, the calendar's quick actions are answered with the
schedule's live block, so who is on call changes in place.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, make_response, request, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from app import clock
from app.auth import permissions
from app.auth.forms import EmptyForm
from app.auth.models import Role, User
from app.errors import NotFound
from app.extensions import db, htmx
from app.forms import choices_from, record_id
from app.incidents.forms import from_local, to_local
from app.notify import reach
from app.oncall import compute, feeds, queries
from app.oncall import load as loads
from app.oncall import service as oncall
from app.oncall.forms import (
    CoverForm, FeedForm, HandoverNoteForm, HolidayForm, LayerForm, LoadForm, OverrideForm, ScheduleForm, SwapForm,
    TemporaryForm,
)
from app.oncall.models import CalendarFeed, Handover, Holiday, Schedule
from app.oncall.specs import load_spec
from app.templating import viewer_zone
from app.web import SOME_TEAM, act_and_flash, attempt, current_actor, public, render, requires, see_other, submit

bp = Blueprint("oncall", __name__)

FEED_TYPE = "text/calendar; charset=utf-8"


def _active_people() -> list[User]:
    return db.session.scalars(sa.select(User).where(User.active.is_(True)).order_by(User.name)).all()


def _people_choices() -> list[tuple[int, str]]:
    return [(u.id, u.name) for u in _active_people()]


# --- who is on call ---------------------------------------------------------------------

@bp.route("/oncall/")
@requires(Role.VIEWER)
def index():
    now = clock.now()
    rows = queries.on_call_now(oncall.all_schedules(), now)
    archived = [s for s in oncall.all_schedules(include_archived=True) if s.archived_at is not None]
    return render("oncall/index.html", rows=rows, now=now, warning_days=queries.GAP_WARNING.days, archived=archived)


# --- a schedule and its calendar ------------------------------------------------------------

def _calendar_args(source=None) -> tuple[str, date | None, str]:
    source = source if source is not None else request.args
    view = "month" if source.get("view") == "month" else "week"
    try:
        around = date.fromisoformat(source.get("day") or source.get("date") or "")
    except ValueError:
        around = None
    zone = "schedule" if source.get("zone") == "schedule" else "mine"
    return view, around, zone


def _live_context(schedule: Schedule, view: str, around: date | None, zone_choice: str) -> dict:
    now = clock.now()
    spec = load_spec(schedule, since=now - timedelta(days=62))
    zone = ZoneInfo(schedule.time_zone) if zone_choice == "schedule" else viewer_zone()
    around = around or compute.to_local(now, zone).date()
    (row,) = queries.on_call_now([schedule], now)
    me = current_user.id if current_user.is_authenticated else None
    cal = queries.calendar(schedule, spec, view=view, around=around, zone=zone, now=now, me=me)
    my_next = compute.next_shift_of(spec, me, now) if me else None
    state = f"{schedule.version}:{row.shift.start.isoformat() if row.shift else '-'}:{around.isoformat()}"
    changes = queries.upcoming_changes(schedule, now)
    return {"schedule": schedule, "row": row, "calendar": cal, "now": now, "view": view, "around": around,
            "zone_choice": zone_choice, "my_next": my_next, "state": state,
            "can_act": current_user.can(Role.RESPONDER),
            "cover_form": CoverForm(formdata=None), "swap_form": SwapForm(formdata=None),
            "poll": f"every {current_app.config['LIVE_POLL_SECONDS'] * 6}s",
            "unpageable": reach.unpageable(queries.people_on(schedule, now, changes)), **changes}


def _page_context(schedule: Schedule, view: str, around: date | None, zone_choice: str, **forms) -> dict:
    context = _live_context(schedule, view, around, zone_choice)
    now = context["now"]
    override_form = forms.pop("override_form", None)
    if override_form is None:
        zone = viewer_zone()
        start = to_local(now, zone)
        override_form = OverrideForm(formdata=None, user_id=current_user.id, starts_at=start,
                                     ends_at=start + timedelta(hours=4))
    override_form.user_id.choices = _people_choices()
    row = context["row"]
    on_call_me = row.shift is not None and row.shift.user_id == current_user.id
    note = oncall.pending_note(schedule, current_user.id) if on_call_me else None
    note_form = forms.pop("note_form", None) or HandoverNoteForm(formdata=None, text=note.text if note else "")
    context.update({
        "override_form": override_form, "note_form": note_form, "on_call_me": on_call_me,
        "feed_form": forms.pop("feed_form", None) or FeedForm(formdata=None, schedule_id=schedule.id),
        "remove_form": EmptyForm(formdata=None),
        "handovers": db.session.scalars(sa.select(Handover).where(Handover.schedule_id == schedule.id)
                                        .order_by(Handover.at.desc()).limit(5)).all(),
        "new_feed": forms.pop("new_feed", None),
        "names": queries.people_by_id(
            {o.user_id for o in context["overrides"]} | {s.first_user_id for s in context["swaps"]}
            | {s.second_user_id for s in context["swaps"]}),
    })
    return context


@bp.route("/schedules/<int:schedule_id>")
@requires(Role.VIEWER)
def show(schedule_id: int):
    schedule = oncall.get_schedule(schedule_id)
    view, around, zone_choice = _calendar_args()
    if htmx and request.args.get("state") is not None:
        context = _live_context(schedule, view, around, zone_choice)
        if request.args["state"] == context["state"]:
            response = make_response("", 204)
            response.headers["Cache-Control"] = "no-store"
            return response
        return render("oncall/show.html", "live", **context)
    return render("oncall/show.html", **_page_context(schedule, view, around, zone_choice))


def _after_action(schedule: Schedule, message: str | None, *, error: bool = False, source=None):
    """The live block for htmx (with the message on top), else 303 back to the page.

    A refusal is answered 200 too when htmx asks: htmx 2 swaps no 4xx answer, and
    the message must show where the person tapped.
    """
    view, around, zone_choice = _calendar_args(source if source is not None else request.form)
    if htmx:
        context = _live_context(schedule, view, around, zone_choice)
        context["message"] = (message, "error" if error else "success") if message else None
        return render("oncall/show.html", "live", **context)
    if message:
        flash(message, "error" if error else "success")
    args = {"view": view} if view != "week" else {}
    if around:
        args["date"] = around.isoformat()
    if zone_choice == "schedule":
        args["zone"] = "schedule"
    return see_other("oncall.show", schedule_id=schedule.id, **args)


@bp.route("/schedules/<int:schedule_id>/cover", methods=["POST"])
@requires(Role.RESPONDER)
def cover(schedule_id: int):
    """"I'll cover": the second tap on the calendar makes an override for me."""
    schedule = oncall.get_schedule(schedule_id)
    form = CoverForm()
    if not form.validate_on_submit():
        return _after_action(schedule, "That shift could not be read; reload the page.", error=True)
    override, refused = attempt(lambda: oncall.add_override(
        current_actor(), schedule, user_id=current_user.id, starts_at=form.starts_at.instant,
        ends_at=form.ends_at.instant, now=clock.now()))
    if refused:
        return _after_action(oncall.get_schedule(schedule_id), refused.message, error=True)
    until = override.ends_at.astimezone(viewer_zone()).strftime("%a %H:%M")
    return _after_action(schedule, f"You cover {schedule.name} until {until}.")


@bp.route("/schedules/<int:schedule_id>/swap", methods=["POST"])
@requires(Role.RESPONDER)
def swap(schedule_id: int):
    """"Swap with my next shift": I take this shift, its person takes my next one."""
    schedule = oncall.get_schedule(schedule_id)
    form = SwapForm()
    if not form.validate_on_submit():
        return _after_action(schedule, "That shift could not be read; reload the page.", error=True)
    swap, refused = attempt(lambda: oncall.swap_for_my_next(current_actor(), schedule, starts_at=form.starts_at.instant,
                                                            ends_at=form.ends_at.instant, now=clock.now()))
    if refused:
        return _after_action(oncall.get_schedule(schedule_id), refused.message, error=True)
    other = db.session.get(User, swap.first_user_id)
    return _after_action(schedule, f"Swapped: you take {other.name}'s shift, {other.name} takes yours.")


@bp.route("/schedules/<int:schedule_id>/overrides", methods=["POST"])
@requires(Role.RESPONDER)
def add_override(schedule_id: int):
    schedule = oncall.get_schedule(schedule_id)
    form = OverrideForm()
    form.user_id.choices = _people_choices()

    def add():
        starts_at, ends_at = form.window(viewer_zone())
        oncall.add_override(current_actor(), schedule, user_id=form.user_id.data, starts_at=starts_at,
                            ends_at=ends_at, note=form.note.data or "", now=clock.now())
    return submit(form, add, success="Override added.", to=url_for("oncall.show", schedule_id=schedule.id)) \
        or _schedule_page(schedule_id, override_form=form)


def _schedule_page(schedule_id: int, **forms):
    """The schedule's page again, 400, with the form that was refused."""
    view, around, zone_choice = _calendar_args()
    return render("oncall/show.html", status=400,
                  **_page_context(oncall.get_schedule(schedule_id), view, around, zone_choice, **forms))


def _remove(schedule_id: int, loader, remover, done: str):
    schedule = oncall.get_schedule(schedule_id)
    if EmptyForm().validate_on_submit():
        act_and_flash(lambda: remover(loader(schedule)),
                      lambda outcome: done if not isinstance(outcome, str) else f"{done.rstrip('.')} ({outcome}).")
    return see_other("oncall.show", schedule_id=schedule_id)


@bp.route("/schedules/<int:schedule_id>/overrides/<int:override_id>/remove", methods=["POST"])
@requires(Role.RESPONDER)
def remove_override(schedule_id: int, override_id: int):
    return _remove(schedule_id, lambda s: oncall.get_override(s, override_id),
                   lambda o: oncall.remove_override(current_actor(), o, clock.now()), "Override removed.")


@bp.route("/schedules/<int:schedule_id>/swaps/<int:swap_id>/remove", methods=["POST"])
@requires(Role.RESPONDER)
def remove_swap(schedule_id: int, swap_id: int):
    return _remove(schedule_id, lambda s: oncall.get_swap(s, swap_id),
                   lambda o: oncall.remove_swap(current_actor(), o, clock.now()), "Swap removed.")


@bp.route("/schedules/<int:schedule_id>/handover-note", methods=["POST"])
@requires(Role.RESPONDER)
def save_note(schedule_id: int):
    schedule = oncall.get_schedule(schedule_id)
    form = HandoverNoteForm()
    return submit(form, lambda: oncall.save_handover_note(current_actor(), schedule, form.text.data, clock.now()),
                  success="Handover note saved; it goes out at the shift change.",
                  to=url_for("oncall.show", schedule_id=schedule.id)) \
        or _schedule_page(schedule_id, note_form=form)


# --- the schedule editor (admins) ------------------------------------------------------------

def _schedule_form(form: ScheduleForm | None = None, **kwargs) -> ScheduleForm:
    form = form or ScheduleForm(**kwargs)
    form.team_id.choices = permissions.team_choices(current_user)
    return form


def _settings(form: ScheduleForm) -> dict:
    return {"name": form.name.data, "time_zone": (form.time_zone.data or "").strip(),
            "description": form.description.data or "", "team_id": form.team_id.data,
            "reminder_minutes": form.reminder_minutes.data or 0}


@bp.route("/schedules/new", methods=["GET", "POST"])
@requires(Role.ADMIN, manages=SOME_TEAM)
def create():
    form = _schedule_form()
    if request.method == "GET" and not form.time_zone.data:
        form.time_zone.data = current_user.time_zone
    return submit(form, lambda: oncall.create_schedule(current_actor(), now=clock.now(), **_settings(form)),
                  success=lambda schedule: f"Schedule {schedule.name} created. Add its first layer.",
                  to=lambda schedule: url_for("oncall.new_layer", schedule_id=schedule.id)) or render("oncall/form.html", form=form, schedule=None, status=400 if form.errors else 200)


def _edit_context(schedule: Schedule, form: ScheduleForm, temporary_form: TemporaryForm | None = None) -> dict:
    now = clock.now()
    people = _people_choices()
    if temporary_form is None:
        start = to_local(now, viewer_zone()).replace(minute=0) + timedelta(hours=1)
        temporary_form = TemporaryForm(formdata=None, starts_at=start, ends_at=start + timedelta(days=2))
    temporary_form.set_people(people)
    layers = []
    for layer in schedule.layers:
        current = oncall.current_version(layer, now)
        layers.append((layer, current, oncall.pending_versions(layer, now)))
    ids = {p for _, v, pending in layers for version in [v, *pending] if version for p in version.participant_ids}
    return {"form": form, "schedule": schedule, "layers": layers, "names": queries.people_by_id(ids),
            "temporary_form": temporary_form, "remove_form": EmptyForm(formdata=None),
            "temporaries": queries.upcoming_changes(schedule, now)["temporaries"], "now": now}


@bp.route("/schedules/<int:schedule_id>/edit", methods=["GET", "POST"])
@requires(Role.ADMIN, manages=(Schedule, "schedule_id"))
def edit(schedule_id: int):
    schedule = oncall.get_schedule(schedule_id)
    form = _schedule_form(obj=schedule) if request.method == "GET" else _schedule_form()
    return submit(form, lambda: oncall.update_schedule(current_actor(), schedule, now=clock.now(), **_settings(form)),
                  success="Schedule saved.", to=url_for("oncall.edit", schedule_id=schedule.id)) \
        or render("oncall/form.html", status=400 if form.errors else 200,
                  **_edit_context(oncall.get_schedule(schedule_id), form))


@bp.route("/schedules/<int:schedule_id>/archive", methods=["POST"])
@requires(Role.ADMIN, manages=(Schedule, "schedule_id"))
def archive(schedule_id: int):
    schedule = oncall.get_schedule(schedule_id)
    if EmptyForm().validate_on_submit() and not act_and_flash(
            lambda: oncall.archive_schedule(current_actor(), schedule, clock.now()),
            lambda _: f"Schedule {schedule.name} is archived; its history stays."):
        return see_other("oncall.edit", schedule_id=schedule_id)
    return see_other("oncall.index")


def _layer_page(schedule: Schedule, form: LayerForm, layer=None, status: int = 200):
    form.set_people(_people_choices())
    now = clock.now()
    current = oncall.current_version(layer, now) if layer else None
    started = current is not None and compute.to_utc(current.start_local, ZoneInfo(schedule.time_zone)) <= now
    return render("oncall/layer_form.html", form=form, schedule=schedule, layer=layer, started=started,
                  status=status)


@bp.route("/schedules/<int:schedule_id>/layers/new", methods=["GET", "POST"])
@requires(Role.ADMIN, manages=(Schedule, "schedule_id"))
def new_layer(schedule_id: int):
    schedule = oncall.get_schedule(schedule_id)
    form = LayerForm()
    form.set_people(_people_choices())
    if request.method == "GET":
        form.start_date.data = compute.to_local(clock.now(), ZoneInfo(schedule.time_zone)).date()
        if schedule.layers:
            form.name.data = f"Layer {len(schedule.layers) + 1}"
    return submit(form, lambda: oncall.add_layer(
        current_actor(), schedule, name=form.name.data,
        start_date=form.start_date.data or compute.to_local(clock.now(), ZoneInfo(schedule.time_zone)).date(),
        now=clock.now(), **form.rotation()), success="Layer added.", to=url_for("oncall.edit", schedule_id=schedule.id)) \
        or _layer_page(oncall.get_schedule(schedule_id), form, status=400 if form.errors else 200)


@bp.route("/schedules/<int:schedule_id>/layers/<int:layer_id>/edit", methods=["GET", "POST"])
@requires(Role.ADMIN, manages=(Schedule, "schedule_id"))
def edit_layer(schedule_id: int, layer_id: int):
    schedule = oncall.get_schedule(schedule_id)
    layer = oncall.get_layer(schedule, layer_id)
    if request.method == "GET":
        form = LayerForm(formdata=None, name=layer.name)
        versions = oncall.pending_versions(layer, clock.now()) or [oncall.current_version(layer, clock.now())]
        form.fill(versions[-1])
    else:
        form = LayerForm()
    form.set_people(_people_choices())

    def saved(version) -> str:
        if version is None:
            return "Saved."
        when = version.start_local.strftime("%a %d %b %H:%M")
        return f"Saved. The new rotation starts {when} ({schedule.time_zone}); until then nothing changes."
    if done := submit(form, lambda: oncall.change_layer(current_actor(), layer, name=form.name.data, now=clock.now(),
                                                        **form.rotation()),
                      success=saved, to=url_for("oncall.edit", schedule_id=schedule.id)):
        return done
    schedule = oncall.get_schedule(schedule_id)
    return _layer_page(schedule, form, oncall.get_layer(schedule, layer_id), status=400 if form.errors else 200)


@bp.route("/schedules/<int:schedule_id>/layers/<int:layer_id>/remove", methods=["POST"])
@requires(Role.ADMIN, manages=(Schedule, "schedule_id"))
def remove_layer(schedule_id: int, layer_id: int):
    schedule = oncall.get_schedule(schedule_id)
    layer = oncall.get_layer(schedule, layer_id)
    if EmptyForm().validate_on_submit():
        oncall.remove_layer(current_actor(), layer, clock.now())
        db.session.commit()
        flash("Layer removed.", "success")
    return see_other("oncall.edit", schedule_id=schedule_id)


@bp.route("/schedules/<int:schedule_id>/layers/<int:layer_id>/move", methods=["POST"])
@requires(Role.ADMIN, manages=(Schedule, "schedule_id"))
def move_layer(schedule_id: int, layer_id: int):
    schedule = oncall.get_schedule(schedule_id)
    layer = oncall.get_layer(schedule, layer_id)
    if EmptyForm().validate_on_submit():
        oncall.move_layer(current_actor(), layer, up=request.form.get("direction") == "up", now=clock.now())
        db.session.commit()
    return see_other("oncall.edit", schedule_id=schedule_id)


@bp.route("/schedules/<int:schedule_id>/temporary", methods=["POST"])
@requires(Role.ADMIN, manages=(Schedule, "schedule_id"))
def add_temporary(schedule_id: int):
    schedule = oncall.get_schedule(schedule_id)
    form = TemporaryForm()
    form.set_people(_people_choices())

    def add():
        zone = viewer_zone()
        oncall.add_temporary(current_actor(), schedule, name=form.name.data,
                             starts_at=from_local(form.starts_at.data, zone), ends_at=from_local(form.ends_at.data, zone),
                             participant_ids=form.participant_ids(), shift_unit=form.shift_unit.data,
                             shift_length=form.shift_length.data, now=clock.now())
    if done := submit(form, add, success="Temporary schedule added.",
                      to=url_for("oncall.edit", schedule_id=schedule.id)):
        return done
    schedule = oncall.get_schedule(schedule_id)
    return render("oncall/form.html", status=400, **_edit_context(schedule, _schedule_form(obj=schedule), form))


@bp.route("/schedules/<int:schedule_id>/temporary/<int:temporary_id>/remove", methods=["POST"])
@requires(Role.ADMIN, manages=(Schedule, "schedule_id"))
def remove_temporary(schedule_id: int, temporary_id: int):
    schedule = oncall.get_schedule(schedule_id)
    temporary = oncall.get_temporary(schedule, temporary_id)
    if EmptyForm().validate_on_submit():
        act_and_flash(lambda: oncall.remove_temporary(current_actor(), temporary, clock.now()),
                      "Temporary schedule removed.")
    return see_other("oncall.edit", schedule_id=schedule_id)


# --- my shifts, holidays, calendar links ---------------------------------------------------

def _mine_context(holiday_form: HolidayForm | None = None, feed_form: FeedForm | None = None,
                  new_feed: str | None = None) -> dict:
    now = clock.now()
    schedules = oncall.all_schedules()
    shifts = queries.shifts_of(current_user, schedules, now, now + timedelta(days=28))
    holiday_form = holiday_form or HolidayForm(formdata=None, user_id=current_user.id)
    holiday_form.user_id.choices = _people_choices()
    on_call_now = [m for m in shifts if m.shift.contains(now)]
    stmt = sa.select(Holiday).where(Holiday.ends_at > now).order_by(Holiday.starts_at)
    if not current_user.can(Role.ADMIN):
        stmt = stmt.where(Holiday.user_id == current_user.id)
    return {"shifts": shifts, "now": now, "on_call_now": on_call_now, "holidays": db.session.scalars(stmt).all(),
            "holiday_form": holiday_form, "feed_form": feed_form or FeedForm(formdata=None),
            "feeds": oncall.feeds_of(current_user), "new_feed": new_feed, "remove_form": EmptyForm(formdata=None),
            "note_forms": {m.schedule.id: _note_form(m.schedule) for m in on_call_now},
            "is_admin": current_user.can(Role.ADMIN), "zone": viewer_zone()}


def _note_form(schedule: Schedule) -> HandoverNoteForm:
    note = oncall.pending_note(schedule, current_user.id)
    return HandoverNoteForm(formdata=None, text=note.text if note else "")


@bp.route("/oncall/me")
@requires(Role.VIEWER)
def mine():
    return render("oncall/mine.html", **_mine_context())


@bp.route("/oncall/holidays", methods=["POST"])
@requires(Role.RESPONDER)
def add_holiday():
    form = HolidayForm()
    form.user_id.choices = _people_choices()

    def add():
        person = current_user if not current_user.can(Role.ADMIN) or not form.user_id.data else \
            db.session.get(User, form.user_id.data)
        oncall.add_holiday(current_actor(), person, first_day=form.first_day.data, last_day=form.last_day.data,
                           note=form.note.data or "", now=clock.now())
        return person
    return submit(form, add, success=lambda person: f"Days off recorded for {person.name}; rotations skip them.",
                  to=url_for("oncall.mine")) or render("oncall/mine.html", status=400, **_mine_context(holiday_form=form))


@bp.route("/oncall/holidays/<int:holiday_id>/remove", methods=["POST"])
@requires(Role.RESPONDER)
def remove_holiday(holiday_id: int):
    holiday = db.session.get(Holiday, holiday_id)
    if holiday is None:
        raise NotFound("No such holiday.")
    if EmptyForm().validate_on_submit():
        act_and_flash(lambda: oncall.remove_holiday(current_actor(), holiday, clock.now()), "Holiday removed.")
    return see_other("oncall.mine")


@bp.route("/oncall/feeds", methods=["POST"])
@requires(Role.RESPONDER)
def create_feed():
    """A calendar link for a schedule (schedule_id given) or for my own shifts."""
    form = FeedForm()
    schedule = None
    if form.schedule_id.data:
        ident = record_id(form.schedule_id.data)
        schedule = oncall.get_schedule(ident) if ident else None
        if schedule is None:
            raise NotFound("No such schedule.")

    def shown(made) -> object:
        """The link is shown on this one answer only."""
        link = feeds.feed_url(*made)
        if schedule:
            view, around, zone_choice = _calendar_args()
            return render("oncall/show.html", **_page_context(schedule, view, around, zone_choice, new_feed=link))
        return render("oncall/mine.html", **_mine_context(new_feed=link))
    if done := submit(form, lambda: oncall.create_feed(
            current_actor(), schedule=schedule, person=None if schedule else current_user._get_current_object(),
            reminder_minutes=form.reminder_minutes.data, now=clock.now()), success=None, to=shown):
        return done
    if schedule:
        view, around, zone_choice = _calendar_args()
        return render("oncall/show.html", status=400,
                      **_page_context(schedule, view, around, zone_choice, feed_form=form))
    return render("oncall/mine.html", status=400, **_mine_context(feed_form=form))


@bp.route("/oncall/feeds/<int:feed_id>/revoke", methods=["POST"])
@requires(Role.RESPONDER)
def revoke_feed(feed_id: int):
    feed = db.session.get(CalendarFeed, feed_id)
    if feed is None:
        raise NotFound("No such calendar link.")
    if EmptyForm().validate_on_submit():
        act_and_flash(lambda: oncall.revoke_feed(current_actor(), feed, clock.now()),
                      "Calendar link revoked; calendars using it stop updating.")
    return see_other("oncall.mine")


# --- handovers and load ----------------------------------------------------------------------

@bp.route("/oncall/handovers")
@requires(Role.VIEWER)
def handovers():
    schedules = oncall.all_schedules(include_archived=True)
    stmt = sa.select(Handover).options(selectinload(Handover.schedule), selectinload(Handover.outgoing),
                                       selectinload(Handover.incoming)).order_by(Handover.at.desc())
    chosen = request.args.get("schedule_id", type=record_id)
    if chosen:
        stmt = stmt.where(Handover.schedule_id == chosen)
    page = db.paginate(stmt, per_page=50, error_out=False)
    return render("oncall/handovers.html", page=page, schedules=schedules, chosen=chosen)


@bp.route("/oncall/load")
@requires(Role.VIEWER)
def load():
    form = LoadForm(request.args)
    form.schedule_id.choices = choices_from(oncall.all_schedules(include_archived=True), blank="All schedules")
    zone = viewer_zone()
    today = compute.to_local(clock.now(), zone).date()
    if not form.validate() or not form.end.data or not form.start.data:
        for field in (form.start, form.end):
            if field.errors:  # said beside the field; the report is for the default period
                field.data = None
        form.start.data = form.start.data or today - timedelta(days=28)
        form.end.data = form.end.data or today
    if form.end.data < form.start.data:
        form.start.data, form.end.data = form.end.data, form.start.data
    if (form.end.data - form.start.data).days > 366:
        form.start.data = form.end.data - timedelta(days=366)
    start = compute.to_utc(datetime.combine(form.start.data, time()), zone)
    end = compute.to_utc(datetime.combine(form.end.data + timedelta(days=1), time()), zone)
    schedules = oncall.schedules_during(start)  # archived ones too, while they were in use
    chosen = [s for s in schedules if s.id == form.schedule_id.data] if form.schedule_id.data else schedules
    result = loads.report(chosen, start, end)
    return render("oncall/load.html", form=form, report=result, chart=loads.chart(result.people),
                  categories=loads.CATEGORIES, labels=loads.LABELS, schedules=schedules)


# --- calendar feeds (public: the token is the key) -------------------------------------------

def _feed_response(body: bytes, filename: str):
    response = make_response(body)
    response.headers["Content-Type"] = FEED_TYPE
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.route("/schedules/<int:schedule_id>/oncall.ics")
@public
def schedule_feed(schedule_id: int):
    """The schedule's final shifts as iCalendar; `?token=` is a calendar link's secret."""
    now = clock.now()
    feed = oncall.feed_for(request.args.get("token"), schedule_id=schedule_id, now=now)
    if feed is None:
        abort(404)
    schedule = feed.schedule
    body = feeds.schedule_calendar(schedule, load_spec(schedule, since=now - feeds.PAST), now=now,
                                   reminder_minutes=feed.reminder_minutes)
    db.session.commit()  # last_used_at
    return _feed_response(body, f"oncall-{schedule.id}.ics")


@bp.route("/people/<int:user_id>/oncall.ics")
@public
def person_feed(user_id: int):
    """One person's shifts on every schedule as iCalendar; `?token=` as above."""
    now = clock.now()
    feed = oncall.feed_for(request.args.get("token"), user_id=user_id, now=now)
    if feed is None:
        abort(404)
    body = feeds.person_calendar(feed.user, oncall.all_schedules(), now=now, reminder_minutes=feed.reminder_minutes)
    db.session.commit()
    return _feed_response(body, f"oncall-person-{user_id}.ics")

