"""`python -m bench [name …]`: run the benchmarks named, or every module in bench/ with a main()."""
from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def main(argv: list[str]) -> int:
    found = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))
    modules = {name: importlib.import_module(f"bench.{name}") for name in found}
    runnable = [name for name, module in modules.items() if callable(getattr(module, "main", None))]
    chosen = argv or runnable
    unknown = [name for name in chosen if name not in runnable]
    if unknown:
        print(f"No benchmark {', '.join(unknown)}; there are: {', '.join(runnable)}", file=sys.stderr)
        return 2
    for name in chosen:
        print(f"== bench.{name}", flush=True)
        modules[name].main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
