"""Simulated browsers: people signed in, each with an incident page open, polling it
as the page's htmx does (every LIVE_POLL_SECONDS with the version it shows: 204 when
nothing changed, the live block when something did), polling the incident list now
and then, and moving to another open incident every minute or so.

People come in over the first START_SPREAD seconds and each moves at a moment of its
own (after 15 to 25 polls), as people do. Started within one poll period and moving
every 20 polls, all fifty would open the list and an incident in the same three
seconds of every minute: a herd the generator makes, not the people it stands for.

Each browser is a thread with one keep-alive connection; the whole group sends a
few dozen requests a second, which a thread per browser handles without becoming
the bottleneck it measures.
"""
from __future__ import annotations

import http.client
import random
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

START_SPREAD = 20.0   # seconds over which the browsers come in
MOVE_AFTER = (15, 25)  # polls on one incident before moving to another (about a minute at 3 s)

INCIDENT_LINK = re.compile(r'href="/incidents/(\d+)"')
INCIDENT_VERSION = re.compile(r'hx-get="/incidents/(\d+)\?v=(\d+)"')
LIST_SINCE = re.compile(r'since=([^"&]+)"')


@dataclass
class Timings:
    """Latencies (seconds) and status codes per kind of request, from every browser."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    failures: list[str] = field(default_factory=list)
    # The SLOWEST slowest requests of each kind: (seconds, when it began in seconds from
    # the start, path), to tell a tail spread over the run from one moment.
    slowest: dict[str, list[tuple[float, float, str]]] = field(default_factory=lambda: defaultdict(list))
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    SLOWEST = 5

    def record(self, kind: str, seconds: float, status: int | None, note: str = "", *, path: str = "",
               began: float | None = None) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            self.statuses[kind][status or 0] += 1
            if (status is None or status >= 500) and len(self.failures) < 20:
                self.failures.append(f"{kind}: {status} {note[:200]}")
            slowest = self.slowest[kind]
            if len(slowest) < self.SLOWEST or seconds > slowest[-1][0]:
                at = (began if began is not None else time.monotonic() - seconds) - self.started
                slowest.append((seconds, round(at, 1), path))
                slowest.sort(reverse=True)
                del slowest[self.SLOWEST:]


class Browser(threading.Thread):
    def __init__(self, n: int, port: int, cookie: str, user_agent: str, timings: Timings, stop: threading.Event,
                 poll_seconds: float = 3.0, cookie_name: str = "firebreak_session"):
        super().__init__(daemon=True, name=f"browser-{n}")
        self.n, self.port, self.timings, self.stop_event = n, port, timings, stop
        self.headers = {"Cookie": f"{cookie_name}={cookie}", "User-Agent": user_agent}
        self.poll_seconds = poll_seconds
        self.rng = random.Random(n)
        self.connection: http.client.HTTPConnection | None = None

    def get(self, kind: str, path: str, htmx: bool = False) -> tuple[int | None, str]:
        headers = dict(self.headers)
        if htmx:
            headers.update({"HX-Request": "true", "HX-Current-URL": f"http://127.0.0.1:{self.port}{path}"})
        began = time.monotonic()
        for attempt in (1, 2):
            try:
                if self.connection is None:
                    self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.connection.request("GET", path, headers=headers)
                answer = self.connection.getresponse()
                body = answer.read().decode(errors="replace")
                self.timings.record(kind, time.monotonic() - began, answer.status, body if answer.status >= 500 else "",
                                    path=path, began=began)
                return answer.status, body
            except (OSError, http.client.HTTPException) as error:
                self.connection.close()
                self.connection = None
                # A kept-alive connection the server closed meanwhile: reconnect once, as a browser does.
                if attempt == 2 or not isinstance(error, (http.client.RemoteDisconnected, ConnectionResetError,
                                                         BrokenPipeError)):
                    self.timings.record(kind, time.monotonic() - began, None, f"{type(error).__name__}: {error}",
                                        path=path, began=began)
                    return None, ""
        return None, ""

    def open_list(self) -> tuple[list[int], str | None]:
        status, body = self.get("list page", "/incidents/")
        if status != 200:
            return [], None
        since = LIST_SINCE.search(body)
        return sorted({int(n) for n in INCIDENT_LINK.findall(body)}), since.group(1) if since else None

    def open_incident(self, ident: int) -> int | None:
        status, body = self.get("incident page", f"/incidents/{ident}")
        found = INCIDENT_VERSION.search(body) if status == 200 else None
        return int(found.group(2)) if found else None

    def run(self) -> None:
        self.stop_event.wait(self.rng.uniform(0, START_SPREAD))
        incident = version = None
        since = None
        polls = 0
        move_at = 0
        while not self.stop_event.is_set():
            if incident is None or polls >= move_at:
                move_at = polls + self.rng.randint(*MOVE_AFTER)
                ids, since = self.open_list()
                if ids:
                    incident = self.rng.choice(ids)
                    version = self.open_incident(incident)
            elif polls % 10 == 5 and since is not None:
                status, body = self.get("list poll", f"/incidents/?since={since}", htmx=True)
                if status == 200 and (found := LIST_SINCE.search(body)):
                    since = found.group(1)
            if incident is not None and version is not None:
                status, body = self.get("incident poll", f"/incidents/{incident}?v={version}", htmx=True)
                if status == 200 and (found := INCIDENT_VERSION.search(body)):
                    version = int(found.group(2))
            polls += 1
            self.stop_event.wait(self.poll_seconds)
        if self.connection is not None:
            self.connection.close()


class Browsers:
    """`count` browsers, started together, stopped together."""

    def __init__(self, port: int, cookies: list[str], user_agent: str, cookie_name: str, poll_seconds: float = 3.0):
        self.timings = Timings()
        self.stop_event = threading.Event()
        self.threads = [Browser(n, port, cookie, user_agent, self.timings, self.stop_event, poll_seconds, cookie_name)
                        for n, cookie in enumerate(cookies)]

    def start(self) -> "Browsers":
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> Timings:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(35)
        return self.timings
