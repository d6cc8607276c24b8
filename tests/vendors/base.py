"""A loopback JSON API for vendor fakes: a real HTTP server on 127.0.0.1 that checks the
authentication header as the vendor does, answers GETs from a handler per path, can
be told to answer 429 with a Retry-After first (as the vendors' rate limits do), and
keeps every request it was sent."""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class Raw:
    """A handler's answer that is not JSON (an iCalendar file, say)."""

    body: bytes
    content_type: str


class Refusal(Exception):
    """Raised by a handler: answered with `status` and the vendor's error `body`."""

    def __init__(self, status: int, body: dict, headers: dict | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


Handler = Callable[[Request, re.Match], dict | list | Raw]


class FakeVendorApi:
    """Subclasses set `routes` (regex of the path → handler) and `authorised(request)`;
    `unauthorised` is the vendor's answer to a refused key (`unauthorised_status`,
    401 unless the vendor says otherwise) and `throttled` its 429 body; a handler may
    answer `Raw` bytes instead of JSON. `rate_limited = n` answers the next n
    requests with 429 and `Retry-After: retry_after`."""

    unauthorised: dict = {"error": "unauthorised"}
    unauthorised_status = 401
    throttled: dict = {"error": "rate limited"}

    def __init__(self):
        self.requests: list[Request] = []
        self.rate_limited = 0
        self.retry_after = "2"       # empty: no Retry-After header
        self.extra_429_headers: dict[str, str] = {}
        self.routes: list[tuple[re.Pattern, Handler]] = []
        fake = self

        class Http(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_GET(self):
                parts = urlsplit(self.path)
                request = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                                  {k.lower(): v for k, v in self.headers.items()})
                fake.requests.append(request)
                try:
                    status, body, headers = 200, fake.answer(request), {}
                except Refusal as refusal:
                    status, body, headers = refusal.status, refusal.body, refusal.headers
                if isinstance(body, Raw):
                    data, content_type = body.body, body.content_type
                else:
                    data, content_type = json.dumps(body).encode(), "application/json"
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Http)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def route(self, pattern: str, handler: Handler) -> None:
        self.routes.append((re.compile(pattern + "$"), handler))

    def authorised(self, request: Request) -> bool:
        raise NotImplementedError

    def answer(self, request: Request):
        if self.rate_limited > 0:
            self.rate_limited -= 1
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            raise Refusal(429, self.throttled, {**headers, **self.extra_429_headers})
        if not self.authorised(request):
            raise Refusal(self.unauthorised_status, self.unauthorised)
        if request.method != "GET":
            raise Refusal(405, {"error": "the importer only reads"})
        for pattern, handler in self.routes:
            match = pattern.match(request.path)
            if match:
                return handler(request, match)
        raise Refusal(404, {"error": f"no such resource {request.path}"})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
