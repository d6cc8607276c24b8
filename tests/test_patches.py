"""The framework patches (app/patches.py): one switch turns them off, and each test
here fails if the upstream behaviour a patch relies on changes."""
from __future__ import annotations

import gc

import pytest
from flask import Flask

from app import patches
from app.extensions import limiter
from tests.conftest import BASE_CONFIG, make_app


def test_the_switch_turns_every_patch_on_off_or_some(app, database_url):
    on = make_app(database_url, RATELIMIT_ENABLED=True)  # the tests' own apps leave the limiter out
    assert on.extensions["firebreak.patches"] == frozenset(patches.PATCHES)
    assert on._plain is not None
    assert limiter._check_request_limit not in on.before_request_funcs.get(None, [])
    off = make_app(database_url, FRAMEWORK_PATCHES="none", RATELIMIT_ENABLED=True)
    assert off.extensions["firebreak.patches"] == frozenset()
    assert off._plain is None and limiter._check_request_limit in off.before_request_funcs[None]
    assert on.url_rule_class is patches.LazyRule and off.url_rule_class is not patches.LazyRule
    some = make_app(database_url, FRAMEWORK_PATCHES="limiter, gc_freeze")
    assert some.extensions["firebreak.patches"] == {"limiter", "gc_freeze"} and some._plain is None
    with pytest.raises(ValueError, match="unknown gc_frozen"):
        make_app(database_url, FRAMEWORK_PATCHES="gc_frozen")


@pytest.mark.parametrize("setting", ["all", "none"])
def test_the_app_answers_the_same_with_and_without_them(database_url, setting):
    """A page, a refusal, a sign-in form, JSON: the same status, headers that matter
    and body, patched or not."""
    app = make_app(database_url, FRAMEWORK_PATCHES=setting)
    client = app.test_client()
    answers = {path: client.get(path) for path in ("/healthz/nothing", "/login", "/status")}
    bad = client.post("/v2/enqueue", json={})
    assert bad.status_code == 400 and "Set-Cookie" not in bad.headers and "Cookie" in bad.headers["Vary"]
    assert answers["/login"].status_code == 200 and "Set-Cookie" in answers["/login"].headers
    for answer in (*answers.values(), bad):
        assert answer.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in answer.headers[
            "Content-Security-Policy"]


def test_flask_returns_a_plain_function_itself_from_ensure_sync():
    """`ensure_sync` remembers `synced is func` for plain functions."""
    flask = Flask("upstream")

    def plain():
        return None

    assert Flask.ensure_sync(flask, plain) is plain


def test_flask_limiter_keeps_its_check_where_the_patch_takes_it_out():
    """`only_decorated_limits` reads these attributes and removes this hook."""
    import flask_limiter
    from flask_limiter.util import get_remote_address
    flask = Flask("upstream")
    flask.config["RATELIMIT_STORAGE_URI"] = "memory://"
    fresh = flask_limiter.Limiter(key_func=get_remote_address, default_limits=[])
    fresh.init_app(flask)
    manager = fresh.limit_manager
    assert not (manager.default_limits or manager.application_limits or fresh._meta_limits
                or manager._blueprint_limits)
    assert fresh._check_request_limit in flask.before_request_funcs[None]
    patches.only_decorated_limits(flask, fresh)
    assert fresh._check_request_limit not in flask.before_request_funcs[None]
    limited = Flask("limited")
    limited.config["RATELIMIT_STORAGE_URI"] = "memory://"
    with_defaults = flask_limiter.Limiter(key_func=get_remote_address, default_limits=["1/second"])
    with_defaults.init_app(limited)
    patches.only_decorated_limits(limited, with_defaults)
    assert with_defaults._check_request_limit in limited.before_request_funcs[None]  # it stays


def test_gc_can_freeze_what_a_worker_holds(monkeypatch):
    """The worker hook freezes once the app is loaded, unless switched off."""
    assert callable(gc.freeze) and callable(gc.get_freeze_count) and callable(gc.unfreeze)
    frozen = []
    monkeypatch.setattr(patches.gc, "freeze", lambda: frozen.append(True))
    monkeypatch.setattr(patches.gc, "set_threshold", lambda *args: None)
    monkeypatch.setenv("FRAMEWORK_PATCHES", "all")
    patches.after_worker_init()
    monkeypatch.setenv("FRAMEWORK_PATCHES", "none")
    patches.after_worker_init()
    assert frozen == [True]


def test_base_config_leaves_the_patches_at_their_default():
    assert "FRAMEWORK_PATCHES" not in BASE_CONFIG


def test_lazy_url_builders_build_the_same_urls_and_compile_once():
    """Relies on werkzeug's Rule.compile storing `_compile_builder(...)` as `_build` and
    `_build_unknown`, and Rule.build calling them with keywords."""
    apps = []
    for rule_class in (patches.LazyRule, None):
        app = Flask(__name__)
        if rule_class:
            app.url_rule_class = rule_class
        app.add_url_rule("/teams/<int:team_id>/members/<path:name>", "member", lambda **kw: "")
        app.add_url_rule("/plain", "plain", lambda: "")
        apps.append(app)
    lazy, plain = apps
    rule = next(r for r in lazy.url_map.iter_rules() if r.endpoint == "member")
    first = rule._build_unknown  # what url_for calls (it appends unknown values as a query)
    urls = []
    for app in apps:
        with app.test_request_context():
            from flask import url_for
            urls.append([url_for("member", team_id=7, name="a b/c"), url_for("member", team_id=7, name="x", q="1 2"),
                         url_for("plain", page=2), url_for("plain")])
    assert urls[0] == urls[1] == [["/teams/7/members/a%20b/c", "/teams/7/members/x?q=1+2", "/plain?page=2",
                                   "/plain"]][0]
    assert rule._build_unknown is not first and rule._build_unknown.__name__ != "build_first"  # compiled once, kept
