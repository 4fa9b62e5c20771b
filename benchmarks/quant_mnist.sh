#!/usr/bin/env bash
# The quantization study of docs/quantization.md on MNIST (paper preset, 2,000 training / 500
# held-out images per seed from the official MNIST test files in ../shared/data/mnist, seeds 0-4,
# sleep 0 and 10 %), as three `lava-sleep quant` runs:
#   weights:  --w-bits 2,4,6,8 x --rounding stochastic,nearest,floor (w_scale full)
#   traces:   --trace-bits 3,4,5,6,7 at 8-bit weights, stochastic rounding
#   loihi:    8-bit pow2 weights (Loihi's format), --dw-frac-bits 7,16, stochastic rounding
# and the competitive preset on the embedded digits (one pass, as in docs/competitive.md's digits study;
# --w-bits 2,4,8 x --dw-frac-bits 16,24), and its MNIST check (4,000 / 1,000 images, 3 passes,
# seeds 0-2, 8 and 4 bits, no sleep).
# About 2 hours on 2 cores. Each study resumes where it stopped when run again with the same OUT.
#
#   benchmarks/quant_mnist.sh            # all five into runs/quant_*
#   ONLY=traces benchmarks/quant_mnist.sh
#
# Environment: DATA (default ../shared/data/mnist), OUT (default runs), LAVA_SLEEP (default:
# lava-sleep on PATH, else .venv/bin/lava-sleep),
# ONLY (weights | traces | loihi | competitive | competitive_mnist).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/mnist}
OUT=${OUT:-runs}
source benchmarks/lava_sleep_cmd.sh
MNIST=(--dataset "$DATA" --subset test --n-train 2000 --n-test 500 --preset paper --fractions 0,0.1
       --seeds 0,1,2,3,4 --batch 10 --no-progress)
want() { [[ -z "${ONLY:-}" || "${ONLY}" == "$1" ]]; }
if want weights; then
  "$CMD" quant "${MNIST[@]}" --w-bits 2,4,6,8 --rounding stochastic,nearest,floor --cell-baselines \
    --out "$OUT/quant_paper_mnist"
fi
if want traces; then
  "$CMD" quant "${MNIST[@]}" --w-bits 8 --trace-bits 3,4,5,6,7 --rounding stochastic --cell-baselines \
    --out "$OUT/quant_paper_mnist_traces"
fi
if want loihi; then
  "$CMD" quant "${MNIST[@]}" --w-scale pow2 --w-bits 8 --dw-frac-bits 7,16 --rounding stochastic \
    --out "$OUT/quant_paper_mnist_loihi"
fi
if want competitive_mnist; then
  "$CMD" quant --dataset "$DATA" --subset test --n-train 4000 --n-test 1000 --preset competitive --w-bits 4,8 \
    --rounding stochastic --fractions 0 --seeds 0,1,2 --batch 3 --no-progress --out "$OUT/quant_competitive_mnist"
fi
if want competitive; then
  "$CMD" quant --dataset digits --preset competitive --epochs 1 --w-bits 2,4,8 --dw-frac-bits 16,24 --rounding stochastic \
    --fractions 0,0.1 --seeds 0,1,2,3,4 --batch 10 --no-progress --out "$OUT/quant_competitive_digits"
fi
