"""Commands: `flask --app wsgi <command>`. Each is a thin wrapper over a service function."""
from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app

from app.audit.service import Actor
from app.auth import service as people
from app.auth.models import Role, User
from app.errors import DomainError
from app.extensions import db


def init_app(app: Flask) -> None:
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(create_user_command)
    app.cli.add_command(create_api_token_command)
    app.cli.add_command(check_paging_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(engine_group)
    from app.importers.cli import import_group
    app.cli.add_command(import_group)
    from app.config_as_code.cli import config_group
    app.cli.add_command(config_group)


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


@click.command("seed-demo")
@click.option("--password", help="Password for the demo admin (default: a new random one).")
@click.option("--if-empty", is_flag=True, help="Only when nobody exists yet (what `make run` uses).")
@click.option("--scale", type=click.Choice(["year", "large"]),
              help="Also a history of incidents: a year (about 600, for the demo) or large (100,000 over two "
                   "years with a million timeline events, for the benchmark).")
def seed_demo_command(password: str | None, if_empty: bool, scale: str | None) -> None:
    """Add the demo organisation: teams, people, services (idempotent)."""
    from app.demo import seed_demo
    if if_empty and db.session.scalar(sa.select(User.id).limit(1)) is not None:
        click.echo("The database has people in it; no demo data added.")
        return
    try:
        result = seed_demo(password=password)
    except DomainError as error:
        db.session.rollback()
        _fail(error.message)
    db.session.commit()
    made = ", ".join(f"{n} {k}" for k, n in result.created.items())
    click.echo(f"Demo organisation ready ({made} added).")
    if result.past_incidents:
        click.echo(f"Added {result.past_incidents} past incidents with their post-mortems and action items.")
    if scale:
        _seed_history(scale)
    if result.admin_password:
        login_file = Path(current_app.instance_path) / "demo-login.txt"
        login_file.parent.mkdir(parents=True, exist_ok=True)
        login_file.write_text(f"{result.admin_email} {result.admin_password}\n")
        login_file.chmod(0o600)
        click.echo(f"Demo sign-in: {result.admin_email} / {result.admin_password}")


def _seed_history(scale: str) -> None:
    """The history for insights, in bulk, with a progress bar."""
    from app import clock
    from app.database import write_intent
    from app.demo.insights import SCALES, already_seeded, seed_history
    if already_seeded():
        click.echo("The demo history is already there; nothing added.")
        return
    with write_intent(), click.progressbar(length=SCALES[scale].incidents, label="Writing incidents",
                                           show_pos=True, file=sys.stderr) as bar:
        counts = seed_history(scale, now=clock.now(), progress=bar.update)
    db.session.commit()
    with db.engine.connect() as conn:  # fresh statistics for the query planner
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    click.echo(f"History added: {counts.get('incidents', 0):,} incidents, {counts.get('incident_events', 0):,} "
               f"timeline events, {counts.get('postmortems', 0):,} post-mortems, {counts.get('action_items', 0):,} "
               f"action items, {counts.get('page_reads', 0):,} reads, {counts.get('survey_answers', 0):,} survey "
               f"answers, {counts.get('drills', 0)} drills.")


@click.command("create-user")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.RESPONDER.value, show_default=True)
@click.option("--password", help="At least 10 characters.")
@click.option("--phone", help="E.164, e.g. +15551230001: paged by SMS and voice once verified.")
@click.option("--phone-verified", is_flag=True,
              help="Vouch for the phone instead of sending the person a code (audited).")
@click.option("--time-zone", default="UTC", show_default=True)
def create_user_command(email, name, role, password, phone, phone_verified, time_zone) -> None:
    """Add a person. A phone becomes their SMS and voice contact methods; they are sent
    a code to verify it (the engine sends it), unless --phone-verified."""
    from app import clock
    from app.notify import contacts
    actor = Actor.system("command line")
    try:
        user = people.create_user(actor, email=email, name=name, role=role,
                                  password=password, phone=phone, time_zone=time_zone)
        contacts.add_phone(actor, user, user.phone, clock.now(), verified=phone_verified)
    except DomainError as error:
        db.session.rollback()
        _fail(error.message)
    db.session.commit()
    click.echo(f"Created {user.name} <{user.email}> ({user.role.value}).")
    if user.phone:
        click.echo(f"{user.phone} pages {user.name} by SMS and voice"
                   + (" (marked verified)." if phone_verified else
                      " once verified: a code is on its way, or an admin marks it verified on their page."))


