# Sourced by the benchmark shell scripts: sets CMD to the lava-sleep to run: $LAVA_SLEEP when set,
# else lava-sleep on PATH, else the checkout's .venv/bin/lava-sleep (run from the repository root).
if [[ -n "${LAVA_SLEEP:-}" ]]; then CMD=$LAVA_SLEEP
elif command -v lava-sleep >/dev/null; then CMD=lava-sleep
else CMD=.venv/bin/lava-sleep; fi
