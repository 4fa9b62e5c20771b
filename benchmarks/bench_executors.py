"""Sweep executors: the same small sweep under ``local`` and ``ray``, Ray's scheduling
overhead, and what the paper-size STDP sweep (220 runs) costs on 1, 4 and 16 nodes.

1. **Small sweep** (paper network, embedded digits, fractions 0 and 0.2, 4 seeds, 300
   training / 100 held-out images, torch engine, ``--batch 2``: 4 tasks of 2 runs) with
   :class:`~lava_sleep.executors.LocalExecutor` and with
   :class:`~lava_sleep.executors.RayExecutor` (a local Ray with one CPU per task), in
   interleaved rounds. Round 1 of Ray starts fresh workers (they import torch and
   lava_sleep); later rounds reuse them. Ray's own start-up is timed apart (a cluster is
   started once, a local Ray once per command). The runs.jsonl rows of both are checked to be
   identical (timing fields aside).
2. **Scheduling overhead**: many trivial tasks through ``RayExecutor.run`` (tasks per second).
3. **Paper-size runs**: one batch of 11 paper-preset runs (sleep fractions 0, 0.05, ..., 0.5,
   seed 0, MNIST when ``--data-dir`` holds it, else the embedded digits) as one Ray task would
   run it (one CPU: torch with one thread), at two reduced sizes (``--paper-images`` n and 3n
   training images, n/2 and 3n/2 held out, the readouts fit on all training images). Training
   and evaluation times (simulation) are each fitted as ``a + b * images`` and extrapolated to
   8,000 training and 8,000 + 2,000 evaluated images (1 epoch); the readout fits (12 on spike
   counts, one on pixels per task) are timed at full size (8,000 images). The 220-run sweep is
   4 datasets x 11 fractions x 5 seeds; with ``--batch
   11`` it is 20 tasks (one seed's 11 fractions each), and a node of this kind (2 cores) runs
   2 one-CPU tasks at a time, so ``wall(k nodes) = ceil(20 / (2 k)) * task time`` (the tasks
   are alike; Ray's per-task overhead, measured in 1 and 2, is negligible beside them).

Usage::

    .venv/bin/python benchmarks/bench_executors.py [--json benchmarks/results/bench_executors.json]
        [--rounds 2] [--paper-images 100] [--data-dir ../shared/data/mnist] [--trivial-tasks 1000]

About 6-10 minutes on 2 cores. Timings depend on the machine's load, recorded as ``machine``
(cores, load average) before and after.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lava_sleep import params as P
from lava_sleep.commands.bench import machine_info
from lava_sleep.executors import LocalExecutor, RayExecutor
from lava_sleep.experiment import DataCache, Member, TrainOptions, run_members
from lava_sleep.io import atomic_write_json, read_jsonl
from lava_sleep.summary import RUNS, line_id
from lava_sleep.sweep import PAPER_FRACTIONS, PAPER_SWEEP, SweepConfig, run_sweep

NODES = (1, 4, 16)
CORES_PER_NODE = os.cpu_count() or 1


def _noop(x):
    return x


def small_sweep_cfg(n_train: int, n_test: int) -> SweepConfig:
    return SweepConfig(datasets=["digits"], fractions=[0.0, 0.2], seeds=[0, 1, 2, 3], models=["stdp"],
                       params=P.paper(), n_train=n_train, n_test=n_test, backend="torch", batch=2,
                       progress=False)


def time_sweep(cfg: SweepConfig, executor, root: Path, name: str) -> tuple[float, Path]:
    out = root / name
    t0 = time.perf_counter()
    res = run_sweep(out, cfg, plots=False, log=lambda m: None, executor=executor)
    dt = time.perf_counter() - t0
    if res["failed_runs"]:
        raise SystemExit(f"{name}: {len(res['failed_runs'])} runs failed: {res['failed_runs'][0]['error']}")
    return dt, out


def rows(sweep: Path) -> dict:
    return {line_id(x): {k: v for k, v in x.items() if k != "train_s"} for x in read_jsonl(sweep / RUNS)}


def paper_batch(cache: DataCache, dataset: str, data_dir, subset: str, n_train: int, n_test: int) -> dict:
    """Wall time of one batch of 11 paper-preset runs at a reduced size, one torch thread."""
    import torch

    data = cache.run_data(dataset, 15, 0, n_train, n_test, data_dir, subset)
    members = [Member(P.paper().with_sleep_fraction(f), 0, data, None, f"f{f:g}") for f in PAPER_FRACTIONS]
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # a one-CPU Ray task (Ray sets OMP_NUM_THREADS=1)
    try:
        t0 = time.perf_counter()
        res = run_members(members, TrainOptions(backend="torch", progress=False, baseline_cache={}))
        wall = time.perf_counter() - t0
    finally:
        torch.set_num_threads(old)
    t = res[0]["timings"]
    return {"n_train": n_train, "n_test": n_test, "batch": len(members), "wall_s": wall,
            "train_s": t["train_s"], "eval_s": t["eval_s"], "other_s": wall - t["train_s"] - t["eval_s"],
            "sleep_share_used": [r["sleep"]["share_used"] for r in res]}


def readout_fits(cache: DataCache, dataset: str, data_dir, subset: str, n_train: int, n_test: int) -> dict:
    """Seconds of the readout fits at full size: the pixel baseline on real images, and one
    logistic readout on synthetic spike counts (8,000 x 200 E; Poisson counts of a random
    non-negative projection of the images, about as many spikes per image as the paper network)."""
    import torch

    from lava_sleep.experiment.stdp import pixel_baseline
    from lava_sleep.readout import LinearReadout

    data = cache.run_data(dataset, 15, 0, n_train, n_test, data_dir, subset)
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t0 = time.perf_counter()
        pixel_baseline(data.train_x, data.train_y, data.test_x, data.test_y)
        pixels_s = time.perf_counter() - t0
        gen = np.random.default_rng(0)  # synthetic features for timing only
        w = gen.random((data.train_x.shape[1], 200))
        lam = data.train_x.astype(np.float64) @ w
        counts = gen.poisson(lam * (3.0 / lam.mean()))
        t0 = time.perf_counter()
        LinearReadout.fit(counts, data.train_y)
        counts_s = time.perf_counter() - t0
    finally:
        torch.set_num_threads(old)
    return {"n_train": len(data.train_y), "pixels_fit_s": pixels_s, "counts_fit_s": counts_s}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", default="benchmarks/results/bench_executors.json")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved local/ray rounds of the small sweep")
    ap.add_argument("--small-images", type=int, default=300, help="training images of the small sweep")
    ap.add_argument("--trivial-tasks", type=int, default=1000)
    ap.add_argument("--paper-images", type=int, default=100,
                    help="training images of the smaller paper-size batch (the larger has 3x)")
    ap.add_argument("--data-dir", default="../shared/data/mnist",
                    help="MNIST IDX files for the paper-size runs (default ../shared/data/mnist; "
                         "the embedded digits when missing)")
    args = ap.parse_args(argv)
    for name in ("rounds", "small_images", "trivial_tasks", "paper_images"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1")

    import ray

    out = {"what": "sweep executors: local vs ray, Ray scheduling overhead, paper-sweep estimate",
           "machine_before": machine_info()}
    root = Path(tempfile.mkdtemp(prefix="bench_executors-"))
    try:
        # -- 1. the same small sweep, local and ray -------------------------------------------
        cfg = small_sweep_cfg(args.small_images, args.small_images // 3)
        t0 = time.perf_counter()
        ray.init(address="local", num_cpus=CORES_PER_NODE, include_dashboard=False, log_to_driver=False,
                 logging_level="error")
        ray_start = time.perf_counter() - t0
        rayx = RayExecutor(cpus_per_task=1)
        local, remote = [], []
        for r in range(args.rounds):
            dt, loc_dir = time_sweep(cfg, LocalExecutor(), root, f"local{r}")
            local.append(dt)
            dt, ray_dir = time_sweep(cfg, rayx, root, f"ray{r}")
            remote.append(dt)
            print(f"round {r + 1}: local {local[-1]:.1f} s, ray {remote[-1]:.1f} s", flush=True)
        identical = rows(loc_dir) == rows(ray_dir)
        out["small_sweep"] = {
            "config": {"network": "paper (225/200/50)", "dataset": "digits", "fractions": cfg.fractions,
                       "seeds": cfg.seeds, "n_train": cfg.n_train, "n_test": cfg.n_test, "backend": "torch",
                       "batch": cfg.batch, "tasks": 4, "ray_cpus_per_task": 1,
                       "local_torch_threads": machine_info()["torch_threads"]},
            "local_s": local, "ray_s": remote, "ray_start_s": ray_start,
            "ray_over_local_round1": remote[0] / local[0],
            "ray_over_local_best": min(remote) / min(local),
            "ray_with_start_over_local_round1": (remote[0] + ray_start) / local[0],
            "rows_identical": identical,
            "note": "round 1 of ray starts fresh worker processes (imports); ray_start_s is ray.init "
                    "(a local Ray, once per command; a cluster is started once)",
        }
        # -- 2. scheduling overhead -----------------------------------------------------------
        n = args.trivial_tasks
        list(rayx.run(_noop, list(range(50))))  # warm the workers
        t0 = time.perf_counter()
        done = sum(1 for o in rayx.run(_noop, list(range(n))) if o.ok)
        dt = time.perf_counter() - t0
        t0 = time.perf_counter()
        list(LocalExecutor().run(_noop, list(range(n))))
        dt_local = time.perf_counter() - t0
        out["scheduling"] = {"tasks": n, "completed": done, "ray_s": dt, "ray_tasks_per_s": n / dt,
                             "ray_ms_per_task": 1000 * dt / n, "local_tasks_per_s": n / max(dt_local, 1e-9)}
        print(f"ray: {n / dt:.0f} trivial tasks/s", flush=True)
        ray.shutdown()

        # -- 3. paper-size per-run cost and the 220-run estimate --------------------------------
        cache = DataCache()
        data_dir = Path(args.data_dir)
        if data_dir.is_dir() and any(data_dir.glob("t10k-images*")):
            dataset, ddir, subset = "mnist", str(data_dir), "test"
        else:
            dataset, ddir, subset = "digits", None, "all"
        n1 = args.paper_images
        sizes = [(n1, max(1, n1 // 2)), (3 * n1, max(1, 3 * n1 // 2))]
        points = []
        for ntr, nte in sizes:
            points.append(paper_batch(cache, dataset, ddir, subset, ntr, nte))
            print(f"paper batch of 11, {ntr} + {nte} images: {points[-1]['wall_s']:.1f} s", flush=True)
        # Training and evaluation (simulation) are each linear in their images: a + b * images from
        # the two sizes, extrapolated to 8,000 training and 8,000 + 2,000 evaluated images. The rest
        # (readout fits, pixel baseline, files) is measured at full size: 12 count readouts (11
        # trained + 1 untrained network) and one pixel readout per task, plus the small-size rest.
        (p1, p2) = points
        b_train = (p2["train_s"] - p1["train_s"]) / (p2["n_train"] - p1["n_train"])
        a_train = p1["train_s"] - b_train * p1["n_train"]
        ev1, ev2 = p1["n_train"] + p1["n_test"], p2["n_train"] + p2["n_test"]  # images evaluated
        b_eval = (p2["eval_s"] - p1["eval_s"]) / (ev2 - ev1)
        a_eval = p1["eval_s"] - b_eval * ev1
        fits = readout_fits(cache, dataset, ddir, subset, PAPER_SWEEP["n_train"], PAPER_SWEEP["n_test"])
        print(f"readout fits at {fits['n_train']} images: pixels {fits['pixels_fit_s']:.1f} s, counts "
              f"{fits['counts_fit_s']:.1f} s", flush=True)
        full_train = a_train + b_train * PAPER_SWEEP["n_train"]
        full_eval = a_eval + b_eval * (PAPER_SWEEP["n_train"] + PAPER_SWEEP["n_test"])
        full_rest = (max(p1["other_s"], p2["other_s"]) + fits["pixels_fit_s"]
                     + (PAPER_SWEEP["batch"] + 1) * fits["counts_fit_s"])
        task_s = full_train + full_eval + full_rest
        n_tasks = PAPER_SWEEP["datasets"] * PAPER_SWEEP["seeds"]
        slots = CORES_PER_NODE  # one-CPU tasks per node
        est = {str(k): {"nodes": k, "task_slots": k * slots,
                        "rounds": math.ceil(n_tasks / (k * slots)),
                        "wall_h": math.ceil(n_tasks / (k * slots)) * task_s / 3600,
                        "busy_slots_last_round": n_tasks - (math.ceil(n_tasks / (k * slots)) - 1) * k * slots}
               for k in NODES}
        out["paper_sweep_estimate"] = {
            "sweep": {**PAPER_SWEEP, "runs": 220, "tasks": n_tasks,
                      "description": "4 datasets x 11 sleep fractions (0 to 0.5 by 0.05) x 5 seeds, paper "
                                     "preset, torch engine, --batch 11 (one task = one seed's 11 fractions)"},
            "measured_on": {"dataset": dataset, "points": points, "readout_fits": fits, "torch_threads": 1},
            "extrapolation": {
                "train_s": f"{a_train:.2f} + {b_train:.4f} * training images",
                "eval_s": f"{a_eval:.2f} + {b_eval:.4f} * (training + held-out images) (simulation of the "
                          "11 trained and 1 untrained networks, learning off)",
                "rest_s": "largest measured rest (files, small fits) + 1 pixel fit + 12 count-readout fits "
                          "at full size",
                "task_s_full_size": task_s, "train_s_full_size": full_train, "eval_s_full_size": full_eval,
                "rest_s_full_size": full_rest,
                "per_run_s": task_s / PAPER_SWEEP["batch"],
                "how": "linear in the number of images from two measured sizes; training at 8,000, "
                       "evaluation at 8,000 + 2,000 images; one CPU per task, a node = this machine "
                       f"({CORES_PER_NODE} cores, {slots} tasks at a time)"},
            "nodes": est,
        }
        for k in NODES:
            print(f"paper sweep (220 runs) on {k:2d} node(s): {est[str(k)]['wall_h']:.1f} h", flush=True)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    out["machine_after"] = machine_info()
    atomic_write_json(args.json, out)
    s = out["small_sweep"]
    print(json.dumps({k: s[k] for k in ("local_s", "ray_s", "ray_start_s", "ray_over_local_round1",
                                        "ray_over_local_best", "rows_identical")}, indent=1))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
