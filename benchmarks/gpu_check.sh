#!/usr/bin/env bash
# GPU check of the engine's pure torch path (benchmarks/gpu_check.py): correctness against the CPU
# engine, throughput at B = 64 ... 4096, launches per tick, the paper sweep's time on one GPU.
# Needs only torch and numpy (no lava-nc, no installed lava-sleep: the checkout is put on
# PYTHONPATH). About 4 minutes on one GPU (a 240 s budget guards the throughput rows).
#
#   benchmarks/gpu_check.sh                          # cuda, JSON into benchmarks/results/gpu_check.json
#   OUT=/tmp/out benchmarks/gpu_check.sh --seconds 3  # JSON into $OUT/gpu_check.json
#   benchmarks/gpu_check.sh --device cpu --quick     # a tiny run on the CPU
#
# Arguments are passed to gpu_check.py; a --json among them replaces the default one.
# Environment: OUT (folder of the JSON, default benchmarks/results), PYTHON (default: the
# checkout's .venv/bin/python when present, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
exec "$PYTHON" benchmarks/gpu_check.py --json "${OUT:-benchmarks/results}/gpu_check.json" "$@"
