"""Run the benchmarks: every `bench/<name>.py` with a `main()`, or the ones named.

    python -m bench            # all of them, in name order
    python -m bench ingest     # just bench/ingest.py

Exits 1 when a benchmark reports a missed target (its `main()` returned False).
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover() -> list[str]:
    return sorted(info.name for info in pkgutil.iter_modules([str(HERE)])
                  if not info.name.startswith("_") and not info.ispkg)


def run(names: list[str]) -> int:
    known = discover()
    unknown = [name for name in names if name not in known]
    if unknown:
        print(f"No benchmark named {', '.join(unknown)}; there are: {', '.join(known)}", file=sys.stderr)
        return 2
    failed = []
    for name in names or known:
        module = importlib.import_module(f"bench.{name}")
        main = getattr(module, "main", None)
        if not callable(main):
            continue
        print(f"=== bench/{name}.py", flush=True)
        started = time.monotonic()
        ok = main()
        print(f"=== bench/{name}.py: {'targets met' if ok is not False else 'TARGETS MISSED'} "
              f"({time.monotonic() - started:.0f} s)\n", flush=True)
        if ok is False:
            failed.append(name)
    if failed:
        print(f"Targets missed in: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
