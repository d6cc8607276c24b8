#!/usr/bin/env python3
"""The figures of a `make hostile` run, as a table.

    python scripts/hostile_report.py build/hostile.jsonl build/hostile.xml

The first file holds what the hostile tests counted (one JSON line per test from
tests/hostile.py's `tally`: requests sent, generated examples, answers by status
class, seconds), and the run's start (a line {"started": <epoch seconds>}); the second
is pytest's JUnit XML, for every test's outcome and time, counted or not. One row per
test file, then the totals and the wall-clock time.
"""
from __future__ import annotations

import json
import sys
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

CLASSES = ("2xx", "3xx", "4xx", "5xx")


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0].rsplit("/", 1)[-1]


def read(tally_path: Path, junit_path: Path) -> tuple[dict, float | None]:
    rows: dict[str, dict] = defaultdict(lambda: {"tests": 0, "passed": 0, "failed": 0, "skipped": 0, "seconds": 0.0,
                                                 "requests": 0, "examples": 0, **{c: 0 for c in CLASSES}})
    started = None
    if tally_path.exists():
        for line in tally_path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if "started" in entry:
                started = entry["started"]
                continue
            row = rows[_file_of(entry["test"])]
            row["requests"] += entry["requests"]
            row["examples"] += entry["examples"]
            for name, count in entry["statuses"].items():
                row[name] = row.get(name, 0) + count
    if junit_path.exists():
        for case in ET.parse(junit_path).getroot().iter("testcase"):
            row = rows[_file_of(case.get("file") or case.get("classname", "").replace(".", "/") + ".py")]
            row["tests"] += 1
            row["seconds"] += float(case.get("time") or 0)
            if case.find("failure") is not None or case.find("error") is not None:
                row["failed"] += 1
            elif case.find("skipped") is not None:
                row["skipped"] += 1
            else:
                row["passed"] += 1
    return dict(rows), started


def table(rows: dict, started: float | None) -> str:
    head = ["file", "tests", "passed", "failed", "skipped", "requests", "examples", *CLASSES, "test s"]
    body = []
    total = defaultdict(float)
    for name in sorted(rows):
        row = rows[name]
        body.append([name, *(f"{row[k]:,}" for k in head[1:-1]), f"{row['seconds']:.0f}"])
        for key in head[1:-1] + ["seconds"]:
            total[key] += row[key]
    body.append(["total", *(f"{int(total[k]):,}" for k in head[1:-1]), f"{total['seconds']:.0f}"])
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = []
    for n, row in enumerate([head, *body]):
        lines.append("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
        if n == 0 or n == len(body) - 1:
            lines.append("  ".join("-" * w for w in widths))
    if started is not None:
        lines.append(f"wall clock: {time.time() - started:.0f} s")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    rows, started = read(Path(argv[1]), Path(argv[2]))
    if not rows:
        print("no figures: did the run start?", file=sys.stderr)
        return 1
    print(table(rows, started))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
