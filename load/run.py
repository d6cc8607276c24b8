"""The load run: 200 events a second to /v2/enqueue for five minutes, while 50
signed-in browsers poll incident pages and the public status page takes 500
requests a second, on 8 gunicorn workers, the engine in its own process, pages
going to a fake Twilio and an SMTP server; on SQLite, then on PostgreSQL.

    python -m load [sqlite] [postgresql]      (make load: both)

Settings (environment): LOAD_SECONDS (300), LOAD_RATE (200 events/s),
LOAD_STATUS_RATE (500 requests/s), LOAD_BROWSERS (50), LOAD_WORKERS (8),
LOAD_THREADS (8 per worker), LOAD_DRAIN_SECONDS (90), LOAD_JSON (write the figures
there), LOAD_WORK (keep the run's files there instead of a temporary directory).

Afterwards, with the servers still up, the database and the fakes' records are
read: every accepted trigger is an occurrence of an alert (nothing lost), no
request failed, nothing in any log says "database is locked", each page went out
once, and the latencies are held against their targets.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from bench._harness import BenchError, ROOT, require, run_wrk
from load.browsers import Browsers
from load.stack import USER_AGENT, HealthWatch, Stack
from load import pages as page_counts

SCRIPT = Path(__file__).resolve().parent / "paced.lua"
SECONDS = int(os.environ.get("LOAD_SECONDS", "300"))
RATE = float(os.environ.get("LOAD_RATE", "200"))
STATUS_RATE = float(os.environ.get("LOAD_STATUS_RATE", "500"))
BROWSERS = int(os.environ.get("LOAD_BROWSERS", "50"))
WORKERS = int(os.environ.get("LOAD_WORKERS", "8"))
THREADS = int(os.environ.get("LOAD_THREADS", "8"))
DRAIN_SECONDS = float(os.environ.get("LOAD_DRAIN_SECONDS", "90"))
HOT_KEYS, WARM_KEYS = 40, 500

# Targets. Issue 9: the status page's p99 under 50 ms. Issue 3: a change shows on an
# open incident page within 5 s (a poll every 3 s, so its answer within 2 s). Issue 4:
# a page reaches the provider within 1 s of the event (p99) unless a per-phone
# throttle holds it back on purpose. The rest are ours: every request answered
# without error, the rates held within 5%, and an event answered within a second.
TARGETS_MS = {"events": 1000.0, "status page": 50.0, "incident poll": 2000.0, "incident page": 2000.0,
              "list poll": 2000.0, "list page": 2000.0, "event to page": 1000.0}


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def warm_up(url: str, keys: list[str], tag: str) -> dict:
    """A few incidents open before the browsers arrive, so each has one to watch."""
    sent = {"triggers": 0, "accepted": 0}
    for n in range(24):
        body = json.dumps({"routing_key": keys[n % len(keys)], "event_action": "trigger", "client": "load",
                           "dedup_key": f"warmup-{tag}-{n}",
                           "payload": {"summary": f"warm-up {n}: checkout errors", "source": "load",
                                       "severity": "error"}}).encode()
        request = urllib.request.Request(url + "/v2/enqueue", data=body, headers={"Content-Type": "application/json"})
        sent["triggers"] += 1
        with urllib.request.urlopen(request, timeout=30) as answer:
            sent["accepted"] += answer.status == 202
    return sent


def wrk_in_thread(results: dict, name: str, *args, **kwargs) -> threading.Thread:
    def target():
        try:
            results[name] = run_wrk(*args, **kwargs)
        except BenchError as error:
            results[name] = {"error": str(error)}
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def run_backend(backend: str, work: Path) -> dict:
    tag = f"{backend[:2]}{int(time.time()) % 100000}"
    stack = Stack(work / backend, backend, workers=WORKERS, threads=THREADS, browsers=BROWSERS)
    print(f"[{backend}] starting: gunicorn -w {WORKERS} -k gthread --threads {THREADS}, the engine, fake Twilio, "
          f"SMTP; seeding …", flush=True)
    loads = [os.getloadavg()[0]]
    stack.start()
    print(f"[{backend}] the engine " + (f"caught up with the seed's due work in {stack.settle_seconds:.0f} s"
                                        if stack.engine_settled else
                                        f"had not caught up with the seed's due work after {stack.settle_seconds:.0f} s; "
                                        "the load begins anyway"), flush=True)
    try:
        keys = stack.seeded["routing_keys"]
        warm = warm_up(stack.url, keys, tag)
        time.sleep(2)  # the engine begins paging for them
        watch = HealthWatch(stack.url, every=1.0)
        browsers = Browsers(stack.port, stack.seeded["cookies"], USER_AGENT, stack.seeded["cookie_name"]).start()
        results: dict = {}
        events = int(RATE * SECONDS)
        status_requests = int(STATUS_RATE * SECONDS)
        limit = SECONDS * 3 + 60
        print(f"[{backend}] load: {RATE:.0f} events/s, {STATUS_RATE:.0f} status page requests/s, {BROWSERS} "
              f"browsers, {SECONDS} s", flush=True)
        started = time.time()
        own = os.times()
        cpu_before = own.user + own.system + own.children_user + own.children_system
        threads = [
            wrk_in_thread(results, "events", stack.url + "/v2/enqueue", SCRIPT,
                          ["events", str(RATE), str(events), "2", tag, ",".join(keys), str(HOT_KEYS), str(WARM_KEYS)],
                          threads=2, connections=48, limit_seconds=limit, stall_seconds=40),
            wrk_in_thread(results, "status page", stack.url + "/status", SCRIPT,
                          ["get", str(STATUS_RATE), str(status_requests), "2", tag],
                          threads=2, connections=32, limit_seconds=limit, stall_seconds=40),
        ]
        while any(t.is_alive() for t in threads):
            time.sleep(10)
            loads.append(os.getloadavg()[0])
            print(f"[{backend}]   {time.time() - started:.0f} s, load average {loads[-1]:.1f}", flush=True)
        load_seconds = time.time() - started
        cpu = stack.cpu_seconds()
        own = os.times()
        cpu["load generators (wrk, browsers)"] = round(own.user + own.system + own.children_user
                                                       + own.children_system - cpu_before, 1)
        timings = browsers.stop()
        print(f"[{backend}] load done in {load_seconds:.0f} s; draining due pages …", flush=True)
        drained = page_counts.drain(stack, DRAIN_SECONDS)
        health = watch.stop()
        figures = collect(stack, backend, results, timings, warm, health, drained, load_seconds, loads)
        figures["cpu_seconds"] = cpu
    finally:
        stack.close()
    return figures


def collect(stack: Stack, backend: str, results: dict, timings, warm: dict, health, drained: float,
            load_seconds: float, loads: list[float]) -> dict:
    problems: list[str] = []
    kinds: dict[str, dict] = {}
    for name, rate in (("events", RATE), ("status page", STATUS_RATE)):
        result = results.get(name, {})
        if "error" in result or not result:
            problems.append(f"{name}: {result.get('error', 'no result')}".splitlines()[0])
            kinds[name] = {"requests": 0, "failed": None, "p50_ms": None, "p99_ms": None, "rate": 0.0}
            continue
        failed = result["issued"] - result["accepted"]
        achieved = result["accepted"] / result["elapsed"] if result["elapsed"] else 0.0
        kinds[name] = {"requests": result["issued"], "failed": failed, "statuses": result.get("statuses", {}),
                       "p50_ms": result["p50_us"] / 1000, "p99_ms": result["p99_us"] / 1000,
                       "max_ms": result["max_us"] / 1000, "rate": achieved, "target_rate": rate,
                       "socket_errors": result["socket_errors"], "notes": result.get("notes", [])[:5]}
        if failed or result["socket_errors"]:
            problems.append(f"{name}: {failed} of {result['issued']} refused or failed, "
                            f"{result['socket_errors']} socket errors; {result.get('notes', [])[:3]}")
        if achieved < 0.95 * rate:
            problems.append(f"{name}: {achieved:.0f}/s, under 95% of {rate:.0f}/s")
    for kind, values in sorted(timings.latencies.items()):
        statuses = dict(timings.statuses[kind])
        failed = sum(n for code, n in statuses.items() if code == 0 or code >= 500)
        kinds[kind] = {"requests": len(values), "failed": failed, "statuses": statuses,
                       "p50_ms": percentile(values, 50) * 1000, "p99_ms": percentile(values, 99) * 1000,
                       "max_ms": max(values) * 1000,
                       "slowest": [{"ms": round(seconds * 1000), "at_s": at, "path": path}
                                   for seconds, at, path in timings.slowest.get(kind, [])]}
        if failed:
            problems.append(f"{kind}: {failed} failed ({timings.failures[:3]})")
    for kind, target in TARGETS_MS.items():
        if kind in kinds and kinds[kind]["p99_ms"] is not None:
            kinds[kind]["target_ms"] = target
            kinds[kind]["met"] = kinds[kind]["p99_ms"] < target
            if not kinds[kind]["met"]:
                problems.append(f"{kind}: p99 {kinds[kind]['p99_ms']:.0f} ms, target under {target:.0f} ms")

    events = results.get("events", {})
    triggers = events.get("triggers", 0) + warm["triggers"]
    # The accepted share of triggers: wrk counts answers, not which were triggers; every
    # event must be accepted for the run to pass, so then accepted triggers = triggers sent.
    counts = page_counts.events_in_database(stack)
    if events and events.get("accepted") == events.get("issued"):
        if counts["occurrences"] != triggers:
            problems.append(f"{triggers:,} triggers accepted but {counts['occurrences']:,} occurrences recorded")
    if counts["open_per_key"] > 1:
        problems.append(f"{counts['open_per_key']} open alerts share a dedup key")
    if counts["alerts_without_incident"]:
        problems.append(f"{counts['alerts_without_incident']} alerts that should have an incident have none")
    if counts["resolved"] > events.get("resolves", 0):
        problems.append(f"{counts['resolved']} alerts resolved by {events.get('resolves', 0)} resolves")

    pages = page_counts.pages(stack)
    kinds["event to page"] = {"requests": pages["incidents_paged"], "failed": pages["due_unsent"],
                              "p50_ms": pages["first_page_p50_s"] * 1000, "p99_ms": pages["first_page_p99_s"] * 1000,
                              "max_ms": pages["first_page_max_s"] * 1000, "target_ms": TARGETS_MS["event to page"]}
    kinds["event to page"]["met"] = kinds["event to page"]["p99_ms"] < TARGETS_MS["event to page"]
    if not kinds["event to page"]["met"]:
        problems.append(f"event to page: p99 {pages['first_page_p99_s']:.2f} s, target under 1 s")
    if pages["due_unsent"]:
        problems.append(f"{pages['due_unsent']} pages due and not sent after draining")
    if pages["duplicates"]:
        problems.append(f"{pages['duplicates']} provider requests no outbox row recorded (sent twice)")
    logs = stack.log_problems()
    if any(logs.values()):
        problems.append(f"in the logs: {logs}")
    answers = [s for s in health if s.status is not None]
    unhealthy = [s for s in health if s.status != 200]
    if unhealthy:
        problems.append(f"/healthz: {len(unhealthy)} of {len(health)} samples not 200 ({unhealthy[0].error[:200]})")

    figures = {
        "backend": backend, "date": f"{datetime.now(UTC):%Y-%m-%d}", "seconds": SECONDS, "load_seconds": load_seconds,
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "load_average": {"start": loads[0], "max": max(loads), "mean": statistics.mean(loads)},
        "gunicorn": f"-w {WORKERS} -k gthread --threads {THREADS}", "browsers": BROWSERS,
        "kinds": kinds, "events": {"triggers": triggers, "resolves": events.get("resolves", 0),
                                   "accepted": events.get("accepted", 0) + warm["accepted"],
                                   "sent": events.get("issued", 0) + warm["triggers"]},
        "database": counts, "pages": pages, "logs": logs, "drain_seconds": drained,
        "engine_caught_up": {"settled": stack.engine_settled, "seconds": round(stack.settle_seconds, 1)},
        "healthz": {"samples": len(health), "answered": len(answers), "not_200": len(unhealthy)},
        "problems": problems, "passed": not problems,
    }
    return figures


def report(figures: dict) -> str:
    backend = figures["backend"]
    lines = [f"{backend}: {figures['seconds']} s of load ({figures['load_seconds']:.0f} s with the tail), "
             f"gunicorn {figures['gunicorn']}, load average {figures['load_average']['start']:.1f} at the start, "
             f"{figures['load_average']['mean']:.1f} mean, {figures['load_average']['max']:.1f} at most",
             "", "| kind | requests | failed | rate/s | p50 ms | p99 ms | target | result |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for kind in ("events", "status page", "incident page", "incident poll", "list page", "list poll", "event to page"):
        row = figures["kinds"].get(kind)
        if row is None:
            continue
        rate = f"{row['rate']:,.0f}" if row.get("rate") else "—"
        target = f"p99 < {row['target_ms']:,.0f} ms" if row.get("target_ms") else "—"
        if row.get("target_rate"):
            target += f", ≥ 95% of {row['target_rate']:,.0f}/s"
        failed = "—" if row["failed"] is None else f"{row['failed']:,}"
        p50 = "—" if row["p50_ms"] is None else f"{row['p50_ms']:,.1f}"
        p99 = "—" if row["p99_ms"] is None else f"{row['p99_ms']:,.1f}"
        ok = row.get("met", True) and not row["failed"] and (not row.get("target_rate") or
                                                            row["rate"] >= 0.95 * row["target_rate"])
        lines.append(f"| {kind} | {row['requests']:,} | {failed} | {rate} | {p50} | {p99} | {target} | "
                     f"{'PASS' if ok else 'FAIL'} |")
    db, ev, pages = figures["database"], figures["events"], figures["pages"]
    lines += ["", f"Events: {ev['sent']:,} sent, {ev['accepted']:,} accepted ({ev['triggers']:,} triggers, "
              f"{ev['resolves']:,} resolves); in the database {db['alerts']:,} alerts holding {db['occurrences']:,} "
              f"occurrences ({db['occurrences'] - db['alerts']:,} folded), {db['incidents']:,} incidents, "
              f"{db['resolved']:,} alerts resolved.",
              f"Pages: {pages['rows_sent']:,} outbox rows sent ({pages['bundled']:,} of them inside a bundled SMS, "
              f"{pages['held_back']:,} held back by a throttle first), {pages['provider_requests']:,} requests "
              f"accepted by the fake Twilio and SMTP server, {pages['duplicates']} sent twice; "
              f"{pages['due_unsent']} due and unsent after {figures['drain_seconds']:.0f} s of draining. "
              f"Event to first page: p50 {pages['first_page_p50_s']:.2f} s, p99 {pages['first_page_p99_s']:.2f} s "
              f"over {pages['incidents_paged']:,} incidents (first page not held back).",
              f"CPU seconds used during the load: {figures.get('cpu_seconds')}.",
              f"Logs: {figures['logs']}; /healthz {figures['healthz']['samples'] - figures['healthz']['not_200']} "
              f"of {figures['healthz']['samples']} samples 200.",
              *[f"Slowest {kind} loads (ms at the second of the run it began, path): "
                + "; ".join(f"{s['ms']:,} at {s['at_s']:.0f} s {s['path']}" for s in figures["kinds"][kind]["slowest"])
                for kind in ("incident page", "list page") if figures["kinds"].get(kind, {}).get("slowest")],
              f"Result: {'PASS' if figures['passed'] else 'FAIL'}"]
    lines += [f"  - {p}" for p in figures["problems"]]
    return "\n".join(lines)


def main(backends: list[str]) -> bool:
    require("wrk", "wrk")
    backends = backends or ["sqlite", "postgresql"]
    keep = os.environ.get("LOAD_WORK")
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="firebreak-load-"))
    work.mkdir(parents=True, exist_ok=True)
    all_figures = []
    ok = True
    try:
        for backend in backends:
            try:
                figures = run_backend(backend, work)
            except BenchError as error:
                print(f"[{backend}] FAILED to run: {error}", flush=True)
                ok = False
                continue
            all_figures.append(figures)
            print()
            print(report(figures))
            print(flush=True)
            ok &= figures["passed"]
    finally:
        out = os.environ.get("LOAD_JSON")
        if out:
            Path(out).write_text(json.dumps(all_figures, indent=2, default=str))
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return ok


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv[1:]) else 1)
