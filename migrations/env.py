"""Alembic environment for Flask-Migrate: the app's engine and metadata, batch mode
(so ALTER TABLE works on SQLite), and type comparison for autogenerate."""
import logging
from contextlib import contextmanager
from logging.config import fileConfig

from alembic import context
from flask import current_app

config = context.config
if config.config_file_name:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

migrate_ext = current_app.extensions["migrate"]
engine = migrate_ext.db.engine  # not db.get_engine(): deprecated in Flask-SQLAlchemy 3
config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
target_metadata = migrate_ext.db.metadata


def render_item(type_, obj, autogen_context):
    """Write the app's column types as plain SQLAlchemy types, so a migration never
    imports application code that may change after it was written."""
    from app.database import UTCDateTime
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


def run_migrations_offline():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, **migrate_ext.configure_args)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    def process_revision_directives(context, revision, directives):
        # No empty migration when autogenerate finds nothing to do.
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    from app.database import include_object
    conf_args = dict(migrate_ext.configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    conf_args.setdefault("render_item", render_item)
    conf_args.setdefault("include_object", include_object)
    with engine.connect() as connection:
        with _sqlite_foreign_keys_off(connection):
            context.configure(connection=connection, target_metadata=target_metadata, **conf_args)
            with context.begin_transaction():
                context.run_migrations()
                _check_foreign_keys(connection)


@contextmanager
def _sqlite_foreign_keys_off(connection):
    """On SQLite, foreign keys are off while migrations run, and on again after.

    Batch mode rebuilds a table: copy it, DROP the old one, rename the copy. With
    foreign keys on, that DROP first deletes every row, which fires the ON DELETE
    actions of every table referring to it (CASCADE empties team_memberships,
    SET NULL blanks audit_log.actor_user_id) or fails the migration outright with
    "FOREIGN KEY constraint failed" -- on any database that has data. The pragma
    is a no-op inside a transaction, so it is set on the raw connection before the
    migration's transaction begins; `_check_foreign_keys` proves nothing dangles
    before that transaction commits.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.driver_connection
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def _check_foreign_keys(connection):
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"the migration left rows whose foreign keys point nowhere: {broken[:10]}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