@click.command("check-paging")
@click.option("--days", type=click.IntRange(1, 90), default=7, show_default=True,
              help="How far ahead to look at who is on call.")
def check_paging_command(days) -> None:
    """List everyone on call in the next DAYS days who cannot be paged (no verified
    contact method, SMS stopped with nothing else, or deactivated); exit 1 if anyone."""
    from datetime import timedelta

    from app import clock
    from app.oncall.queries import unpageable_on_call
    from app.oncall.service import all_schedules
    found = unpageable_on_call(all_schedules(), clock.now(), timedelta(days=days))
    for item in found:
        click.echo(item.sentence)
    if found:
        sys.exit(1)
    click.echo(f"Everyone on call in the next {days} days can be paged.")


@click.command("create-api-token")
@click.option("--email", required=True, help="The person the token acts as.")
@click.option("--name", required=True, help="What will use the token.")
@click.option("--scope", type=click.Choice(["write", "read"]), default="write", show_default=True)
@click.option("--expires", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The last day it works (YYYY-MM-DD, to its end in the person's time zone); default: never.")
def create_api_token_command(email, name, scope, expires) -> None:
    """Print a new API token for a person (shown only this once)."""
    user = people.find_user_by_email(email)
    if user is None:
        _fail(f"No person has the email {email}.")
    try:
        _, secret = people.create_api_token(Actor.system("command line"), user, name=name, scope=scope,
                                            expires_on=expires.date() if expires else None)
    except DomainError as error:
        db.session.rollback()
        _fail(error.message)
    db.session.commit()
    click.echo(secret)


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup_command(path: Path) -> None:
    """Write a consistent copy of the SQLite database to PATH, safe while the app runs."""
    url = db.engine.url
    if url.get_backend_name() != "sqlite":
        _fail("backup copies SQLite databases; for PostgreSQL use pg_dump.")
    source_path = url.database
    if not source_path or source_path == ":memory:":
        _fail("the database is in memory; there is nothing on disk to copy.")
    if path.exists():
        _fail(f"{path} exists; give a new path so no backup is overwritten.")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    target = sqlite3.connect(partial)
    try:
        # One step of the online backup API copies every page inside one read
        # transaction: under WAL that is a consistent snapshot and writers carry on.
        with target:
            source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")
        check = target.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        target.close()
        source.close()
    if check != "ok":
        partial.unlink(missing_ok=True)
        _fail(f"the copy failed its integrity check: {check}")
    partial.rename(path)
    click.echo(f"Backed up {source_path} to {path} ({path.stat().st_size:,} bytes).")


@click.group("engine")
def engine_group() -> None:
    """The engine: escalations, notifications, handovers, timeouts, reminders."""


@engine_group.command("run")
def engine_run_command() -> None:
    """Run the engine in the foreground until stopped (SIGTERM or Ctrl-C)."""
    from app.engine.runner import run_forever
    click.echo("Engine running; Ctrl-C stops it.")
    run_forever(current_app._get_current_object())


@engine_group.command("tick")
@click.option("--at", "at", help="Run the cycle as if the time were this (ISO 8601, e.g. 2026-11-27T03:12:00Z).")
def engine_tick_command(at: str | None) -> None:
    """Run one engine cycle now, or as if the time were --at."""
    from app import clock
    from app.alerts.ingest import parse_timestamp
    from app.engine.core import Engine
    from app.engine.jobs import all_jobs
    moment = None
    if at:
        moment = parse_timestamp(at)
        if moment is None:
            _fail(f"--at {at!r} is not an ISO 8601 time.")
    engine = Engine(all_jobs())
    if moment is not None:
        with clock.frozen_at(moment):
            report = engine.cycle()
    else:
        report = engine.cycle()
    engine.release()
    if not report.active:
        _fail("another engine holds the lease; nothing was done.")
    done = ", ".join(f"{count} {name}" for name, count in report.done.items()) or "nothing due"
    click.echo(f"Cycle at {report.at.isoformat()}: {done} ({report.elapsed_ms:.1f} ms).")
    for error in report.errors:
        click.echo(f"Error: {error}", err=True)
    if report.errors:
        sys.exit(1)
