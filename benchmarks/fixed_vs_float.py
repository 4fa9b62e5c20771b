"""How far the fixed-point model drifts from the float64 model: pathway totals, fixed / float.

Runs the paper network (225 inputs, 200 E, 50 I; STDP on XE and EE, 20 % sleep, linear decay,
which is the only fixed-point form) in float64 and in fixed point on the torch engine with the
same seeds and images (the embedded digits, 15x15), at the paper preset's 400 Hz input and at
63.75 Hz, and reports the ratio of the fixed model's dequantized pathway totals (sum of |w|) to
the float model's after every ``--images-per-point`` images. Both models start from the same
float weights (the fixed ones quantized), so the ratio starts near 1; its drift is the bias of
the integer arithmetic (mostly the trace decay's rounding, see docs/model.md, "Fixed point vs
float").

Usage::

    .venv/bin/python benchmarks/fixed_vs_float.py [--seeds 3 4 5] [--points 4]
        [--images-per-point 4] [--json benchmarks/results/fixed_vs_float.json]

Writes a JSON object ``{machine, config, rows: [{rate_hz, seed, steps, XE, EE}]}`` (one row per
rate, seed and point; XE and EE are fixed / float ratios) and prints the mean ratio per rate and
point.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import numpy as np

from lava_sleep import params as P
from lava_sleep.commands.bench import bench_images, machine_info
from lava_sleep.engine import TorchSimulator
from lava_sleep.io import atomic_write_bytes

RATES = (400.0, 63.75)


def model(rate: float, impulse: int) -> P.ModelParams:
    base = P.paper().with_sleep_fraction(0.2)
    return dataclasses.replace(
        base, input=dataclasses.replace(base.input, max_rate_hz=rate),
        sleep=dataclasses.replace(base.sleep, form="linear"),
        stdp=dataclasses.replace(base.stdp, trace_impulse=impulse))


def totals(sim) -> dict[str, float]:
    return {n: float(np.abs(w).sum()) for n, w in sim.weights(0).items() if n in ("XE", "EE")}


def start_ratio(p, seed: int) -> dict[str, float]:
    """Fixed / float totals before any step: the weight quantization alone."""
    tf, tx = (totals(TorchSimulator([p], [seed], mode=m)) for m in ("float", "fixed"))
    return {n: tx[n] / tf[n] for n in tf}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5])
    ap.add_argument("--impulses", type=int, nargs="+", default=[P.paper().stdp.trace_impulse],
                    help="trace impulses per spike to compare (default: the preset's)")
    ap.add_argument("--points", type=int, default=4, help="measurement points per run")
    ap.add_argument("--images-per-point", type=int, default=4)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if min(args.points, args.images_per_point) < 1 or min(args.seeds) < 0:
        ap.error("--points and --images-per-point must be >= 1 and seeds >= 0")
    try:
        for impulse in args.impulses:
            model(RATES[0], impulse)
    except P.ParamError as exc:
        ap.error(str(exc).splitlines()[0])
    n_img = args.points * args.images_per_point
    images = bench_images(n_img)
    rows = []
    for rate, impulse in ((r, i) for r in RATES for i in args.impulses):
        p = model(rate, impulse)
        rows.append({"rate_hz": rate, "trace_impulse": impulse, "seed": None, "steps": 0,
                     **start_ratio(p, args.seeds[0])})
        for seed in args.seeds:
            sims = {m: TorchSimulator([p], [seed], mode=m) for m in ("float", "fixed")}
            steps = 0
            for k in range(args.points):
                chunk = images[k * args.images_per_point:(k + 1) * args.images_per_point]
                for sim in sims.values():
                    out = sim.run(chunk)
                steps += int(out.steps[0])
                tf, tx = totals(sims["float"]), totals(sims["fixed"])
                rows.append({"rate_hz": rate, "trace_impulse": impulse, "seed": seed, "steps": steps,
                             **{n: tx[n] / tf[n] for n in tf}})
            for sim in sims.values():
                sim.close()
    print("| input rate | trace impulse | steps | XE fixed / float | EE fixed / float |")
    print("|---|---|---|---|---|")
    for rate, impulse in ((r, i) for r in RATES for i in args.impulses):
        mine = [r for r in rows if r["rate_hz"] == rate and r["trace_impulse"] == impulse]
        for k in range(args.points + 1):
            sel = mine[:1] if k == 0 else mine[1:][k - 1::args.points]
            xe, ee = (np.array([r[n] for r in sel]) for n in ("XE", "EE"))
            print(f"| {rate:g} Hz | {impulse} | {sel[0]['steps']} "
                  f"| {xe.mean():.3f} ({xe.min():.3f}-{xe.max():.3f}) "
                  f"| {ee.mean():.3f} ({ee.min():.3f}-{ee.max():.3f}) |")
    if args.json:
        config = {"preset": "paper", "sleep_fraction": 0.2, "form": "linear", "images": "digits 15x15",
                  "seeds": args.seeds}
        doc = {"machine": machine_info(), "config": config, "rows": rows}
        atomic_write_bytes(args.json, json.dumps(doc, indent=2).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
