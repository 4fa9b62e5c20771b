#!/usr/bin/env bash
# Usage: scripts/bootstrap.sh [--py3] COMMAND [ARG...]
#
# Create or reuse a virtual environment, install the project with its dev extra when
# pyproject.toml changed (a hash stamp inside the environment), then run COMMAND inside it.
#
#   (default)  .venv with a Python 3.10 interpreter: lava-nc 0.10 needs >=3.10,<3.11. The
#              whole project, Lava included (the README's `make demo` and `make test`).
#   --py3      .venv-py3 with the plain `python3` when it is 3.11 or newer: everything but
#              the Lava backends (lava-nc is a dependency on Python 3.10 only). torch is
#              pinned to $LAVA_SLEEP_PY3_TORCH (default torch==2.13.0: this machine
#              kind keeps that release's CPU wheel for Python 3.11 on disk, ~190 MB, where a
#              plain `torch` would take a multi-GB CUDA build). Exit 2 without python3 >= 3.11.
set -euo pipefail
cd "$(dirname "$0")/.."
LANE=py310
if [ "${1:-}" = "--py3" ]; then
    LANE=py3
    shift
fi
VENV=.venv
if [ "$LANE" = py3 ]; then
    VENV=.venv-py3
fi
PY3_TORCH="${LAVA_SLEEP_PY3_TORCH:-torch==2.13.0}"

find_python310() {
    local cand
    for cand in python3.10 python3 python; do
        if command -v "$cand" >/dev/null 2>&1 && \
           "$cand" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' 2>/dev/null; then
            command -v "$cand"; return 0
        fi
    done
    if command -v pyenv >/dev/null 2>&1; then
        local v
        for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.[0-9]+)?$' | sort -t. -k3 -n -r); do
            cand="$(pyenv prefix "$v" 2>/dev/null)/bin/python"
            if [ -x "$cand" ]; then echo "$cand"; return 0; fi
        done
    fi
    for cand in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10*/bin/python /usr/local/bin/python3.10 /usr/bin/python3.10; do
        if [ -x "$cand" ]; then echo "$cand"; return 0; fi
    done
    return 1
}

# The plain python3 (then python3.13, 3.12, 3.11) when it is 3.11 or newer.
find_python3_new() {
    local cand
    for cand in python3 python3.13 python3.12 python3.11; do
        if command -v "$cand" >/dev/null 2>&1 && \
           "$cand" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else 1)' 2>/dev/null; then
            command -v "$cand"; return 0
        fi
    done
    return 1
}

py_version() {  # "3.11" for an interpreter, empty if it does not run
    "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}

if [ "$LANE" = py3 ]; then
    if ! PY=$(find_python3_new); then
        echo "error: the --py3 lane needs python3 >= 3.11 on PATH (the non-Lava lane runs on the machine's python3)" >&2
        exit 2
    fi
    # recreate when the machine's python3 moved to another minor version
    if [ ! -x "$VENV/bin/python" ] || [ "$(py_version "$VENV/bin/python")" != "$(py_version "$PY")" ]; then
        rm -rf "$VENV"
        "$PY" -m venv "$VENV"
    fi
elif [ ! -x "$VENV/bin/python" ] || \
   ! "$VENV/bin/python" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' 2>/dev/null; then
    if ! PY=$(find_python310); then
        echo "error: lava-sleep needs Python 3.10 (lava-nc 0.10 requires >=3.10,<3.11); install it, e.g. 'pyenv install 3.10' or 'apt-get install python3.10 python3.10-venv', then rerun" >&2
        exit 2
    fi
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
fi

# Reinstall when pyproject.toml changed (for the py3 lane also when its torch choice changed).
STAMP="$VENV/.lava-sleep-installed"
if [ "$LANE" = py3 ]; then
    HASH=$( (cat pyproject.toml; echo "py3 $PY3_TORCH") | sha256sum | cut -d' ' -f1)
else
    HASH=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
fi
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$HASH" ]; then
    echo "bootstrap: installing lava-sleep and its dependencies into $VENV (first run takes a few minutes)" >&2
    "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
    if [ "$LANE" = py3 ]; then
        # torch pinned in the same resolve as the project, so that no dependency
        # (norse -> torchvision) pulls a newer CUDA build of torch instead
        "$VENV/bin/python" -m pip install --quiet -e ".[dev]" "$PY3_TORCH" >&2
    else
        "$VENV/bin/python" -m pip install --quiet -e ".[dev]" >&2
    fi
    echo "$HASH" > "$STAMP"
fi

export PATH="$PWD/$VENV/bin:$PATH"
exec "$@"
