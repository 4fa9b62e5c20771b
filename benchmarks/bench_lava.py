"""Throughput of the Lava backends: graph vs fused models, float and fixed point.

Runs the paper-size network (225 inputs, 200 E, 50 I; STDP on XE and EE, no
sleep unless --sleep-fraction is given) on Lava's CPU simulator through
``lava_sleep.lava_backend.LavaSimulator`` and reports network steps per second
after a one-image warm-up (compilation and process start-up are not timed).
Backends are measured in interleaved rounds and the best round is kept, because
other jobs on the machine make single timings noisy.

Usage::

    .venv/bin/python benchmarks/bench_lava.py [--preset paper] [--graph-images 2]
        [--fused-images 40] [--rounds 2] [--json out.json]

Variants: ``lava-float`` / ``lava-fixed`` (graph models) and
``lava-float-fused`` / ``lava-fixed-fused`` with the fused model's two step
implementations, ``/native`` (compiled kernel, the default where a C compiler
exists) and ``/numpy`` (NumPy cores).

Writes a JSON list of records ``{backend, fused_kernel, network, batch, steps,
seconds, network_steps_per_s, synaptic_events_per_s, device, machine,
sleep_fraction}`` (synaptic events are not counted here: null) and prints a
table with the fused/graph speed-up.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import numpy as np

from lava_sleep import params as params_mod
from lava_sleep.commands.bench import machine_info
from lava_sleep.io import atomic_write_bytes
from lava_sleep.lava_backend import LAVA_BACKENDS, LavaSimulator

BACKENDS = ("lava-float", "lava-float-fused/native", "lava-float-fused/numpy",
            "lava-fixed", "lava-fixed-fused/native", "lava-fixed-fused/numpy")


def bench_one(variant: str, p, images: np.ndarray, seed: int) -> tuple[int, float]:
    """(steps, seconds) of one timed run after a one-image warm-up."""
    backend, _, kernel = variant.partition("/")
    mode, model = LAVA_BACKENDS[backend]
    sim = LavaSimulator(p, seed, mode=mode, model=model, fused_kernel=kernel or "auto")
    try:
        if kernel and sim.fused_kernel != kernel:
            raise SystemExit(f"{variant}: the fused model would run {sim.fused_kernel}, not {kernel}")
        sim.run(images[:1])
        t0 = time.perf_counter()
        out = sim.run(images[1:])
        dt = time.perf_counter() - t0
        return int(out.steps[0]), dt
    finally:
        sim.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="paper", choices=sorted(params_mod.PRESETS))
    ap.add_argument("--graph-images", type=int, default=2, help="timed images for graph models")
    ap.add_argument("--fused-images", type=int, default=40, help="timed images for fused models")
    ap.add_argument("--sleep-fraction", type=float, default=0.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--backends", default=",".join(BACKENDS))
    ap.add_argument("--json", default=None, help="write the records to this file")
    args = ap.parse_args(argv)

    p = params_mod.preset(args.preset).with_sleep_fraction(args.sleep_fraction)
    # the fixed-point sleep decay exists only in the linear form
    p = dataclasses.replace(p, sleep=dataclasses.replace(p.sleep, form="linear"))
    gen = np.random.default_rng(args.seed)
    n_img = 1 + max(args.graph_images, args.fused_images)
    images = gen.integers(0, 256, size=(n_img, p.n_input), dtype=np.uint8)
    backends = args.backends.split(",")
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        ap.error(f"unknown backend(s) {', '.join(unknown)}; choose from {', '.join(BACKENDS)}")
    if min(args.graph_images, args.fused_images, args.rounds) < 1:
        ap.error("--graph-images, --fused-images and --rounds must be >= 1")
    best: dict[str, tuple[int, float]] = {}
    for r in range(args.rounds):
        for b in backends:
            k = args.fused_images if "fused" in b else args.graph_images
            steps, sec = bench_one(b, p, images[: k + 1], args.seed)
            print(f"round {r + 1} {b:18s} {steps:6d} steps {sec:7.2f} s {steps / sec:9.1f} steps/s",
                  flush=True)
            if b not in best or steps / sec > best[b][0] / best[b][1]:
                best[b] = (steps, sec)
    records = []
    machine = machine_info()
    device = f"cpu ({machine['cpu']}, {machine['cores']} cores)"
    for b in backends:
        steps, sec = best[b]
        records.append({"backend": b.partition("/")[0], "fused_kernel": b.partition("/")[2] or None,
                        "network": args.preset, "batch": 1, "steps": steps,
                        "seconds": sec, "network_steps_per_s": steps / sec,
                        "synaptic_events_per_s": None, "device": device, "machine": machine,
                        "sleep_fraction": args.sleep_fraction})
    rate = {b: r["network_steps_per_s"] for b, r in zip(backends, records, strict=True)}
    print("\n| backend | steps/s | fused / graph |\n|---|---|---|")
    for b in backends:
        graph = b.partition("/")[0].replace("-fused", "")
        ratio = f"{rate[b] / rate[graph]:.1f}x" if "fused" in b and graph in rate else ""
        print(f"| {b} | {rate[b]:.0f} | {ratio} |")
    if args.json:
        atomic_write_bytes(args.json, json.dumps(records, indent=2).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
