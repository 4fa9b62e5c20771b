"""Wall time of a quantization-study grid (issue 14's speed target: 7 weight widths x 3 rounding
modes x 2 sleep settings x 5 seeds on the quick preset in <= 60 minutes on 2 CPU cores).

Runs ``lava-sleep quant`` in this process on the embedded digits with the command's defaults
(quick preset, --w-bits 2-8, all three rounding modes, sleep 0 and 10 %, w_scale full, seeds 0-4,
torch engine, batches of 16) plus the float64 reference cell, into ``--out`` (a fresh folder: the
timing covers every run). Writes ``{machine, config, wall_s, runs, cells, target_s, met,
highlights}`` to ``--json``; ``highlights`` are the float cell's accuracies and, per rounding
mode, the smallest weight width within 1 pp of float (linear readout, no sleep).

Usage::

    .venv/bin/python benchmarks/quant_grid.py --out runs/quant_quick_digits \\
        [--json benchmarks/results/quant_grid_quick_digits.json] [--seeds 0,1,2,3,4]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from study_timing import run_timed  # benchmarks/: the script's own folder is on sys.path

from lava_sleep.io import atomic_write_bytes

TARGET_S = 3600.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="study folder (must not exist: the timing covers every run)")
    ap.add_argument("--json", default="benchmarks/results/quant_grid_quick_digits.json")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    args = ap.parse_args(argv)
    out = Path(args.out)
    argv_cli = ["quant", "--dataset", "digits", "--preset", "quick", "--seeds", args.seeds, "--no-progress",
                "--out", str(out)]
    done = run_timed("quant_grid", argv_cli, out)
    if isinstance(done, int):
        return done
    s, wall, machine = done
    runs = sum(r["n"] for r in s["rows"])
    fl = {r["fraction"]: r for r in s["rows"] if r["cell"] == "float"}
    highlights = {
        "float_linear_pct": {str(f): 100 * r["linear_accuracy"]["mean"] for f, r in fl.items()},
        "float_assignment_pct": {str(f): 100 * r["assignment_accuracy"]["mean"] for f, r in fl.items()},
        "smallest_w_bits_within_1pp_linear_no_sleep": {
            x["rounding"]: x["smallest"] for x in s["smallest"]
            if x["axis"] == "w_bits" and x["fraction"] == 0.0 and x["metric"] == "linear_accuracy"},
    }
    result = {"machine": machine, "config": {"command": "lava-sleep " + " ".join(argv_cli), "axes": s["axes"],
                                             "fractions": s["fractions"], "seeds": s["seeds"]},
              "wall_s": wall, "runs": runs, "cells": len({r["cell"] for r in s["rows"]}),
              "target_s": TARGET_S, "met": wall <= TARGET_S, "highlights": highlights}
    atomic_write_bytes(args.json, (json.dumps(result, indent=2) + "\n").encode())
    print(f"{runs} runs in {result['cells']} cells: {wall / 60:.1f} min "
          f"(target {TARGET_S / 60:.0f} min: {'met' if result['met'] else 'NOT met'}); {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
