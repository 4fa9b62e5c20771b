#!/usr/bin/env bash
# The second CI lane (called by `make test` after the Python 3.10 lane): the test suite
# without Lava on the machine's plain python3 when it is 3.11 or newer, in .venv-py3
# (scripts/bootstrap.sh --py3). lava-nc 0.10 installs only on Python 3.10, so this lane
# proves that everything else (NumPy oracle, torch engine, pipeline, SG, NIR export) installs
# and works on a supported Python. Skipped, with a line saying so, without python3 >= 3.11.
#
# Left out: tests marked `lava` (tests/lava/, the Lava tutorial) and what reaches lava-nc in
# another way; extra pytest arguments are passed on.
set -euo pipefail
cd "$(dirname "$0")/.."
found=""
for cand in python3 python3.13 python3.12 python3.11; do
    if command -v "$cand" >/dev/null 2>&1 && \
       "$cand" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else 1)' 2>/dev/null; then
        found=$cand
        break
    fi
done
if [ -z "$found" ]; then
    echo "test-py3: skipped (no python3 >= 3.11 on PATH)" >&2
    exit 0
fi
start=$SECONDS
rc=0
./scripts/bootstrap.sh --py3 python -m pytest -m "not lava" --ignore=tests/lava "$@" || rc=$?
echo "test-py3: Python 3.11+ lane finished in $((SECONDS - start)) s (exit $rc)" >&2
exit "$rc"
