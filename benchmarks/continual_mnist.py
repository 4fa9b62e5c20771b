"""The continual-learning protocol on split MNIST, timed (issue 15's targets).

Runs ``lava-sleep continual`` in this process with the command's defaults (both models, all five
conditions, competitive STDP preset, paper SG preset, 8,000 training / 2,000 held-out images per
seed from the official MNIST test files, tasks 0,1 / 2,3 / 4,5 / 6,7 / 8,9, seeds 0-4) into
``--out`` (a fresh folder: the timing covers every run). Writes ``{machine, argv, wall_s,
target_s, met_time, stdp, sg, targets}`` to ``--json``: per model and condition ACC, BWT and
forgetting (mean, 95 % CI half-width, paired difference to no sleep with its Holm p), and the
verdicts on the issue's targets (STDP: BWT improved by a sleep condition with Holm p < 0.05, ACC
within 10 pp of joint training; SG with a sleep episode after each task: ACC at or above the SRC
figure of Tadros et al. 2022, about 50 %; the whole protocol in <= 60 minutes).

Usage::

    .venv/bin/python benchmarks/continual_mnist.py --out runs/continual_mnist \\
        [--json benchmarks/results/continual_mnist.json] [--data ../shared/data/mnist] [--seeds 0,1,2,3,4]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from study_timing import run_timed  # benchmarks/: the script's own folder is on sys.path

from lava_sleep.io import atomic_write_bytes

TARGET_S = 3600.0
#: SRC's class-incremental MNIST accuracy with sleep (Tadros et al. 2022: about 50-70 %; lower end).
SRC_ACC = 0.50


def _entry(e: dict) -> dict:
    out = {}
    for m in ("acc", "bwt", "forgetting", "acc_relabel"):
        st = e.get(f"{m}_stats")
        if not st:
            continue
        out[m] = {"mean": st["mean"], "ci95": st["ci95"]}
        t = e.get(f"{m}_vs_none")
        if t:
            out[m]["vs_none"] = {k: t[k] for k in ("diff_mean", "p", "p_holm", "verdict")}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="study folder (must not exist: the timing covers every run)")
    ap.add_argument("--json", default="benchmarks/results/continual_mnist.json")
    ap.add_argument("--data", default="../shared/data/mnist")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    args = ap.parse_args(argv)
    out = Path(args.out)
    argv_cli = ["continual", "--dataset", "mnist", "--data-dir", args.data, "--subset", "test",
                "--seeds", args.seeds, "--no-progress", "--out", str(out)]
    done = run_timed("continual_mnist", argv_cli, out)
    if isinstance(done, int):
        return done
    s, wall, machine = done
    res = {m: {c: _entry(e) for c, e in s.get(m, {}).items()} for m in ("stdp", "sg")}
    stdp = s.get("stdp", {})
    bwt_better = [c for c, e in stdp.items() if (e.get("bwt_vs_none") or {}).get("verdict") == "benefit"]
    best = max((c for c in stdp if c not in ("none", "joint")), key=lambda c: stdp[c]["acc"], default=None)
    targets = {
        "stdp_bwt_improved_holm_p_below_0.05": bwt_better,
        "stdp_best_sleep_acc_minus_joint_pp": None if best is None or "joint" not in stdp
        else 100 * (stdp[best]["acc"] - stdp["joint"]["acc"]),
        "stdp_best_sleep_condition": best,
        "sg_after_acc": (s.get("sg", {}).get("after") or {}).get("acc"),
        "sg_after_reaches_src": ((s.get("sg", {}).get("after") or {}).get("acc") or 0) >= SRC_ACC,
    }
    record = {"machine": machine, "argv": argv_cli, "wall_s": wall, "target_s": TARGET_S,
              "met_time": wall <= TARGET_S, "stdp": res["stdp"], "sg": res["sg"], "targets": targets}
    atomic_write_bytes(args.json, (json.dumps(record, indent=1) + "\n").encode())
    print(f"continual_mnist: {wall / 60:.1f} min (target {TARGET_S / 60:.0f}); wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
