#!/usr/bin/env bash
# The suite in two rounds: everything that does not wait on real time, in parallel
# (PYTEST_WORKERS, default auto); then the tests marked `realtime` one at a time, so no
# two of them share the machine's two cores. (pytest-xdist's --dist loadgroup would do
# it in one round, but with pytest 9 its groups are not applied: it sets the node id
# pytest 9 no longer reads.) Exits non-zero if either round fails; a round that
# selects nothing (pytest's exit 5) is not a failure unless both do. MARKS narrows
# both rounds with a marker expression (e.g. MARKS="not browser"); don't pass -m.
set -u
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
marks=${MARKS:+ and ($MARKS)}
"$python" -m pytest -n "${PYTEST_WORKERS:-auto}" -m "not realtime$marks" "$@"
first=$?
"$python" -m pytest -n 0 -m "realtime$marks" "$@"
second=$?
if [ "$first" -eq 5 ] && [ "$second" -eq 5 ]; then exit 5; fi
[ "$first" -eq 5 ] && first=0
[ "$second" -eq 5 ] && second=0
[ "$first" -ne 0 ] && exit "$first"
exit "$second"
