"""Where the torch engine's time goes: throughput of one member with parts of the model switched off.

Usage (from the repository root)::

    .venv/bin/python benchmarks/engine_breakdown.py [--seconds S] [--json FILE.json]

Runs the bench configuration (paper network, sleep fraction 0.2 with an episode after every
image, tol 0; see lava_sleep/commands/bench.py) on one member and one thread, with: everything
on; no sleep; no sleep and no learning; sleep without decay noise; linear decay form; fixed
point; float32. The differences between rows give the cost of STDP, of the sleep decay blocks
and of the decay noise per step. Wall-clock numbers: the machine's load shows up in them.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from lava_sleep.commands.bench import bench_images, bench_params, machine_info
from lava_sleep.engine import TorchSimulator
from lava_sleep.io import atomic_write_json


def rate(params, images, seconds, learn=True, sleep_on=True, mode="float", dtype="float64", impl="auto"):
    sim = TorchSimulator([params], [0], mode=mode, dtype=dtype, impl=impl, threads=1)
    sim.run(images[:1], learn=learn, sleep_on=sleep_on)
    steps, sleep_steps, k = 0, 0, 1
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        out = sim.run(images[k % len(images): k % len(images) + 1], learn=learn, sleep_on=sleep_on)
        steps += int(out.steps.sum())
        sleep_steps += int(out.sleep_steps.sum())
        k += 1
    dt = time.perf_counter() - t0
    return {"network_steps_per_s": steps / dt, "us_per_step": 1e6 * dt / steps,
            "sleep_share": sleep_steps / steps, "impl": sim.impl_name}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    images = bench_images()
    p = bench_params()

    def sleep(**kw):
        return dataclasses.replace(p, sleep=dataclasses.replace(p.sleep, **kw))

    cases = {
        "all on (float64)": dict(params=p),
        "no sleep": dict(params=p, sleep_on=False),
        "no sleep, no learning": dict(params=p, sleep_on=False, learn=False),
        "sleep without decay noise": dict(params=sleep(decay_noise=0.0)),
        "linear decay form": dict(params=sleep(form="linear")),
        "decay settled once per episode (block 1000)": dict(params=sleep(block=1000)),
        "fixed point (linear form)": dict(params=bench_params(fixed=True), mode="fixed"),
        "float32": dict(params=p, dtype="float32"),
    }
    rows = []
    for name, kw in cases.items():
        r = {"case": name, **rate(images=images, seconds=args.seconds, **kw)}
        rows.append(r)
        print(f"{name:<46}{r['network_steps_per_s']:>12,.0f} steps/s{r['us_per_step']:>8.2f} us/step"
              f"  sleep {r['sleep_share']:.2f}", flush=True)
    if args.json:
        atomic_write_json(args.json, {"machine": machine_info(), "rows": rows,
                                      "images": "digits resized to 15x15", "n_images": int(len(images)),
                                      "seconds_per_row": args.seconds, "numpy": np.__version__})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
