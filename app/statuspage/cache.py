"""The public page's cache: every public answer (page, feed, JSON, stylesheet) is
rendered once per change and then served from memory, without the database, the
templates or even Flask.

How it knows about a change. Every public change bumps `statuspage_settings.version`
in its own transaction (app.statuspage.service.bump). Each process keeps the
version it last read and reads it again at most every STATUS_CACHE_CHECK_SECONDS
(0.5 s): one single-row read, by one thread while the others carry on with the
version they know. So a change shows within about half a second in every process
on every machine that shares the database, and a flood of visitors costs the
database two tiny reads a second per process. (A per-request read costs a query
per request; a file's mtime works only on one machine. `make bench` measures the
per-request read for comparison.) The epoch an answer belongs to is the version
plus a time bucket of STATUS_RERENDER_SECONDS, so time-dependent parts (today's
uptime bar, the 90-day window) move on even when nothing changes; an answer whose
bytes did not change keeps its ETag and Last-Modified.

No stampede. When the epoch moves, the first request for an answer re-renders it
while every other request for it is answered at once with the previous version
(stale for at most one render). Only a cold key makes others wait, for that one
render. Every request header except the conditional ones (If-None-Match,
If-Modified-Since) and Accept-Encoding is ignored, and so is every query parameter
but the history page's, so nobody can ask past the cache.

Serving. `StatusCacheMiddleware` wraps the WSGI app: a GET or HEAD for a fresh
answer is served from memory with its security headers, ETag and Last-Modified
(304 when they match) and gzip when accepted; anything else goes on to Flask,
whose views fill the cache through `PublicCache.get`. It also serves the page at
`/` of STATUS_PAGE_HOST.
"""
from __future__ import annotations

import gzip
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Callable

from flask import Flask

from app import clock, metrics

log = logging.getLogger("firebreak.statuspage")
DETAIL_LIMIT = 500      # incident and maintenance pages, history pages: least recently made go first
GZIP_MIN = 1024
STATUS_LINES = {200: "200 OK", 304: "304 Not Modified", 404: "404 Not Found"}
HISTORY = "/status/history"


@dataclass(frozen=True)
class Rendered:
    """What a view renders for the cache."""

    body: bytes
    content_type: str
    status: int = 200
    headers: tuple = ()
    cache_control: str = "public, no-cache"


@dataclass
class Entry:
    epoch: Any
    status: int
    body: bytes
    gzipped: bytes | None
    etag: str
    etag_gz: str
    modified: datetime
    headers: list = field(default_factory=list)       # 200, identity
    headers_gz: list = field(default_factory=list)    # 200, gzip
    not_modified: list = field(default_factory=list)  # 304 (either encoding)
    not_modified_gz: list = field(default_factory=list)
    content_hash: str = ""
    route: str = ""  # the url rule it answers, for the metrics of the requests served from memory


def build(rendered: Rendered, epoch, previous: Entry | None, now: datetime, route: str = "") -> Entry:
    digest = hashlib.sha256(rendered.body + rendered.content_type.encode()).hexdigest()[:24]
    modified = previous.modified if previous is not None and previous.content_hash == digest else \
        now.replace(microsecond=0)
    gzipped = gzip.compress(rendered.body, 6, mtime=0) if len(rendered.body) >= GZIP_MIN else None
    etag = f'"{digest}"'
    etag_gz = f'"{digest}-gz"'
    common = [("Cache-Control", rendered.cache_control), ("Last-Modified", format_datetime(modified, usegmt=True)),
              *rendered.headers]
    if gzipped is not None:
        common.append(("Vary", "Accept-Encoding"))
    headers = [("Content-Type", rendered.content_type), ("Content-Length", str(len(rendered.body))),
               ("ETag", etag), *common]
    headers_gz = [("Content-Type", rendered.content_type), ("Content-Encoding", "gzip"),
                  ("Content-Length", str(len(gzipped))), ("ETag", etag_gz), *common] if gzipped else headers
    return Entry(epoch=epoch, status=rendered.status, body=rendered.body, gzipped=gzipped, etag=etag,
                 etag_gz=etag_gz if gzipped else etag, modified=modified, headers=headers, headers_gz=headers_gz,
                 not_modified=[("ETag", etag), *common], not_modified_gz=[("ETag", etag_gz if gzipped else etag), *common],
                 content_hash=digest, route=route)


