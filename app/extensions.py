"""Extensions, created unbound; `create_app` binds them."""
from __future__ import annotations

from flask_htmx import HTMX
import flask_limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData

# Named constraints, so Alembic can alter and drop them on SQLite (batch mode) and
# PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
migrate = Migrate(render_as_batch=True, compare_type=True)
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = HTMX()


class Limiter(flask_limiter.Limiter):
    """Flask-Limiter, checking limits only on the views decorated with one.

    Its before_request hook looks for default, application, blueprint and meta limits
    on every request, about 70 µs each (a sixth of an ingested event's cost). Firebreak
    sets none of those, and a decorated view checks its own limit in its wrapper, so
    `only_decorated` takes the hook out again once every blueprint is registered;
    should such limits ever be set, it stays."""

    def only_decorated(self, app) -> None:
        manager = self.limit_manager
        if manager.default_limits or manager.application_limits or self._meta_limits or manager._blueprint_limits:
            return
        hooks = app.before_request_funcs.get(None, [])
        if self._check_request_limit in hooks:
            hooks.remove(self._check_request_limit)


limiter = Limiter(key_func=get_remote_address, default_limits=[])
