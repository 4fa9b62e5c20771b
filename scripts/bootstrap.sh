#!/usr/bin/env bash
# Create or reuse .venv with a Python 3.10 interpreter (lava-nc 0.10 needs
# >=3.10,<3.11), install the project with its dev extra when pyproject.toml
# changed, then run the given command inside the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv

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

if [ ! -x "$VENV/bin/python" ] || \
   ! "$VENV/bin/python" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' 2>/dev/null; then
    if ! PY=$(find_python310); then
        echo "error: lava-sleep needs Python 3.10 (lava-nc 0.10 requires >=3.10,<3.11); install it, e.g. 'pyenv install 3.10' or 'apt-get install python3.10 python3.10-venv', then rerun" >&2
        exit 2
    fi
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
fi

STAMP="$VENV/.lava-sleep-installed"
HASH=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$HASH" ]; then
    echo "bootstrap: installing lava-sleep and its dependencies into $VENV (first run takes a few minutes)" >&2
    "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
    "$VENV/bin/python" -m pip install --quiet -e ".[dev]" >&2
    echo "$HASH" > "$STAMP"
fi

export PATH="$PWD/$VENV/bin:$PATH"
exec "$@"
