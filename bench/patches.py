"""What each framework patch (app/patches.py) gains on ingestion, measured side by side.

The ingestion benchmark's storm and unique scenarios (bench/ingest.py: wrk against
`POST /v2/enqueue` under gunicorn, each run on a fresh database) run with every patch
on (FRAMEWORK_PATCHES=all), with none, and with all but one, for each patch, in
interleaved rounds. A patch's gain is the median over rounds of the rate with all
patches against the rate with all but it; a patch that gains under MIN_GAIN on both
scenarios is a candidate for removal (issue: fewer patches, each justified).

    python -m bench patches     (BENCH_ROUNDS=3, BENCH_EVENTS=3000 per run by default)

The status page's answers come from its cache without Flask (app/statuspage/cache.py),
so the request patches cannot change them; `gc_freeze` is for the status page's
tail latency: `FRAMEWORK_PATCHES=all` against `FRAMEWORK_PATCHES=ensure_sync,limiter`
with `python -m bench statuspage` shows it.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from app.patches import PATCHES
from bench._harness import BenchError, Gunicorn, environment, in_workdir, median
from bench.ingest import BENCH_KEY, GUNICORN, SECRET, check, count_rows, make_template, one_run

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
EVENTS = int(os.environ.get("BENCH_EVENTS", "3000"))
SCENARIOS = ("storm", "unique")
MIN_GAIN = 0.05
SETTINGS = {"all": "all", "none": "none",
            **{f"all but {name}": ",".join(other for other in PATCHES if other != name) for name in PATCHES}}


def main() -> bool:
    return in_workdir("firebreak-bench-patches-", _main)


def _main(work: Path) -> bool:
    template = work / "template.db"
    service_id = make_template(template, work)
    log = work / "gunicorn.log"
    print(f"{EVENTS:,} events per run, {ROUNDS} rounds, gunicorn {' '.join(GUNICORN)}, SQLite", flush=True)
    rates: dict[tuple[str, str], list[float]] = {}
    problems: list[str] = []
    for round_ in range(1, ROUNDS + 1):
        for scenario in SCENARIOS:
            for label, setting in SETTINGS.items():
                database = work / "run.db"
                shutil.copyfile(template, database)
                env = environment(SECRET_KEY=SECRET, DATABASE_URL=f"sqlite:///{database}", FRAMEWORK_PATCHES=setting,
                                  FIREBREAK_INSTANCE_PATH=str(work / "instance"))
                try:
                    with Gunicorn("wsgi:app", GUNICORN, env, log) as server:
                        result = one_run(server.url, scenario, BENCH_KEY, f"p{round_}", EVENTS)
                        wrong = check(scenario, result, count_rows(database, service_id))
                except BenchError as error:
                    result, wrong = {"events_per_s": 0.0}, [str(error).splitlines()[0]]
                problems += [f"{scenario}, {label}, round {round_}: {p}" for p in wrong]
                rates.setdefault((scenario, label), []).append(result["events_per_s"])
                print(f"  round {round_}: {scenario:<6} {label:<22} {result['events_per_s']:,.0f}/s", flush=True)
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{database}{suffix}").unlink(missing_ok=True)

    def gain(scenario: str, label: str) -> float:
        return median([a / b - 1 if b else float("nan")
                       for a, b in zip(rates[(scenario, "all")], rates[(scenario, label)])])

    lines = ["| patch | storm: gain | unique: gain | keep (≥ 5% on either) |", "| --- | ---: | ---: | --- |"]
    for name in PATCHES:
        gains = [gain(scenario, f"all but {name}") for scenario in SCENARIOS]
        lines.append(f"| {name} | {gains[0]:+.1%} | {gains[1]:+.1%} | {'yes' if max(gains) >= MIN_GAIN else 'no'} |")
    lines.append(f"| all, against none | {gain('storm', 'none'):+.1%} | {gain('unique', 'none'):+.1%} | |")
    print()
    print("\n".join(lines))
    print()
    print("Rates (median events/s): " + "; ".join(
        f"{scenario} {label} {median(values):,.0f}" for (scenario, label), values in rates.items()
        if label in ("all", "none")))
    for problem in problems:
        print(f"  - {problem}")
    return not problems
