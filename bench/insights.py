"""Insights at scale: `flask seed-demo --scale large` (100,000 incidents over two
years, about a million timeline events), then the time each page takes to answer
over HTTP from gunicorn, next to a trivial page (the sign-in form) in the same run.

Requests go one at a time and the pages take turns, round after round, so a burst
of other work on the shared machine slows every page alike; each figure is the
median (and the 90th percentile) of its rounds. Targets from issue 11: the
dashboard under 300 ms, the incident list under 150 ms. The figures go to stdout
and into docs/benchmarks.md between the bench:insights markers.

    python -m bench insights         (BENCH_ROUNDS=15 by default;
                                      BENCH_DB=path reuses a database seeded before,
                                      BENCH_PASSWORD its admin's password)
"""
from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
FLASK = str(Path(sys.executable).parent / "flask")
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
PASSWORD = os.environ.get("BENCH_PASSWORD", "bench password 123")  # the demo admin's, with BENCH_DB
MARK_START, MARK_END = "<!-- bench:insights -->", "<!-- /bench:insights -->"
# (label, path, target in ms or None, signed in?)
PAGES = [
    ("trivial page: the sign-in form", "/login", None, False),
    ("incident list (open, the default)", "/incidents/", 150, True),
    ("incident list, every status", "/incidents/?status=all", 150, True),
    ("dashboard as it opens: last 30 days by week", "/insights/", 300, True),
    ("dashboard, last 90 days by week", "/insights/?period=90d", None, True),
    ("dashboard, last 12 months by month", "/insights/?period=12m&by=month", None, True),
    ("metrics as JSON (API), last 30 days", "/api/v1/insights/metrics", None, "token"),
    ("incidents as CSV, last 30 days", "/insights/incidents.csv", None, True),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed(env: dict) -> float:
    """Migrate and seed the large demo; the progress bar shows on the terminal."""
    began = time.monotonic()
    subprocess.run([FLASK, "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([FLASK, "--app", "wsgi", "seed-demo", "--scale", "large", "--password", PASSWORD], cwd=ROOT,
                   env=env, check=True)
    return time.monotonic() - began


def counts(db_path: Path) -> dict[str, int]:
    import sqlite3
    with sqlite3.connect(db_path) as conn:
        return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - fixed names
                for table in ("incidents", "incident_events", "alerts", "postmortems", "action_items", "page_reads",
                              "survey_answers")}


class Browser:
    """Cookies and a CSRF token, as a person signed in with a browser has."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str, headers: dict | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with self.opener.open(request, timeout=120) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def sign_in(self, email: str) -> None:
        _, page = self.get("/login")
        token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"', page)
        csrf = (token.group(1) or token.group(2)).decode()
        data = urllib.parse.urlencode({"email": email, "password": PASSWORD, "csrf_token": csrf}).encode()
        with self.opener.open(urllib.request.Request(self.base + "/login", data=data), timeout=60) as response:
            response.read()


def api_token(env: dict) -> str:
    answer = subprocess.run([FLASK, "--app", "wsgi", "create-api-token", "--email", "admin@example.com", "--name",
                             "bench", "--scope", "read"], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return answer.stdout.strip().splitlines()[-1]


def main() -> None:
    reuse = os.environ.get("BENCH_DB")
    work = Path(tempfile.mkdtemp(prefix="firebreak-bench-insights-"))
    db_path = Path(reuse) if reuse else work / "bench.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db_path}", "SECRET_KEY": "bench-secret",
           "FIREBREAK_INSTANCE_PATH": str(work), "PUBLIC_BASE_URL": "http://127.0.0.1", "ENGINE_IN_PROCESS": "0"}
    seeded_in = None
    if not reuse:
        print("seeding the large demo (100,000 incidents over two years) …", flush=True)
        seeded_in = seed(env)
    rows = counts(db_path)
    print(f"{rows['incidents']:,} incidents, {rows['incident_events']:,} timeline events, {rows['alerts']:,} alerts, "
          f"{rows['postmortems']:,} post-mortems, {rows['action_items']:,} action items, {rows['page_reads']:,} reads, "
          f"{rows['survey_answers']:,} survey answers" + (f"; seeded in {seeded_in:.0f} s" if seeded_in else ""),
          flush=True)
    token = api_token(env)
    port = free_port()
    server = subprocess.Popen([GUNICORN, "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "1",
                               "--log-level", "warning", "wsgi:app"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/login", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        signed_in, anonymous = Browser(base), Browser(base)
        signed_in.sign_in("admin@example.com")
        bearer = {"Authorization": f"Bearer {token}"}

        def fetch(path: str, who) -> tuple[int, float]:
            began = time.perf_counter()
            if who == "token":
                status, _ = anonymous.get(path, bearer)
            else:
                status, _ = (signed_in if who else anonymous).get(path)
            return status, (time.perf_counter() - began) * 1000

        for _, path, _, who in PAGES:  # warm up: the first read of each page fills the OS cache
            status, _ = fetch(path, who)
            if status != 200:
                raise SystemExit(f"{path} answered {status}")
        samples: dict[str, list[float]] = {path: [] for _, path, _, _ in PAGES}
        for _ in range(ROUNDS):
            for _, path, _, who in PAGES:
                samples[path].append(fetch(path, who)[1])
    finally:
        server.terminate()
        server.wait(timeout=30)
        if not reuse:
            shutil.rmtree(work, ignore_errors=True)

    load = os.getloadavg()[0]
    lines = [f"| page | median | 90th pct. | target |", "| --- | ---: | ---: | --- |"]
    for label, path, target, _ in PAGES:
        values = sorted(samples[path])
        median = statistics.median(values)
        p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
        verdict = "" if target is None else (f"< {target} ms: {'met' if median < target else 'missed'}")
        lines.append(f"| {label} (`{path}`) | {median:.0f} ms | {p90:.0f} ms | {verdict} |")
    text = "\n".join([
        f"{rows['incidents']:,} incidents, {rows['incident_events']:,} timeline events "
        f"(`flask seed-demo --scale large`{f', {seeded_in:.0f} s' if seeded_in else ''}); "
        f"gunicorn, one worker, requests one at a time, {ROUNDS} rounds; load average {load:.1f} on "
        f"{os.cpu_count()} cores during the run.", "", *lines])
    print(text)
    page = ROOT / "docs" / "benchmarks.md"
    content = page.read_text()
    if MARK_START in content and MARK_END in content:
        head, rest = content.split(MARK_START, 1)
        _, tail = rest.split(MARK_END, 1)
        page.write_text(f"{head}{MARK_START}\n{text}\n{MARK_END}{tail}")
        print(f"(written to docs/{page.name})")
