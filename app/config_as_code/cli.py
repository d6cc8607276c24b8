"""`flask --app wsgi config export|apply`: thin wrappers over export and plan."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from app import clock
from app.config_as_code import plan as planning
from app.config_as_code.document import ConfigError, parse
from app.config_as_code.export import export_text
from app.extensions import db


@click.group("config")
def config_group() -> None:
    """Configuration as code: export it as YAML, apply a file."""


@config_group.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (default: standard output).")
def export_command(output: Path | None) -> None:
    """Write all configuration as one YAML document (no secrets)."""
    text = export_text(clock.now())
    db.session.rollback()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {output}.", err=True)


@config_group.command("apply")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print the plan and write nothing.")
@click.option("--prune", is_flag=True, help="Also delete what the file leaves out.")
def apply_command(file: Path, dry_run: bool, prune: bool) -> None:
    """Make the configuration what FILE says: print the plan, then apply it in one
    transaction."""
    now = clock.now()
    try:
        doc, lines = parse(file.read_text(encoding="utf-8"))
        planning.check_references(doc, lines, prune=prune)
        plan = planning.make_plan(doc, lines, now, prune=prune)
        click.echo(plan.text())
        if not plan.changes:
            db.session.rollback()
            return
        # A dry run applies too, so the services' own checks run, and rolls it all back.
        planning.apply(plan, lines, now)
    except ConfigError as error:
        db.session.rollback()
        click.echo(f"Error: {error}", err=True)
        click.echo("Nothing was changed.", err=True)
        sys.exit(1)
    except UnicodeDecodeError:
        db.session.rollback()
        click.echo("Error: the file is not UTF-8 text.", err=True)
        sys.exit(1)
    if dry_run:
        db.session.rollback()
        click.echo("Dry run: nothing was written.")
        return
    db.session.commit()
    click.echo("Applied.")
