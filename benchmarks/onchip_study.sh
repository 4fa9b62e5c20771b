#!/usr/bin/env bash
# What the on-chip sleep form costs (docs/model.md "On-chip sleep", README "Sleep on the
# neuromorphic target"): `lava-sleep onchip-study` on MNIST (3,000 training / 1,000 held-out images
# per seed from the official MNIST test files in ../shared/data/mnist, seeds 0-4, sleep 20 %,
# torch engine, float64), four studies:
#   paper:        the paper preset; host sleep = its log decay toward the neuron target
#   static_host:  the same with the host sleep's target set to the on-chip one (linear, static,
#                 no decay noise): which part of the difference is the target
#   half_rate:    the paper preset at half the decay rate (lambda 0.999985, on-chip block 512)
#   competitive:  the competitive preset (2,000 / 1,000 images, its 3 passes)
# About 40 minutes on 2 cores. Each study resumes where it stopped when run again with the same OUT.
#
#   benchmarks/onchip_study.sh               # all four into benchmarks/results/onchip_study_mnist*
#   ONLY=static_host benchmarks/onchip_study.sh
#
# Environment: DATA (default ../shared/data/mnist), OUT (default benchmarks/results), LAVA_SLEEP
# (default: lava-sleep on PATH, else .venv/bin/lava-sleep), ONLY (paper | static_host | half_rate |
# competitive).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/mnist}
OUT=${OUT:-benchmarks/results}
source benchmarks/lava_sleep_cmd.sh
COMMON=(--datasets mnist --data-dir "$DATA" --subset test --fraction 0.2 --seeds 0,1,2,3,4 --no-progress)
want() { [[ -z "${ONLY:-}" || "${ONLY}" == "$1" ]]; }
cfg=$(mktemp -d)
trap 'rm -rf "$cfg"' EXIT
printf '[sleep]\nform = "linear"\ntarget = "static"\ndecay_noise = 0.0\n' > "$cfg/static.toml"
printf '[sleep]\nlam = 0.999985\n' > "$cfg/half.toml"
if want paper; then
  "$CMD" onchip-study "${COMMON[@]}" --n-train 3000 --n-test 1000 --preset paper --out "$OUT/onchip_study_mnist"
fi
if want static_host; then
  "$CMD" onchip-study "${COMMON[@]}" --n-train 3000 --n-test 1000 --preset paper --config "$cfg/static.toml" \
    --out "$OUT/onchip_study_mnist_static_host"
fi
if want half_rate; then
  "$CMD" onchip-study "${COMMON[@]}" --n-train 3000 --n-test 1000 --preset paper --config "$cfg/half.toml" \
    --block 512 --out "$OUT/onchip_study_mnist_half_rate"
fi
if want competitive; then
  "$CMD" onchip-study "${COMMON[@]}" --n-train 2000 --n-test 1000 --preset competitive \
    --out "$OUT/onchip_study_mnist_competitive"
fi
