"""Fixtures of the fault scenarios (load/test_faults.py, `make faults`): each scenario
records its figures with `figures`; they are printed at the end of the session and
written to FAULTS_JSON when that is set."""
from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

RESULTS: dict[str, dict] = {}


@pytest.fixture
def figures(request) -> dict:
    found = {"started": datetime.now(UTC).isoformat(timespec="seconds"), "load_average": os.getloadavg()[0]}
    RESULTS[request.node.name] = found
    yield found
    found["load_average_end"] = os.getloadavg()[0]


@pytest.fixture
def work(tmp_path_factory, request) -> Path:
    keep = os.environ.get("FAULTS_WORK")
    if keep:
        path = Path(keep) / request.node.name
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp(request.node.name[:40])


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    terminalreporter.section("fault scenarios: figures")
    for name, found in RESULTS.items():
        terminalreporter.write_line(f"{name}:")
        for key, value in found.items():
            terminalreporter.write_line(f"    {key}: {value}")
    out = os.environ.get("FAULTS_JSON")
    if out:
        Path(out).write_text(json.dumps(RESULTS, indent=2, default=str))
