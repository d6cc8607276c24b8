"""Framework patches: the few places Firebreak replaces what Flask, Flask-Limiter or
Python do by default, for speed. Each is here and nowhere else, says why, names the
upstream behaviour it relies on (tests/test_patches.py fails if that changes), and
can be turned off.

FRAMEWORK_PATCHES says which are on: `all` (the default), `none`, or a comma-separated
list of names from PATCHES. What each gains is measured by `python -m bench patches`
and `python -m bench statuspage` (docs/benchmarks.md, "Framework patches"); a patch
that gains too little there is removed, not kept (a cookie-less session interface and
a one-pass security-header adder were, for that reason).
"""
from __future__ import annotations

import gc
import os
import weakref

from flask import Flask
from werkzeug.routing import Rule

PATCHES = {
    "ensure_sync": "Flask asks whether each hook and view is a coroutine on every request; "
                   "remember the answer for plain functions",
    "limiter": "Flask-Limiter looks for default, application and blueprint limits before every "
               "request; Firebreak sets none, and decorated views check their own",
    "gc_freeze": "a gunicorn worker freezes what it has loaded, so collections skip it",
    "lazy_url_builders": "werkzeug compiles two URL builders (Python source, through ast and compile) for "
                         "each of the app's routes when the app is made; a process uses a few dozen of "
                         "them: compile each on first use",
}


def enabled(setting: str | None = None) -> frozenset[str]:
    """The patches FRAMEWORK_PATCHES turns on (from the environment when not given).
    An unknown name is refused at start-up rather than silently ignored."""
    value = (os.environ.get("FRAMEWORK_PATCHES", "all") if setting is None else setting).strip().lower()
    if value in ("", "all", "1", "on", "yes"):
        return frozenset(PATCHES)
    if value in ("none", "0", "off", "no"):
        return frozenset()
    names = frozenset(name.strip() for name in value.split(",") if name.strip())
    unknown = names - PATCHES.keys()
    if unknown:
        raise ValueError(f"FRAMEWORK_PATCHES: unknown {', '.join(sorted(unknown))}; "
                         f"choose from {', '.join(PATCHES)}, or all, or none")
    return names


class Firebreak(Flask):
    """Flask, asking once per function whether it is a coroutine (patch `ensure_sync`).

    Flask passes every hook and view through `ensure_sync` on every request, and its
    `inspect.iscoroutinefunction` each time costs more than some of those hooks. What
    is known to be plain is remembered weakly, so a function made for one request
    (`after_this_request`) is not kept. Relies on: Flask's `ensure_sync` returning a
    plain function itself."""

    _plain: weakref.WeakKeyDictionary | None = None

    def remember_plain_functions(self) -> None:
        self._plain = weakref.WeakKeyDictionary()

    def ensure_sync(self, func):
        plain = self._plain
        if plain is None:
            return super().ensure_sync(func)
        try:
            if plain[func]:
                return func
        except Exception:  # not seen, not weakly referable, or an odd __eq__: Flask decides
            pass
        synced = super().ensure_sync(func)
        try:
            plain[func] = synced is func
        except TypeError:
            pass
        return synced


class LazyRule(Rule):
    """A route whose URL builders are compiled the first time a URL is built from it
    (patch `lazy_url_builders`): making an app (every test makes one; every gunicorn
    worker and engine does) then skips compiling about 800 small functions, most
    never called. Relies on: werkzeug's `Rule.compile` storing
    `_compile_builder(append_unknown)` bound to the rule as `_build` and
    `_build_unknown`, and `Rule.build` calling those with the values as keywords."""

    def _compile_builder(self, append_unknown: bool = True):
        name = "_build_unknown" if append_unknown else "_build"

        def build_first(rule, **values):
            built = Rule._compile_builder(rule, append_unknown).__get__(rule, None)
            setattr(rule, name, built)  # from now on, the compiled builder itself
            return built(**values)
        return build_first


def before_routes(app: Firebreak) -> None:
    """The patches that must be on before any route is added (start of `create_app`)."""
    if "lazy_url_builders" in enabled(app.config.get("FRAMEWORK_PATCHES")):
        app.url_rule_class = LazyRule


def apply(app: Firebreak, limiter) -> None:
    """Turn on the app's patches (the end of `create_app`, every blueprint registered)."""
    on = enabled(app.config.get("FRAMEWORK_PATCHES"))
    app.extensions["firebreak.patches"] = on
    if "ensure_sync" in on:
        app.remember_plain_functions()
    if "limiter" in on:
        only_decorated_limits(app, limiter)


def only_decorated_limits(app: Flask, limiter) -> None:
    """Take Flask-Limiter's before_request hook out (patch `limiter`): Firebreak sets no
    default, application, meta or blueprint limits, and a decorated view checks its own
    limit in its wrapper. Should such limits ever be set, the hook stays. Relies on:
    the hook being `limiter._check_request_limit` in the app's before_request list, and
    those limits living where this reads them."""
    manager = limiter.limit_manager
    if manager.default_limits or manager.application_limits or limiter._meta_limits or manager._blueprint_limits:
        return
    hooks = app.before_request_funcs.get(None, [])
    if limiter._check_request_limit in hooks:
        hooks.remove(limiter._check_request_limit)


def after_worker_init() -> None:
    """In a gunicorn worker, once the app is loaded (patch `gc_freeze`): a full
    collection walks every object a worker holds (the app, SQLAlchemy's mappers, Jinja's
    templates, the status page's cache) with the GIL held, so every thread waits for
    it. Freezing what exists takes it out of every later collection, and a higher
    first threshold makes collections rarer. Relies on: `gc.freeze`."""
    if "gc_freeze" not in enabled():
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)