def _matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


def answer(entry: Entry, environ: dict) -> tuple[int, list, bytes]:
    """(status, headers, body) for this request, honouring conditional requests and gzip."""
    gz = entry.gzipped is not None and "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")
    if entry.status == 200:
        inm = environ.get("HTTP_IF_NONE_MATCH")
        if inm is not None:
            if _matches(inm, entry.etag_gz if gz else entry.etag):
                return 304, entry.not_modified_gz if gz else entry.not_modified, b""
        else:
            ims = environ.get("HTTP_IF_MODIFIED_SINCE")
            if ims:
                try:
                    since = parsedate_to_datetime(ims)
                except (TypeError, ValueError):
                    since = None
                if since is not None and since.tzinfo is not None and entry.modified <= since:
                    return 304, entry.not_modified_gz if gz else entry.not_modified, b""
    body = b"" if environ.get("REQUEST_METHOD") == "HEAD" else (entry.gzipped if gz else entry.body)
    return entry.status, entry.headers_gz if gz else entry.headers, body


class PublicCache:
    """Answers (and helper values) per key, valid for one epoch. Thread-safe; one per process."""

    def __init__(self, read_epoch: Callable[[], Any], check_seconds: float = 0.5,
                 monotonic: Callable[[], float] = time.monotonic, wall: Callable[[], datetime] = clock.now):
        self.read_epoch = read_epoch
        self.check_seconds = check_seconds
        self.monotonic = monotonic
        self.wall = wall
        self.entries: dict[str, Any] = {}
        self._details: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._check_lock = threading.Lock()
        self._epoch: Any = None
        self._checked = float("-inf")
        self.renders: dict[str, int] = {}
        self.epoch_reads = 0

    # --- the epoch ------------------------------------------------------------------

    def epoch(self) -> Any:
        """The current epoch, read again at most every `check_seconds`, by one thread."""
        if self._epoch is not None and self.monotonic() - self._checked < self.check_seconds:
            return self._epoch
        if not self._check_lock.acquire(blocking=self._epoch is None):
            return self._epoch  # someone else is reading it; carry on with the one we know
        try:
            if self._epoch is None or self.monotonic() - self._checked >= self.check_seconds:
                try:
                    self._epoch = self.read_epoch()
                except Exception:
                    if self._epoch is None:
                        raise
                    # The database is away: keep serving what we have, and try again later.
                    log.exception("status page cache: reading the version failed")
                self._checked = self.monotonic()
                self.epoch_reads += 1
            return self._epoch
        finally:
            self._check_lock.release()

    def expire(self) -> None:
        """This process just changed something: read the version on the next request."""
        self._checked = float("-inf")

    # --- entries ----------------------------------------------------------------------

    def fresh(self, key: str):
        entry = self.entries.get(key)
        if entry is not None and entry.epoch == self.epoch():
            return entry
        return None

    def _key_lock(self, key: str) -> threading.Lock:
        with self._lock:
            lock = self._key_locks.get(key)
            if lock is None:
                lock = self._key_locks[key] = threading.Lock()
            return lock

    def _store(self, key: str, entry, detail: bool) -> None:
        with self._lock:
            self.entries[key] = entry
            if detail:
                self._details[key] = None
                self._details.move_to_end(key)
                while len(self._details) > DETAIL_LIMIT:
                    old, _ = self._details.popitem(last=False)
                    self.entries.pop(old, None)
                    self._key_locks.pop(old, None)

    def value(self, key: str, load: Callable[[], Any], *, detail: bool = False,
              make: Callable[[Any, Any, Any], Any] | None = None):
        """The value for `key` at the current epoch, made by `load` once per epoch.

        While one thread makes a new one, the others get the previous one at once;
        only when there is none yet do they wait for it.
        """
        epoch = self.epoch()
        entry = self.entries.get(key)
        if entry is not None and entry.epoch == epoch:
            return entry
        lock = self._key_lock(key)
        if entry is not None:
            if not lock.acquire(blocking=False):
                return entry
        else:
            lock.acquire()
        try:
            entry = self.entries.get(key)
            epoch = self.epoch()
            if entry is not None and entry.epoch == epoch:
                return entry
            started = time.perf_counter()
            made = load()
            new = make(made, epoch, entry) if make else _Value(epoch, made)
            self.renders[key] = self.renders.get(key, 0) + 1
            log.info("rendered %s for epoch %s in %.1f ms", key, epoch, (time.perf_counter() - started) * 1000)
            self._store(key, new, detail)
            return new
        finally:
            lock.release()

    def get(self, key: str, render: Callable[[], Rendered], *, detail: bool = False, route: str = "") -> Entry:
        """The answer for `key`, counted in the metrics as a miss (rendered now), a hit,
        or stale (the previous version, while another request renders the new one)."""
        rendered = False

        def make(made: Rendered, epoch, previous: Entry | None) -> Entry:
            nonlocal rendered
            rendered = True
            return build(made, epoch, previous, self.wall(), route)

        entry = self.value(key, render, detail=detail, make=make)
        metrics.status_cache("miss" if rendered else "hit" if entry.epoch == self._epoch else "stale")
        return entry


