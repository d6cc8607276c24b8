"""Browser tests: the OS's Chromium driven by Playwright against a live server.

One browser per test worker (pytest-playwright's session-scoped `browser`), one
live server per worker on its own SQLite file. Tests make their data through the
service functions inside `live.app.app_context()`.
"""
from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass

import pytest
from flask import Flask
from werkzeug.serving import make_server

from app.extensions import db
from tests.conftest import make_app, provider_config

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--disable-dev-shm-usage"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def pytest_collection_modifyitems(items):
    for item in items:
        if "/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@dataclass
class LiveServer:
    app: Flask
    url: str


@pytest.fixture(scope="session")
def live(sqlite_template, tmp_path_factory, fake_twilio_server, mailbox_server):
    """One live server per worker, paging through the fake Twilio and the real SMTP server."""
    path = tmp_path_factory.mktemp("live") / "firebreak.db"
    shutil.copyfile(sqlite_template, path)
    app = make_app(f"sqlite:///{path}", LIVE_POLL_SECONDS=1, **provider_config(fake_twilio_server, mailbox_server))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["PUBLIC_BASE_URL"] = url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield LiveServer(app=app, url=url)
    server.shutdown()
    thread.join()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def base_url(live):
    return live.url


@pytest.fixture
def new_page(browser, live):
    """new_page(viewport) → a page in a fresh context (its own cookies) on the live server."""
    contexts = []

    def make(viewport=DESKTOP):
        context = browser.new_context(viewport=viewport, base_url=live.url)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield make
    for context in contexts:
        context.close()
