"""GET /metrics: the Prometheus exposition, behind a bearer token (METRICS_TOKEN).

Off until a token is set: without METRICS_TOKEN the route answers 404, so a fresh
installation shows nothing about itself. With one, a request without
`Authorization: Bearer <token>`, or with another token, gets 401; the tokens are
compared by their SHA-256 digests in constant time, so the time taken says nothing
about how much of a guess was right. The route is public apart from the token (no
sign-in, no CSRF): Prometheus has neither.
"""
from __future__ import annotations

import gzip
import hashlib
import hmac
import os

from flask import Blueprint, Response, current_app, request
from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.multiprocess import MultiProcessCollector

from app import metrics
from app.metrics.database import DatabaseCollector
from app.web import public

bp = Blueprint("metrics", __name__)


@bp.route("/metrics")
@public
def scrape():
    token = current_app.config["METRICS_TOKEN"]
    if not token:
        return _plain("Metrics are off: set METRICS_TOKEN to turn them on.", 404)
    if not authorized(request.headers.get("Authorization", ""), token):
        response = _plain("A valid metrics token is needed: send 'Authorization: Bearer <METRICS_TOKEN>'.", 401)
        response.headers["WWW-Authenticate"] = 'Bearer realm="firebreak metrics"'
        return response
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(Scrape(sources(os.environ.get("PROMETHEUS_MULTIPROC_DIR") if metrics.multiprocess() else None)))
    response = Response(body, content_type=content_type)
    if gzip_accepted(request.headers.get("Accept-Encoding", "")):
        response.set_data(gzip.compress(body, 6))
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Cache-Control"] = "no-store"
    return response


def authorized(header: str, token: str) -> bool:
    """Whether an Authorization header carries this bearer token."""
    scheme, _, given = header.partition(" ")
    digest = hashlib.sha256(given.strip().encode()).digest()
    return scheme.lower() == "bearer" and hmac.compare_digest(digest, hashlib.sha256(token.encode()).digest())


def _plain(text: str, status: int) -> Response:
    response = Response(text + "\n", status=status, content_type="text/plain; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


def sources(path: str | None) -> list:
    """What a scrape reads: the recorded series (this process's, or with the directory
    of multiprocess mode every process's files, added up) and the database's."""
    recorded = MultiProcessCollector(None, path=path) if path else metrics.REGISTRY
    return [recorded, DatabaseCollector()]


class Scrape:
    """Several collectors read as one registry."""

    def __init__(self, collectors: list):
        self.collectors = collectors

    def collect(self):
        for collector in self.collectors:
            yield from collector.collect()
