#!/usr/bin/env bash
# Sensitivity of the continual-learning result (docs/continual.md, "Sensitivity"), STDP network only,
# split MNIST, seeds 0-2 (about 30 minutes on 2 cores for all three):
#   after4x:   the after-task episode 4x as long as the default (355,556 steps, 31 % sleep share)
#   no_stdp:   STDP off during sleep (learn_in_sleep = false): sleep is noise and decay only
#   silent:    no noise during sleep (sigma_sleep = 0): an after-task "rest" with the input silenced and
#              (almost) no spikes, the same length as the default after-task episode
# Each study resumes where it stopped when run again with the same OUT.
#
#   benchmarks/continual_sensitivity.sh              # all three into runs/continual_mnist_*
#   ONLY=no_stdp benchmarks/continual_sensitivity.sh
#
# Environment: DATA (default ../shared/data/mnist), OUT (default runs), LAVA_SLEEP (default:
# lava-sleep on PATH, else .venv/bin/lava-sleep), ONLY (after4x | no_stdp | silent).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/mnist}
OUT=${OUT:-runs}
source benchmarks/lava_sleep_cmd.sh
BASE=(continual --dataset mnist --data-dir "$DATA" --subset test --models stdp --seeds 0,1,2 --no-progress)
want() { [[ -z "${ONLY:-}" || "${ONLY}" == "$1" ]]; }
if want after4x; then
  "$CMD" "${BASE[@]}" --conditions none,after --after-steps 355556 --out "$OUT/continual_mnist_after4x"
fi
if want no_stdp; then
  toml=$(mktemp --suffix=.toml)
  printf '[stdp]\nlearn_in_sleep = false\n' > "$toml"
  "$CMD" "${BASE[@]}" --conditions none,within,after --config "$toml" --out "$OUT/continual_mnist_no_stdp_in_sleep"
  rm -f "$toml"
fi
if want silent; then
  toml=$(mktemp --suffix=.toml)
  printf '[neuron]\nsigma_sleep = 0.0\n' > "$toml"
  "$CMD" "${BASE[@]}" --conditions none,after --config "$toml" --out "$OUT/continual_mnist_silent_rest"
  rm -f "$toml"
fi
