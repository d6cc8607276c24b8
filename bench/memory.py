"""Memory: what each process of a deployment holds under load, for sizing a machine.

Each layout runs the stack `make load` and `make faults` run (load/stack.py: gunicorn
with gthread workers, the engine as its own process, a fake Twilio and an SMTP server
beside them), on SQLite and on a throwaway PostgreSQL. For LOAD seconds (60) it takes
events at RATE a second (20, each with its own dedup key, so each opens an incident
and pages), BROWSERS signed-in people (10) polling incident pages as htmx does, the
public status page at STATUS_RATE a second (50), and now and then the heaviest pages
(insights, the incident list, the on-call overview). Every second it reads each
process's resident set (RSS) and its proportional share (PSS: shared pages split
between the processes sharing them, so PSS sums to what the processes cost together)
from /proc/<pid>/smaps_rollup, and reports each kind of process's peak:

  gunicorn master, each web worker, each worker's ingestion writer (SQLite only),
  the engine, and on PostgreSQL the server with its backends.

The total is the sum of the peaks of PSS, an upper bound (the peaks need not meet).

    python -m bench memory     (BENCH_MEMORY_LAYOUTS="sqlite:2x8,postgresql:4x8",
                                BENCH_MEMORY_SECONDS, BENCH_MEMORY_RATE change the run)

No targets: the figures feed docs/deployment.md's sizing table.
"""
from __future__ import annotations

import http.client
import os
import platform
import shutil
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from bench._harness import BenchError
from load.browsers import Browsers
from load.sender import Sender
from load.stack import USER_AGENT, Stack

LAYOUTS = os.environ.get("BENCH_MEMORY_LAYOUTS", "sqlite:1x16,sqlite:2x8,postgresql:2x8,postgresql:4x8")
SECONDS = float(os.environ.get("BENCH_MEMORY_SECONDS", "60"))
RATE = float(os.environ.get("BENCH_MEMORY_RATE", "20"))
BROWSERS = int(os.environ.get("BENCH_MEMORY_BROWSERS", "10"))
STATUS_RATE = float(os.environ.get("BENCH_MEMORY_STATUS_RATE", "50"))
HEAVY_PAGES = ("/insights/", "/incidents/", "/oncall/", "/postmortems/", "/status")
MB = 1024 * 1024


def memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in bytes of one process; (0, 0) once it has gone."""
    found = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("Rss", "Pss"):
                found[name] = int(rest.split()[0]) * 1024
    except (OSError, ValueError):
        return 0, 0
    return found.get("Rss", 0), found.get("Pss", 0)


def children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def processes(stack: Stack) -> dict[str, list[int]]:
    """The stack's processes by kind."""
    kinds: dict[str, list[int]] = defaultdict(list)
    if stack.web is not None and stack.web.alive():
        kinds["gunicorn master"].append(stack.web.pid)
        for worker in children(stack.web.pid):
            kinds["web worker"].append(worker)
            kinds["ingestion writer"].extend(children(worker))
    kinds["engine"].extend(proc.pid for proc in stack.engines if proc.alive())
    if stack.cluster is not None:
        try:
            master = int((stack.cluster.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            master = None
        if master is not None:
            kinds["postgresql (server and backends)"] = [master, *children(master)]
    return kinds


class Sampler:
    """Each kind's peak per process (RSS, PSS) and peak of the kind's summed PSS, every second."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.peak_rss: dict[str, int] = defaultdict(int)
        self.peak_pss: dict[str, int] = defaultdict(int)
        self.peak_sum: dict[str, int] = defaultdict(int)
        self.count: dict[str, int] = defaultdict(int)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Sampler":
        self._thread.start()
        return self

    def sample(self) -> None:
        for kind, pids in processes(self.stack).items():
            total = 0
            for pid in pids:
                rss, pss = memory(pid)
                self.peak_rss[kind] = max(self.peak_rss[kind], rss)
                self.peak_pss[kind] = max(self.peak_pss[kind], pss)
                total += pss
            self.peak_sum[kind] = max(self.peak_sum[kind], total)
            self.count[kind] = max(self.count[kind], len(pids))

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.sample()


def _status_and_heavy_pages(stack: Stack, stop: threading.Event, failures: list[str]) -> None:
    """The status page at STATUS_RATE a second, and every 5 s one of the heaviest pages."""
    cookie = f"{stack.seeded['cookie_name']}={stack.seeded['cookies'][0]}"
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    n, began = 0, time.monotonic()
    try:
        while not stop.is_set():
            path, headers = "/status", {"User-Agent": USER_AGENT}
            if n % max(1, int(STATUS_RATE * 5)) == 0:
                path = HEAVY_PAGES[(n // max(1, int(STATUS_RATE * 5))) % len(HEAVY_PAGES)]
                headers["Cookie"] = cookie
            try:
                connection.request("GET", path, headers=headers)
                answer = connection.getresponse()
                answer.read()
                if answer.status >= 400:
                    failures.append(f"GET {path}: {answer.status}")
            except OSError as error:
                failures.append(f"GET {path}: {type(error).__name__}")
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
            n += 1
            delay = began + n / STATUS_RATE - time.monotonic()
            if delay > 0:
                stop.wait(delay)
    finally:
        connection.close()


def run_layout(backend: str, workers: int, threads: int, work: Path) -> dict:
    stack = Stack(work, backend, workers=workers, threads=threads, browsers=BROWSERS)
    stack.start()
    try:
        sampler = Sampler(stack).start()
        sender = Sender(stack.port, stack.seeded["routing_keys"], f"mem{int(time.time()) % 100000}", rate=RATE).start()
        browsers = Browsers(stack.port, stack.seeded["cookies"], USER_AGENT, stack.seeded["cookie_name"]).start()
        stop, failures = threading.Event(), []
        pages = threading.Thread(target=_status_and_heavy_pages, args=(stack, stop, failures), daemon=True)
        pages.start()
        time.sleep(SECONDS)
        stop.set()
        sender.stop_sending()
        sender.settle(30)
        timings = browsers.stop()
        pages.join(30)
        sampler.stop()
        failures.extend(timings.failures)
        accepted = sum(1 for event in sender.events if event.settled)
    finally:
        stack.close()
    return {"layout": f"{backend}, {workers} worker(s) x {threads} threads", "sampler": sampler,
            "accepted": accepted, "failures": failures}


def report(result: dict) -> None:
    sampler: Sampler = result["sampler"]
    print(f"\n{result['layout']}: {result['accepted']} events accepted, {len(result['failures'])} failed requests")
    print(f"  {'process':36} {'count':>5} {'peak RSS':>9} {'peak PSS':>9} {'PSS of all':>10}")
    total = 0
    for kind in sampler.peak_pss:
        if not sampler.count[kind]:
            continue
        total += sampler.peak_sum[kind]
        print(f"  {kind:36} {sampler.count[kind]:>5} {sampler.peak_rss[kind] / MB:>7.0f}MB "
              f"{sampler.peak_pss[kind] / MB:>7.0f}MB {sampler.peak_sum[kind] / MB:>8.0f}MB")
    print(f"  {'total (sum of the peaks)':36} {'':>5} {'':>9} {'':>9} {total / MB:>8.0f}MB")
    for failure in result["failures"][:5]:
        print(f"  failed: {failure}")


def main() -> bool:
    layouts = []
    for item in LAYOUTS.split(","):
        backend, _, shape = item.strip().partition(":")
        workers, _, threads = shape.partition("x")
        if backend not in ("sqlite", "postgresql") or not workers.isdigit() or not threads.isdigit():
            raise BenchError(f"BENCH_MEMORY_LAYOUTS: {item!r} is not backend:WORKERSxTHREADS")
        layouts.append((backend, int(workers), int(threads)))
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; "
          f"{SECONDS:.0f} s a layout: {RATE:.0f} events/s, {BROWSERS} browsers, status page {STATUS_RATE:.0f}/s")
    work = Path(tempfile.mkdtemp(prefix="firebreak-bench-memory-"))
    try:
        for n, (backend, workers, threads) in enumerate(layouts):
            report(run_layout(backend, workers, threads, work / f"{n}-{backend}"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return True
