"""Ingestion: events per second through `POST /v2/enqueue` under gunicorn, beside a
minimal Flask JSON endpoint served by the same gunicorn settings in the same run.

Scenarios, each a fixed number of events from wrk with concurrent connections
(the storm 10,000, unique and mix 3,000; see EVENTS):
  unique  every event has its own dedup key: an alert and an incident each
  storm   every event has one dedup key: one alert, one incident, a counter
  mix     70% repeats of 50 keys, 20% unique keys, 10% resolves of the 50 keys

Targets (from the issue): the storm yields 1 alert and 1 incident; every scenario at
50% or more of the minimal endpoint's rate and at least 1,000 events/s on SQLite;
each accepted event fully processed (alert and incident written) by the time it is
answered, with no queue left to drain. The database is checked the moment wrk
returns, while the server still runs: wrk returns only once every event it sent
was answered, so what is not in the database by then was never done.

Rounds (BENCH_ROUNDS, default 3) interleave the minimal endpoint and the scenarios,
each on a fresh gunicorn (and for Firebreak a fresh database), after a warm-up;
the table shows medians and the ratio is the median of each round's ratio, since
the machine is shared and absolute figures drift.
"""
from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from bench._harness import BIN, ROOT, BenchError, Gunicorn, environment, in_workdir, median, run_wrk

SCRIPT = Path(__file__).resolve().parent / "enqueue.lua"
# Events per run: the storm is the 10,000; the others are shorter so the whole
# benchmark stays within a few minutes. BENCH_EVENTS sets one number for every run.
EVENTS = {"minimal": 10_000, "unique": 3_000, "storm": 10_000, "mix": 3_000}
if os.environ.get("BENCH_EVENTS"):
    EVENTS = dict.fromkeys(EVENTS, int(os.environ["BENCH_EVENTS"]))
