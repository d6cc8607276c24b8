"""RATELIMIT_STORAGE_URI with Redis: several web processes count one limit together,
and a Redis that goes away does not stop anyone signing in. Real processes: two
gunicorns and a redis-server from the OS packages, on loopback."""
from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest
import redis

from tests.servers import gunicorns, redis_server

pytestmark = pytest.mark.realtime


class Browser:
    """One client (one address, one session cookie) signing in wherever it is sent:
    the sign-in page gives it a CSRF token, as a browser's form would carry."""

    def __init__(self, url: str):
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with self.opener.open(url + "/login", timeout=10) as page:
            self.token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.read().decode()).group(1)

    def sign_in(self, url: str) -> int:
        """One attempt with a wrong password: 401, or 429 once over the limit."""
        form = urllib.parse.urlencode({"csrf_token": self.token, "email": "nobody@example.com", "password": "wrong"})
        try:
            with self.opener.open(url + "/login", data=form.encode(), timeout=10) as answer:
                return answer.status
        except urllib.error.HTTPError as refused:
            return refused.code


def test_two_web_processes_share_one_sign_in_limit(sqlite_template, tmp_path):
    with redis_server() as (redis_url, redis_process):
        settings = {"RATELIMIT_STORAGE_URI": redis_url}
        with gunicorns([tmp_path / "web1", tmp_path / "web2"], settings, sqlite_template=sqlite_template) as urls:
            one, two = urls
            browser = Browser(one)
            # 10 a minute per client: five on each, then the eleventh, wherever it lands.
            assert [browser.sign_in(url) for _ in range(5) for url in (one, two)] == [401] * 10
            assert browser.sign_in(one) == 429 and browser.sign_in(two) == 429
            assert redis.Redis.from_url(redis_url).keys("LIMITS*")  # the count lives in Redis
            # Redis gone: each process falls back to counting on its own, rather than
            # failing every sign-in.
            redis_process.terminate()
            redis_process.wait(10)
            assert browser.sign_in(one) == 401
