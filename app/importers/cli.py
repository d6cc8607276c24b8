"""`flask --app wsgi import pagerduty | opsgenie | grafana-oncall`: each vendor's
module adds its command to `import_group` (app.importers.<vendor>)."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from app.errors import DomainError
from app.importers.core import Report

import_group = AppGroup("import", help="Bring configuration in from PagerDuty, Opsgenie or Grafana OnCall.")


def finish(produce) -> None:
    """Run an importer (`produce()` gives its Report) and print the report, or the
    error as a ClickException (nothing is written then)."""
    try:
        report: Report = produce()
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(report.render(), nl=False)


def _load_vendors() -> None:
    """Each vendor module in this package adds its command when imported."""
    import importlib
    import pkgutil

    import app.importers as package
    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in ("cli", "core", "models"):
            importlib.import_module(f"app.importers.{module.name}")


_load_vendors()
