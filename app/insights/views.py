"""Insights pages: the dashboard, the definitions, the CSV export, the monthly
report (print and PDF), team learning pages, drills, the review schedule, and the
anonymous survey behind its one-use link.

Reading pages are plain GETs (the dashboard's filters are a GET form; htmx swaps
just the results). Changes are form posts answered with 303.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, flash, render_template, request, url_for
from flask_login import current_user

from app import clock
from app import pdf as pdfs
from app.auth.models import Role, Team, User
from app.errors import DomainError, NotFound
from app.extensions import db
from app.forms import add_error, choices, choices_from, record_id
from app.incidents.models import Incident
from app.insights import charts, drills, export, metrics, reads, report, reviews, surveys, teams
from app.insights.definitions import BY_KEY, DEFINITIONS, WHO_COUNTS
from app.insights.forms import AssessForm, DrillForm, FilterForm, ReviewedForm, ScheduleForm, SurveyForm, filters_from
from app.insights.periods import from_preset
from app.services.models import Service
from app.templating import viewer_zone
from app.web import current_actor, public, render, requires, see_other, submit

bp = Blueprint("insights", __name__)
bp.after_app_request(reads.note_read)


def _now_zone() -> tuple[datetime, object]:
    return clock.now(), viewer_zone()


def _filter_form() -> FilterForm:
    form = FilterForm(request.args)
    teams = db.session.scalars(sa.select(Team).order_by(Team.name))
    services = db.session.scalars(sa.select(Service).order_by(Service.name))
    form.team.choices = choices([("", "All teams"), *[(str(t.id), t.name) for t in teams]])
    form.service.choices = choices([("", "All services"), *[(str(s.id), s.name) for s in services]])
    return form


def _filters():
    form = _filter_form()
    now, zone = _now_zone()
    f, problems = filters_from(form, zone, now.astimezone(zone).date())
    return form, f, problems, now


@bp.route("/insights/")
@requires(Role.VIEWER)
def dashboard():
    form, f, problems, now = _filters()
    data = metrics.dashboard(f, now)
    args = {k: v for k, v in request.args.items() if k in form.data and v}
    return render("insights/dashboard.html", "results", form=form, f=f, d=data, problems=problems,
                  charts=charts.for_dashboard(data), defs=BY_KEY, args=args, now=now)


@bp.route("/insights/definitions")
@requires(Role.VIEWER)
def definitions():
    return render("insights/definitions.html", definitions=DEFINITIONS, who_counts=WHO_COUNTS)


@bp.route("/insights/incidents.csv")
@requires(Role.VIEWER)
def export_csv():
    _, f, _, now = _filters()
    app = current_app._get_current_object()

    response = Response(export.csv_lines(app, f, now), mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="incidents-{f.period.first_day.isoformat()}-{f.period.last_day.isoformat()}.csv"')
    return response


# --- the monthly report -------------------------------------------------------------------

def _report() -> tuple[report.Report, str]:
    now, zone = _now_zone()
    year, number = report.month_of(request.args.get("month"), now.astimezone(zone).date())
    team = None
    if record_id(request.args.get("team")):
        team = db.session.get(Team, record_id(request.args["team"]))
    paper = pdfs.choose_paper(request.args.get("paper", ""), getattr(current_user, "time_zone", ""))
    found = report.monthly(year, number, zone, now, team_id=team.id if team else None,
                           team_name=team.name if team else None)
    return found, paper


def _report_html(found: report.Report, paper: str, *, for_pdf: bool) -> str:
    month_arg = f"{found.period.first_day:%Y-%m}"
    return render_template("insights/report.html", r=found, paper=paper, for_pdf=for_pdf, month_arg=month_arg,
                           charts=charts.for_dashboard(found.current), defs=BY_KEY, printed_at=clock.now(),
                           team_arg=request.args.get("team", ""), teams=db.session.scalars(
                               sa.select(Team).order_by(Team.name)).all())


@bp.route("/insights/report")
@requires(Role.VIEWER)
def monthly_report():
    found, paper = _report()
    response = Response(_report_html(found, paper, for_pdf=False), mimetype="text/html")
    response.vary.add("HX-Request")
    return response


@bp.route("/insights/report.pdf")
@requires(Role.VIEWER)
def monthly_report_pdf():
    found, paper = _report()
    return pdfs.download(_report_html(found, paper, for_pdf=True), report.PRINT_CSS, paper=paper,
                        filename=f"insights-{found.period.first_day:%Y-%m}.pdf")


# --- teams ----------------------------------------------------------------------------------

@bp.route("/insights/teams")
@requires(Role.VIEWER)
def team_index():
    now, zone = _now_zone()
    today = now.astimezone(zone).date()
    found = db.session.scalars(sa.select(Team).order_by(Team.name)).all()
    summary = {t.id: (len(teams.overdue_items(t, today)), len(teams.recurring(t, now))) for t in found}
    return render("insights/teams.html", teams=found, summary=summary)


@bp.route("/insights/teams/<int:team_id>")
@requires(Role.VIEWER)
def team(team_id: int):
    found = db.session.get(Team, team_id)
    if found is None:
        raise NotFound("There is no such team.")
    now, zone = _now_zone()
    period = from_preset("90d", now.astimezone(zone).date(), zone)
    data = teams.page(found, period, now)
    return render("insights/team.html", t=data, d=data.dashboard, charts=charts.for_dashboard(data.dashboard),
                  defs=BY_KEY, now=now)


# --- drills -----------------------------------------------------------------------------------

@bp.route("/insights/drills")
@requires(Role.VIEWER)
def drill_index():
    now, zone = _now_zone()
    period = from_preset("12m", now.astimezone(zone).date(), zone)
    return render("insights/drills.html", drills=drills.recent(), training=metrics.training(metrics.Filters(period)),
                  period=period)


def _drill_form(form: DrillForm) -> DrillForm:
    active = db.session.scalars(sa.select(Service).where(Service.active.is_(True)).order_by(Service.name)).all()
    form.service_id.choices = choices_from(active)
    return form


@bp.route("/insights/drills/new", methods=["GET", "POST"])
@requires(Role.RESPONDER)
def new_drill():
    form = _drill_form(DrillForm())
    return submit(form, lambda: drills.start_drill(current_actor(), service=db.session.get(Service, form.service_id.data),
                                                   title=form.title.data, severity=form.severity.data,
                                                   scenario=form.scenario.data or "", now=clock.now()),
                  success=lambda incident: f"Drill #{incident.id} started: it runs like a real incident and counts "
                                           "only under training.",
                  to=lambda incident: url_for("incidents.show", incident_id=incident.id)) or render("insights/drill_new.html", form=form, status=400 if form.errors else 200)


def _drill(incident_id: int) -> Incident:
    incident = db.session.get(Incident, incident_id)
    if incident is None or not incident.is_exercise:
        raise NotFound("There is no drill with that number.")
    return incident


def _drill_page(incident: Incident, failed: AssessForm | None = None, status: int = 200):
    people = drills.participants(incident)
    found = drills.assessments(incident)
    forms = {}
    for person in people:
        if failed is not None and failed.user_id.data == person.id:
            forms[person.id] = failed
        else:
            row = found.get(person.id)
            forms[person.id] = AssessForm(formdata=None, user_id=person.id, score=row.score if row else None,
                                          note=row.note if row else "")
        forms[person.id].score.id = f"score-{person.id}"
        forms[person.id].note.id = f"note-{person.id}"
    return render("insights/drill.html", incident=incident, people=people, assessments=found, forms=forms,
                  can_assess=current_user.can(Role.RESPONDER), status=status)


@bp.route("/insights/drills/<int:incident_id>")
@requires(Role.VIEWER)
def drill(incident_id: int):
    return _drill_page(_drill(incident_id))


@bp.route("/insights/drills/<int:incident_id>/assess", methods=["POST"])
@requires(Role.RESPONDER)
def assess(incident_id: int):
    incident = _drill(incident_id)
    form = AssessForm()
    if form.validate_on_submit():
        person = db.session.get(User, form.user_id.data)
        if person is None:
            raise NotFound("There is no such person.")
        if done := submit(form, lambda: drills.assess(current_actor(), incident, person, clock.now(),
                                                      score=form.score.data, note=form.note.data),
                          success=f"{person.name}: {form.score.data} saved.",
                          to=url_for("insights.drill", incident_id=incident.id, _anchor=f"person-{person.id}")):
            return done
    return _drill_page(incident, form, status=400)


# --- the review schedule ------------------------------------------------------------------------

def _reviews_page(failed: tuple[str, str, str, object] | None = None, status: int = 200):
    today = clock.now().astimezone(viewer_zone()).date()
    groups = reviews.schedule()
    people = db.session.scalars(sa.select(User).where(User.active.is_(True)).order_by(User.name)).all()
    owner_choices = choices([("", "Nobody"), *[(str(p.id), p.name) for p in people]])
    forms = {}
    for group in groups:
        for item in group.items:
            key = (item.kind, item.ref)
            schedule_form = ScheduleForm(formdata=None, owner_id=str(item.owner.id) if item.owner else "",
                                         next_review_on=item.next_review_on)
            reviewed_form = ReviewedForm(formdata=None)
            if failed and failed[:2] == key:
                if failed[2] == "schedule":
                    schedule_form = failed[3]
                else:
                    reviewed_form = failed[3]
            schedule_form.owner_id.choices = owner_choices
            slug = f"{item.kind}-{item.ref}"
            schedule_form.owner_id.id, schedule_form.next_review_on.id = f"owner-{slug}", f"next-{slug}"
            reviewed_form.next_review_on.id, reviewed_form.note.id = f"reviewed-next-{slug}", f"reviewed-note-{slug}"
            forms[key] = (schedule_form, reviewed_form)
    return render("insights/reviews.html", groups=groups, forms=forms, today=today,
                  is_admin=current_user.can(Role.ADMIN), status=status)


@bp.route("/insights/reviews")
@requires(Role.VIEWER)
def review_index():
    return _reviews_page()


@bp.route("/insights/reviews/<kind>/<ref>/schedule", methods=["POST"])
@requires(Role.ADMIN)
def review_schedule(kind: str, ref: str):
    form = ScheduleForm()
    form.owner_id.choices = []
    if form.validate_on_submit():
        owner = form.owner_id.data
        try:
            reviews.set_schedule(current_actor(), kind, ref, clock.now(),
                                 owner_id=record_id(owner),
                                 next_review_on=form.next_review_on.data)
        except DomainError as error:
            db.session.rollback()
            if isinstance(error, NotFound):
                raise
            add_error(form, error)
        else:
            db.session.commit()
            flash("Review schedule saved.", "success")
            return see_other("insights.review_index", _anchor=f"review-{kind}-{ref}")
    reviews.source(kind).item(ref)
    return _reviews_page((kind, ref, "schedule", form), status=400)


@bp.route("/insights/reviews/<kind>/<ref>/reviewed", methods=["POST"])
@requires(Role.RESPONDER)
def review_done(kind: str, ref: str):
    form = ReviewedForm()
    if form.validate_on_submit():
        try:
            item = reviews.record_review(current_actor(), kind, ref, clock.now(),
                                         next_review_on=form.next_review_on.data, note=form.note.data or "")
        except DomainError as error:
            db.session.rollback()
            if isinstance(error, NotFound) or error.status == 403:
                raise
            add_error(form, error)
        else:
            db.session.commit()
            flash(f"Review recorded; the next is due {item.next_review_on.isoformat()}.", "success")
            return see_other("insights.review_index", _anchor=f"review-{kind}-{ref}")
    reviews.source(kind).item(ref)
    return _reviews_page((kind, ref, "reviewed", form), status=400)


# --- the anonymous survey (public: the link is the key) ----------------------------------------------

@bp.route("/survey/<token>", methods=["GET", "POST"])
@public
def survey(token: str):
    now = clock.now()
    try:
        invitation = surveys.invitation_for(token, now)
    except NotFound as error:
        return render("insights/survey.html", closed=error.message, status=404)
    incident = db.session.get(Incident, invitation.incident_id)
    form = SurveyForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            surveys.answer(token, now, blameless=form.blameless.data, safety=form.safety.data)
        except NotFound as error:
            db.session.rollback()
            return render("insights/survey.html", closed=error.message, status=404)
        except DomainError as error:
            db.session.rollback()
            add_error(form, error)
        else:
            db.session.commit()
            return see_other("insights.survey_thanks")
    return render("insights/survey.html", form=form, incident=incident, token=token,
                  status=400 if form.errors else 200)


@bp.route("/survey/thanks")
@public
def survey_thanks():
    return render("insights/survey.html", thanks=True)