@dataclass
class _Value:
    epoch: Any
    value: Any


# --- WSGI ---------------------------------------------------------------------------------

def cache_key(path: str, query_string: str = "") -> str:
    """The cache key of a public GET: its path, plus the page number on the history."""
    if path == HISTORY and query_string:
        for part in query_string.split("&"):
            name, _, value = part.partition("=")
            if name == "page" and value.isdecimal() and len(value) <= 4 and 1 < int(value) <= 1000:
                return f"{HISTORY}?page={int(value)}"
    return path


class StatusCacheMiddleware:
    """Serves fresh public answers from memory; everything else goes to Flask."""

    def __init__(self, wsgi_app, flask_app: Flask, cache: PublicCache, security: list, security_https: list):
        self.wsgi_app = wsgi_app
        self.flask_app = flask_app
        self.cache = cache
        self.host = (flask_app.config.get("STATUS_PAGE_HOST") or "").strip().lower()
        self.security = security
        self.security_https = security_https

    def _rewrite(self, environ: dict) -> None:
        """On the page's own host name, the page is at / (and its other paths below it)."""
        host = (environ.get("HTTP_HOST") or "").rsplit(":", 1)[0].lower()
        if host != self.host:
            return
        path = environ.get("PATH_INFO") or "/"
        if path == "/status" or path.startswith(("/status/", "/api/v2/", "/static/")):
            return
        environ["PATH_INFO"] = "/status" if path == "/" else "/status" + path

    def __call__(self, environ, start_response):
        if self.host:
            self._rewrite(environ)
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            path = environ.get("PATH_INFO", "")
            key = cache_key(path, environ.get("QUERY_STRING", "")) if path == HISTORY else path
            entry = self.cache.entries.get(key)
            if entry is not None and isinstance(entry, Entry) and entry.epoch == self.cache.epoch():
                metrics.status_cache("hit")
                environ[metrics.ROUTE_KEY] = entry.route
                status, headers, body = answer(entry, environ)
                https = environ.get("wsgi.url_scheme") == "https"  # ProxyFix set it, when trusted
                start_response(STATUS_LINES.get(status, f"{status} Status"),
                               headers + (self.security_https if https else self.security))
                return [body]
        return self.wsgi_app(environ, start_response)