WARMUP_EVENTS = int(os.environ.get("BENCH_WARMUP_EVENTS", "500"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WRK_THREADS = int(os.environ.get("BENCH_WRK_THREADS", "2"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
# The same settings serve both apps. Chosen by measuring (docs/benchmarks.md, "Ingestion"): on
# SQLite, which takes one writer at a time, one process ingests fastest and with the
# shortest tails; a second process only adds lock hand-offs between processes.
GUNICORN = shlex.split(os.environ.get("BENCH_GUNICORN", "--workers 1 --worker-class gthread --threads 16"))
SECRET = "bench-secret-key-not-for-production"
BENCH_KEY = "be9c4f7a2b3d4c5e8f9a0b1c2d3e4f5a"
WARMUP_KEY = "aa1c9f7a2b3d4c5e8f9a0b1c2d3e4f5a"
SCENARIOS = ("unique", "storm", "mix")
MIN_RATIO = 0.5
MIN_RATE = 1000.0


def make_template(path: Path, work: Path) -> int:
    """A migrated database with the benchmark's service and a warm-up service."""
    env = environment(SECRET_KEY=SECRET, DATABASE_URL=f"sqlite:///{path}", FIREBREAK_INSTANCE_PATH=str(work / "instance"))
    migrated = subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                              capture_output=True, text=True)
    if migrated.returncode:
        raise BenchError(f"migrating the benchmark database failed:\n{migrated.stdout}{migrated.stderr}")
    os.environ["SECRET_KEY"] = SECRET  # create_app reads it; nothing is written to instance/
    from app import create_app
    from app.audit.service import Actor
    from app.extensions import db
    from app.services import service as services

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": SECRET})
    with app.app_context():
        actor = Actor.system("benchmark")
        ids = {}
        for name, key in (("checkout-api", BENCH_KEY), ("warm-up", WARMUP_KEY)):
            service = services.create_service(actor, name=name, with_key=False)
            services.add_integration_key(actor, service, name="benchmark", key=key)
            ids[name] = service.id
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return ids["checkout-api"]


def count_rows(path: Path, service_id: int) -> dict:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        one = lambda sql: conn.execute(sql, (service_id,)).fetchone()[0]  # noqa: E731
        rows = {
            "alerts": one("SELECT count(*) FROM alerts WHERE service_id = ?"),
            "occurrences": one("SELECT coalesce(sum(occurrences), 0) FROM alerts WHERE service_id = ?"),
            "incidents": one("SELECT count(*) FROM incidents WHERE service_id = ?"),
            "alerts_without_incident": one(
                "SELECT count(*) FROM alerts WHERE service_id = ? AND incident_id IS NULL"),
            "resolved_alerts": one("SELECT count(*) FROM alerts WHERE service_id = ? AND status = 'resolved'"),
            "unique_alerts": one("SELECT count(*) FROM alerts WHERE service_id = ? AND dedup_key LIKE 'm-%'"),
            "open_per_key": one("SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM alerts "
                                "WHERE service_id = ? AND status != 'resolved' GROUP BY dedup_key)"),
        }
    conn.close()
    return rows


def check(scenario: str, sent: dict, rows: dict) -> list[str]:
    """What is wrong with the database after a run, as sentences (none: all good)."""
    problems = []
    if sent["rejected"] or sent["accepted"] != sent["issued"]:
        first = next((note for note in sent.get("notes", []) if note.startswith("answer ")), "")
        problems.append(f"{sent['rejected']} of {sent['issued']} events were refused" + (f" ({first})" if first else ""))
    if rows["alerts_without_incident"]:
        problems.append(f"{rows['alerts_without_incident']} alerts have no incident")
    if rows["occurrences"] != sent["triggers"]:
        problems.append(f"{sent['triggers']} triggers answered but {rows['occurrences']} occurrences recorded")
    if scenario == "unique":
        if not rows["alerts"] == rows["incidents"] == sent["accepted"]:
            problems.append(f"{sent['accepted']} accepted but {rows['alerts']} alerts, {rows['incidents']} incidents")
    elif scenario == "storm":
        if (rows["alerts"], rows["incidents"]) != (1, 1):
            problems.append(f"the storm made {rows['alerts']} alerts and {rows['incidents']} incidents, not 1 and 1")
    else:
        if rows["alerts"] != rows["incidents"]:
            problems.append(f"{rows['alerts']} alerts but {rows['incidents']} incidents")
        if rows["unique_alerts"] != sent["uniques"]:
            problems.append(f"{sent['uniques']} unique triggers but {rows['unique_alerts']} alerts for them")
        if rows["resolved_alerts"] > sent["resolves"]:
            problems.append(f"{rows['resolved_alerts']} alerts resolved by {sent['resolves']} resolves")
        if rows["open_per_key"] > 1:
            problems.append(f"{rows['open_per_key']} open alerts share one dedup key")
    return problems


def one_run(url: str, scenario: str, key: str, tag: str, events: int) -> dict:
    """A warm-up (unique keys on the warm-up service), then the measured run."""
    run_wrk(url + "/v2/enqueue", SCRIPT, ["unique", WARMUP_KEY, str(WARMUP_EVENTS), str(WRK_THREADS), f"w{tag}"],
            threads=WRK_THREADS, connections=CONNECTIONS)
    return run_wrk(url + "/v2/enqueue", SCRIPT, [scenario, key, str(events), str(WRK_THREADS), tag],
                   threads=WRK_THREADS, connections=CONNECTIONS)


def fmt_ms(us: float) -> str:
    return f"{us / 1000:.1f}"


def main() -> bool:
    return in_workdir("firebreak-bench-", _main)


def _main(work: Path) -> bool:
    template = work / "template.db"
    service_id = make_template(template, work)
    log = work / "gunicorn.log"
    settings = " ".join(GUNICORN)
    print(f"Events per run: {', '.join(f'{name} {n:,}' for name, n in EVENTS.items())}; {ROUNDS} rounds; "
          f"wrk -t{WRK_THREADS} -c{CONNECTIONS}; gunicorn {settings}; SQLite", flush=True)

    results: dict[str, list[dict]] = {name: [] for name in ("minimal", *SCENARIOS)}
    failures: list[str] = []
    for round_ in range(1, ROUNDS + 1):
        env = environment(SECRET_KEY=SECRET, FIREBREAK_INSTANCE_PATH=str(work / "instance"))
        with Gunicorn("bench._minimal:app", GUNICORN, env, log) as server:
            result = one_run(server.url, "unique", BENCH_KEY, f"r{round_}b", EVENTS["minimal"])
        results["minimal"].append(result)
        print(f"  round {round_}: minimal endpoint {result['events_per_s']:,.0f}/s", flush=True)
        for scenario in SCENARIOS:
            database = work / f"{scenario}-{round_}.db"
            shutil.copyfile(template, database)
            env = environment(SECRET_KEY=SECRET, DATABASE_URL=f"sqlite:///{database}",
                              FIREBREAK_INSTANCE_PATH=str(work / "instance"))
            try:
                with Gunicorn("wsgi:app", GUNICORN, env, log) as server:
                    result = one_run(server.url, scenario, BENCH_KEY, f"r{round_}", EVENTS[scenario])
                    # wrk has returned: every event it sent is answered. Read now, server still up.
                    rows = count_rows(database, service_id)
                result["rows"] = rows
                result["problems"] = check(scenario, result, rows)
            except BenchError as error:
                result = {"events_per_s": 0.0, "p50_us": float("nan"), "p99_us": float("nan"),
                          "accepted": 0, "rows": None, "problems": [str(error).splitlines()[0]]}
            results[scenario].append(result)
            failures += [f"{scenario} round {round_}: {p}" for p in result["problems"]]
            rows = result["rows"] or {"alerts": 0, "incidents": 0, "occurrences": 0}
            print(f"  round {round_}: {scenario:<7} {result['events_per_s']:,.0f}/s  "
                  f"({rows['alerts']:,} alerts, {rows['incidents']:,} incidents, {rows['occurrences']:,} occurrences)"
                  + (f"  {'; '.join(result['problems'])}" if result["problems"] else ""), flush=True)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{database}{suffix}").unlink(missing_ok=True)

    rows_out = []
    base_rates = [r["events_per_s"] for r in results["minimal"]]
    rows_out.append(("minimal Flask endpoint", median(base_rates), results["minimal"], None, "—", None))
    all_ok = not failures
    for scenario in SCENARIOS:
        runs = results[scenario]
        rate = median([r["events_per_s"] for r in runs])
        ratio = median([r["events_per_s"] / b for r, b in zip(runs, base_rates)])
        correct = not any(r["problems"] for r in runs)
        ok = correct and ratio >= MIN_RATIO and rate >= MIN_RATE
        all_ok &= ok
        target = f"≥ {MIN_RATIO:.0%} and ≥ {MIN_RATE:,.0f}/s" + (", 1 alert, 1 incident" if scenario == "storm" else "")
        rows_out.append((scenario, rate, runs, ratio, target, ok))

    header = "| scenario | events/s | p50 ms | p99 ms | ratio to minimal | target | result |"
    lines = [header, "| --- | ---: | ---: | ---: | ---: | --- | --- |"]
    for name, rate, runs, ratio, target, ok in rows_out:
        p50 = median([r["p50_us"] for r in runs])
        p99 = median([r["p99_us"] for r in runs])
        lines.append(f"| {name} | {rate:,.0f} | {fmt_ms(p50)} | {fmt_ms(p99)} | "
                     f"{'1.00' if ratio is None else f'{ratio:.2f}'} | {target} | "
                     f"{'' if ok is None else ('PASS' if ok else 'FAIL')} |")
    print()
    print("\n".join(lines))
    print()
    storm = results["storm"][-1]
    if storm["rows"]:
        print(f"Storm, last round: {storm['rows']['alerts']} alert, {storm['rows']['incidents']} incident, "
              f"{storm['rows']['occurrences']:,} occurrences for {storm['accepted']:,} accepted events.")
    print("Every run: the database, read the moment wrk returned (all answers in, server still up), "
          + ("held every accepted event: nothing left to drain." if not failures else "was missing work:"))
    for failure in failures:
        print(f"  - {failure}")
    machine = f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    print(f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine}.")
    summary = {"date": f"{datetime.now(UTC):%Y-%m-%d}", "machine": machine, "gunicorn": settings,
               "wrk": f"-t{WRK_THREADS} -c{CONNECTIONS}", "events": EVENTS, "rounds": ROUNDS,
               "results": {name: [{k: v for k, v in r.items() if k != "notes"} for r in runs]
                           for name, runs in results.items()}}
    out = os.environ.get("BENCH_JSON")
    if out:
        Path(out).write_text(json.dumps(summary, indent=2))
    return all_ok


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
