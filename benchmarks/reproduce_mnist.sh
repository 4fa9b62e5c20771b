#!/usr/bin/env bash
# Reproduce the paper's design on MNIST (MODEL.md 8): the paper network (15x15 inputs, 200 E,
# 50 I), sleep fractions 0, 0.1, 0.2, 0.3, 0.5, five seeds, 8,000 training / 2,000 held-out images
# split (per seed, stratified) from the official MNIST test files in ../shared/data/mnist.
#
#   benchmarks/reproduce_mnist.sh                     # the full sweep (torch engine, batched)
#   TINY=1 benchmarks/reproduce_mnist.sh              # a 1-minute smoke version of the same pipeline
#   benchmarks/reproduce_mnist.sh --model stdp,sg     # extra options go to `lava-sleep sweep`
#
# Environment: DATA (default ../shared/data/mnist), OUT (default runs/reproduce_mnist, or
# runs/reproduce_mnist_tiny with TINY=1), LAVA_SLEEP (default: lava-sleep on PATH, else
# .venv/bin/lava-sleep). The sweep resumes where it stopped when run again with the same OUT.
# Results: $OUT/summary.md (mean, sd, 95 % CI per fraction), $OUT/summary.json, $OUT/runs.jsonl,
# $OUT/plots/accuracy_vs_sleep.png, one run folder per (fraction, seed) under $OUT/runs/.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/mnist}
source benchmarks/lava_sleep_cmd.sh
if [[ "${TINY:-0}" == "1" ]]; then
  OUT=${OUT:-runs/reproduce_mnist_tiny}
  SIZE=(--n-train 200 --n-test 100) FRACTIONS=0,0.2 SEEDS=0,1
else
  OUT=${OUT:-runs/reproduce_mnist}
  SIZE=(--n-train 8000 --n-test 2000) FRACTIONS=0,0.1,0.2,0.3,0.5 SEEDS=0,1,2,3,4
fi
exec "$CMD" sweep --datasets "$DATA" --subset test "${SIZE[@]}" --preset paper \
  --fractions "$FRACTIONS" --seeds "$SEEDS" --backend torch --batch 25 --out "$OUT" "$@"
