"""GPU check of the engine's pure torch path: correctness against the CPU engine, throughput,
kernel launches per tick, and what the paper's 220-run sweep would take on one GPU.

Usage (from the repository root; ``benchmarks/gpu_check.sh`` sets PYTHONPATH and the JSON path)::

    python benchmarks/gpu_check.py [--device cuda] [--impl torch-compiled] [--batches 64 256 1024 4096]
        [--fixed-batches 1024] [--seconds 5] [--budget 240] [--quick] [--json FILE.json]
        [--dataset NAME | --random-images]

Imports only lava_sleep's engine, parameters and bench helpers (no lava-nc, no installed
package needed: the checkout on PYTHONPATH will do). Sections, written to the JSON (atomically,
after every section and every throughput row, so a run that is killed keeps what it finished):

The path checked is ``--impl``: ``torch-compiled`` (default; the engine's pure torch path with
its tick under torch.compile, what CUDA runs by default: Triton kernels; the first call of each
mode compiles for tens of seconds, inside the correctness section) or ``torch`` (the same path
run eagerly, one launch per tensor operation).

1. **correctness** (the torch path on ``--device`` against the CPU engine's compiled C kernel,
   ``impl="native"``, which is bit-exact with the NumPy oracle; the oracle itself when no C
   compiler is present): 4 members (seeds 0-3, sleep fractions 0.2, 0.2, 0.1, 0.3), 3 images on
   the bench's per-image schedule (350 wake steps, then the member's sleep episode: 1,167 to
   1,500 steps each, 4 episodes). Fixed point (linear decay): every member's complete state
   (``state_dict``), the counts and the sleep-episode records must be equal. float64 (log decay):
   the spikes of every step (``record_spikes``), counts and steps must be equal, weights and
   episode totals within 1e-9 of the largest magnitude compared. Recorded: ``passed``, the first
   mismatch and the first difference of every check that failed (``mismatches``).
2. **throughput** of the torch path on the device: the bench's rows of the pure torch path
   (:func:`lava_sleep.commands.bench.run_inprocess`: paper network, STDP on, 20 % sleep with an
   episode after every image, one image per call after a one-image warm-up, for ``--seconds``)
   at each of ``--batches`` in float64 and at ``--fixed-batches`` in fixed point:
   network-steps/s (all members), synaptic events/s, ``launches_per_tick``, peak device memory
   (bytes, ``torch.cuda.max_memory_allocated``) and seconds. The training schedule
   (``bench.training_params``: an episode every 10 images) is not used: a window of a few seconds
   at B = 4096 holds two or three images and so no sleep at all, while every window of whole
   images on the per-image schedule is 20 % sleep.
3. **estimate** of the paper sweep (:data:`lava_sleep.sweep.PAPER_SWEEP`) on one GPU from the
   float64 rows, assuming a sleep or evaluation step costs what the measured mix costs.

Time guard: before each throughput row its duration is predicted from the rows before it
(construction time per member from the correctness checks; the seconds per image call of the
mode's last row, scaled linearly with B, an overestimate while the device is not saturated; a
profiled call as three unprofiled ones). A row predicted to end more than ``--budget`` seconds
after the start (default 240) is recorded as skipped, as are all rows once the budget is spent
(the first float64 row runs unless it is). Exit status: 0 when the correctness checks pass, 1 when one
fails, 2 for bad input (a device that does not exist is one line on stderr).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import sys
import time
from datetime import datetime, timezone

import numpy as np

from lava_sleep.commands import bench
from lava_sleep.io import atomic_write_json
from lava_sleep.sweep import PAPER_FRACTIONS, PAPER_SWEEP

DEFAULT_JSON = "benchmarks/results/gpu_check.json"
BATCHES = (64, 256, 1024, 4096)
FIXED_BATCHES = (1024,)
#: correctness members: seeds and sleep fractions; images presented
SEEDS, FRACTIONS, CHECK_IMAGES = (0, 1, 2, 3), (0.2, 0.2, 0.1, 0.3), 3
FLOAT_RTOL = 1e-9
#: --quick: 2 members, 1 image of 40 wake steps (then a 10- or 17-step episode), one B = 2 row
QUICK_STEPS_PER_IMAGE, QUICK_SECONDS = 40, 0.3
#: budget prediction: a profiled one-image call costs about this many unprofiled ones; a fixed
#: row with no fixed row before it is predicted at this multiple of the float64 rate
PROFILE_CALLS, FIXED_SLOWDOWN = 3.0, 3.0


# -- configuration ------------------------------------------------------------------------------
def check_params(fixed: bool, fraction: float, steps_per_image: int | None = None):
    """The bench's per-image schedule (:func:`bench.bench_params`), optionally with shorter
    images (``steps_per_image`` wake steps, one episode after each)."""
    p = bench.bench_params(fixed, fraction)
    if steps_per_image is None:
        return p
    return dataclasses.replace(p, input=dataclasses.replace(p.input, steps_per_image=steps_per_image),
                               sleep=dataclasses.replace(p.sleep, period=steps_per_image))


def load_images(dataset: str | None, random: bool) -> tuple[np.ndarray, dict]:
    """The bench's images (:func:`bench.load_bench_images`). The default digits come from
    scikit-learn, which a GPU machine may lack: then random images (seed 0), with the reason in
    ``images_fallback``; a dataset named explicitly that fails is a DataError."""
    from lava_sleep.data import DataError

    if random or dataset is not None:
        return bench.load_bench_images(dataset, random=random)
    try:
        return bench.load_bench_images()
    except (ImportError, DataError) as exc:
        images, info = bench.load_bench_images(random=True)
        info["images_fallback"] = (f"the default digits could not be loaded ({type(exc).__name__}: "
                                   f"{str(exc).splitlines()[0]}); using random images (seed 0)")
        return images, info


# -- 1. correctness -----------------------------------------------------------------------------
def first_difference(a, b, where: str = "", rtol: float = 0.0) -> str | None:
    """Where ``a`` (device) and ``b`` (reference) first differ, or None. Arrays and numbers are
    equal when exactly equal (rtol = 0; arrays also of the same dtype) or, with rtol > 0, when
    max |a - b| <= rtol * max |b|; dicts, lists and tuples are compared item by item."""
    if isinstance(b, dict):
        if not isinstance(a, dict) or set(a) != set(b):
            return f"{where}: keys {sorted(a) if isinstance(a, dict) else type(a).__name__} != {sorted(b)}"
        for k in b:
            d = first_difference(a[k], b[k], f"{where}.{k}" if where else str(k), rtol)
            if d:
                return d
        return None
    if isinstance(b, (list, tuple)):
        if not isinstance(a, (list, tuple)) or len(a) != len(b):
            return f"{where}: length {len(a) if isinstance(a, (list, tuple)) else '-'} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            d = first_difference(x, y, f"{where}[{i}]", rtol)
            if d:
                return d
        return None
    if isinstance(b, (str, bool, type(None))):
        return None if a == b else f"{where}: {a!r} != {b!r}"
    x, y = np.asarray(a), np.asarray(b)
    if x.shape != y.shape:
        return f"{where}: shape {x.shape} != {y.shape}"
    if rtol == 0:
        if x.ndim and x.dtype != y.dtype:
            return f"{where}: dtype {x.dtype} != {y.dtype}"
        if not np.array_equal(x, y):
            if not x.ndim:
                return f"{where}: {x.item()!r} != {y.item()!r}"
            bad = np.argwhere(x != y)
            i = tuple(int(v) for v in bad[0])
            return f"{where}: {len(bad)} element(s) differ, first at {list(i)}: {x[i]!r} != {y[i]!r}"
        return None
    diff = float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)), initial=0.0))
    scale = float(np.max(np.abs(y.astype(np.float64)), initial=0.0))
    if diff > rtol * scale:
        return f"{where}: max |difference| {diff:.3g} > {rtol:g} x max |reference| {scale:.3g}"
    return None


def max_relative_difference(a: dict, b: dict) -> float:
    """max over the arrays of dicts a, b of max |a - b| / max |b|."""
    out = 0.0
    for k in b:
        scale = float(np.max(np.abs(b[k]), initial=0.0)) or 1.0
        out = max(out, float(np.max(np.abs(a[k] - b[k]), initial=0.0)) / scale)
    return out


def reference_simulator(params, seeds, mode):
    """The CPU engine's native kernel; the NumPy oracle when it cannot be built. Returns (sim, name)."""
    from lava_sleep.backends import make_simulator
    from lava_sleep.engine import TorchSimulator
    from lava_sleep.simulation import BackendError

    try:
        return TorchSimulator(params, list(seeds), mode=mode, device="cpu", impl="native"), "native"
    except BackendError:
        return make_simulator("numpy", params, list(seeds), mode=mode), "numpy oracle"


def check_mode(mode: str, device: str, images: np.ndarray, seeds, fractions, steps_per_image,
               impl: str = "torch-compiled") -> dict:
    """One correctness check (see the module docstring): the device's torch path against the
    reference on the same members and images. Returns a JSON-able record with ``passed``."""
    from lava_sleep.engine import TorchSimulator

    fixed = mode == "fixed"
    params = [check_params(fixed, f, steps_per_image) for f in fractions]
    record = not fixed
    rec = {"mode": mode, "impl": impl, "dtype": "int64" if fixed else "float64", "members": len(seeds),
           "seeds": list(seeds), "sleep_fractions": list(fractions), "images": len(images),
           "sleep_form": params[0].sleep.form, "steps_per_image": params[0].input.steps_per_image}
    t0 = time.perf_counter()
    ref, rec["reference"] = reference_simulator(params, seeds, mode)
    out_r = ref.run(images, record_spikes=record)
    t1 = time.perf_counter()
    sim = TorchSimulator(params, list(seeds), mode=mode, device=device, impl="torch",
                         compile=impl == "torch-compiled")
    t2 = time.perf_counter()
    out_d = sim.run(images, record_spikes=record)
    rec.update(reference_s=t1 - t0, init_s=t2 - t1, device_run_s=time.perf_counter() - t2,
               steps=[int(s) for s in out_r.steps], sleep_steps=[int(s) for s in out_r.sleep_steps],
               episodes=sum(len(e) for e in out_r.episodes))
    rtol = 0.0 if fixed else FLOAT_RTOL
    checks = [("counts", out_d.counts, out_r.counts, 0.0), ("steps", out_d.steps, out_r.steps, 0.0),
              ("sleep_steps", out_d.sleep_steps, out_r.sleep_steps, 0.0),
              ("episodes", out_d.episodes, out_r.episodes, rtol)]
    if fixed:
        rec["compared"] = "state_dict of every member, counts, steps, episodes: all exactly equal"
        checks += [(f"member {b}: state_dict", sim.state_dict(b), ref.state_dict(b), 0.0)
                   for b in range(len(seeds))]
    else:
        rec["compared"] = (f"spikes of every step, counts, steps: equal; weights and episode totals: "
                           f"within {FLOAT_RTOL:g} of the largest magnitude compared")
        checks += [(f"member {b}: spikes", out_d.spikes[b], out_r.spikes[b], 0.0) for b in range(len(seeds))]
        checks += [(f"member {b}: weights", sim.weights(b), ref.weights(b), rtol) for b in range(len(seeds))]
        rec["max_weight_rel_diff"] = max(max_relative_difference(sim.weights(b), ref.weights(b))
                                         for b in range(len(seeds)))
    found = [first_difference(a, b, name, tol) for name, a, b, tol in checks]
    rec["mismatches"] = [d for d in found if d]  # the first difference of every check that failed
    rec["first_mismatch"] = rec["mismatches"][0] if rec["mismatches"] else None
    rec["passed"] = not rec["mismatches"]
    for s in (sim, ref):
        getattr(s, "close", lambda: None)()
    return rec


def correctness(device: str, images: np.ndarray, quick: bool, impl: str = "torch-compiled") -> dict:
    seeds, fractions = (SEEDS[:2], (0.2, 0.3)) if quick else (SEEDS, FRACTIONS)
    n, spi = (1, QUICK_STEPS_PER_IMAGE) if quick else (CHECK_IMAGES, None)
    out = {}
    for mode in ("fixed", "float"):
        try:
            out["fixed" if mode == "fixed" else "float64"] = check_mode(
                mode, device, bench.cycle(images, 0, n), seeds, fractions, spi, impl)
        except Exception as exc:  # noqa: BLE001 - a crash is a failed check, recorded
            out["fixed" if mode == "fixed" else "float64"] = {
                "mode": mode, "passed": False, "first_mismatch": None,
                "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    out["passed"] = all(r["passed"] for r in out.values())
    return out


# -- 2. throughput ------------------------------------------------------------------------------
def plan(batches, fixed_batches) -> list[tuple[int, str]]:
    """(batch, mode) rows: by batch, the fixed row right after the float row of its batch."""
    rows = [(b, "float") for b in batches] + [(b, "fixed") for b in fixed_batches]
    return sorted(dict.fromkeys(rows), key=lambda r: (r[0], r[1] == "fixed"))


def predict_seconds(batch: int, mode: str, seconds: float, calib: dict) -> float | None:
    """Predicted wall time of a row: member construction + warm-up + timed window + profiled
    call, from the rows measured before (None before the first row of float64; a fixed row
    before any fixed row is predicted from the float64 rows)."""
    ref = calib.get(mode)
    slow = 1.0
    if ref is None and mode == "fixed" and "float" in calib:
        ref, slow = calib["float"], FIXED_SLOWDOWN
    if ref is None:
        return None
    call = ref["call_s"] * slow * max(1.0, batch / ref["batch"])
    return calib.get("init_s_per_member", 0.0) * batch + call + max(seconds, call) + PROFILE_CALLS * call


def planned_row(batch, mode, device, data_info, spi, impl="torch-compiled") -> tuple[dict, object]:
    """The record of a throughput row before it runs, and its members' parameters."""
    fixed = mode == "fixed"
    row = bench._row("torch", batch, device, mode, "float64", impl, fixed, bench.SLEEP_FRACTION,
                     data_info=data_info)
    p = check_params(fixed, bench.SLEEP_FRACTION, spi)
    row.update(bench.schedule_fields(p))
    return row, p


def throughput_row(batch, mode, device, images, seconds, eps, data_info, spi, impl="torch-compiled") -> dict:
    """One bench row of the pure torch path on ``device`` (:func:`bench.run_inprocess`) plus its
    peak device memory and wall time."""
    import torch

    row, p = planned_row(batch, mode, device, data_info, spi, impl)
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    try:
        bench.run_inprocess(row, images, seconds, SEEDS[0], eps, params=p)
    except torch.cuda.OutOfMemoryError as exc:
        row.update(status="skipped", reason=f"out of device memory: {str(exc).splitlines()[0]}")
    except Exception as exc:  # noqa: BLE001 - recorded, the other rows still run
        row.update(status="error", reason=f"{type(exc).__name__}: {exc}".splitlines()[0])
    row["row_wall_s"] = time.perf_counter() - t0
    row["peak_memory_bytes"] = int(torch.cuda.max_memory_allocated(device)) if cuda else None
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return row


# -- 3. estimate --------------------------------------------------------------------------------
def paper_sweep_steps(p) -> dict:
    """Network steps of the paper sweep (:data:`PAPER_SWEEP`) with parameters ``p`` (its image
    slot): training (wake steps, plus sleep steps at share f: f / (1 - f) of them, an upper
    bound as early wake-up only shortens episodes) and evaluation (training + held-out images,
    learning and sleep off, for every trained network and one untrained network per dataset
    and seed)."""
    s = PAPER_SWEEP
    slot = p.input.slot_steps
    cells = s["datasets"] * s["seeds"]
    train_images = s["n_train"] * s["epochs"]
    wake = cells * len(PAPER_FRACTIONS) * train_images * slot
    sleep = cells * sum(train_images * slot * f / (1 - f) for f in PAPER_FRACTIONS)
    evaluation = (cells * len(PAPER_FRACTIONS) + cells) * (s["n_train"] + s["n_test"]) * slot
    return {"runs": cells * len(PAPER_FRACTIONS), "train_wake_steps": int(wake),
            "train_sleep_steps_max": int(round(sleep)), "eval_steps": int(evaluation),
            "total_steps": int(round(wake + sleep + evaluation))}


def estimate(rows: list[dict]) -> dict:
    """The paper sweep's time on one GPU from the measured float64 rows, two ways (see the
    ``assumptions`` field of the result)."""
    p = bench.training_params()
    steps = paper_sweep_steps(p)
    s = PAPER_SWEEP
    ok = [r for r in rows if r["status"] == "ok" and r["mode"] == "float" and r["network_steps_per_s"]]
    out = {"sweep": {**s, "fractions_list": PAPER_FRACTIONS, **steps},
           "assumptions": (
               "the paper preset (350-step image slots, 1 epoch); a sleep step and an evaluation step "
               "(learning off) cost what a step of the measured 20 %-sleep mix costs; the training "
               "schedule (an episode every 10 images, early wake-up) runs at the rate of the per-image "
               "schedule measured; readout fits, data loading and files not counted")}
    if not ok:
        out["reason"] = "no float64 throughput row finished"
        return out
    best = max(ok, key=lambda r: r["network_steps_per_s"])
    out["by_rate_at_best_batch"] = {
        "batch": best["batch"], "network_steps_per_s": best["network_steps_per_s"],
        "seconds": steps["total_steps"] / best["network_steps_per_s"],
        "how": "total network steps of the sweep / the best measured aggregate rate (a lower bound: "
               f"the sweep has {steps['runs']} runs, fewer members than B = {best['batch']} when larger)"}
    members = len(PAPER_FRACTIONS) * s["seeds"]  # one dataset's runs in one simulator batch
    fit = [r for r in ok if r["batch"] >= members + s["seeds"]]  # + the untrained networks in evaluation
    if fit:
        r = min(fit, key=lambda r: r["batch"])
        slot = p.input.slot_steps
        ticks = (s["n_train"] * s["epochs"] * slot / (1 - max(PAPER_FRACTIONS))
                 + (s["n_train"] + s["n_test"]) * slot)
        tick_rate = r["network_steps_per_s"] / r["batch"]
        out["as_sweep_batches"] = {
            "batches": s["datasets"], "members_per_batch": members, "measured_batch": r["batch"],
            "ticks_per_batch": int(round(ticks)), "ticks_per_s": tick_rate,
            "seconds": s["datasets"] * ticks / tick_rate,
            "how": (f"`lava-sleep sweep --batch {members}`: one dataset's {members} runs (11 fractions "
                    f"x {s['seeds']} seeds) per simulator batch, the {s['datasets']} batches one after "
                    "another; the lockstep path ticks until its longest member (fraction 0.5: twice "
                    "the training steps) is done, then evaluates; ticks per second of the smallest "
                    "measured batch that holds the members and the untrained networks")}
    return out


# -- the script ---------------------------------------------------------------------------------
def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="torch device to check (default cuda)")
    ap.add_argument("--impl", choices=bench.PURE_TORCH[::-1], default="torch-compiled",
                    help="the torch path checked: torch-compiled (default, its tick under torch.compile, "
                         "what CUDA runs) or torch (eager)")
    ap.add_argument("--batches", type=int, nargs="+", metavar="B", default=None,
                    help=f"float64 throughput batch sizes (default {' '.join(map(str, BATCHES))})")
    ap.add_argument("--fixed-batches", type=int, nargs="*", metavar="B", default=None,
                    help=f"fixed-point throughput batch sizes (default {' '.join(map(str, FIXED_BATCHES))})")
    ap.add_argument("--seconds", type=float, default=None, metavar="S",
                    help="timed window per throughput row after its warm-up, seconds (default 5)")
    ap.add_argument("--budget", type=float, default=240.0, metavar="S",
                    help="skip throughput rows predicted to end later than S seconds after the start "
                         "(default 240)")
    ap.add_argument("--dataset", default=None, metavar="NAME",
                    help="images: digits | mnist | ... | path to .npz or IDX folder (default: the "
                         "embedded digits, which need scikit-learn; random images, recorded, when they "
                         "cannot be loaded)")
    ap.add_argument("--random-images", action="store_true",
                    help="uniformly random images (seed 0) instead of a dataset")
    ap.add_argument("--quick", action="store_true",
                    help=f"tiny run (2 members, images of {QUICK_STEPS_PER_IMAGE} steps, one B = 2 row; "
                         "e.g. --device cpu --quick to exercise the script)")
    ap.add_argument("--json", default=DEFAULT_JSON, metavar="FILE", help=f"output (default {DEFAULT_JSON})")
    return ap.parse_args(argv)


def _error(msg: str) -> int:
    print(f"gpu_check: {msg}", file=sys.stderr)
    return 2


ROW_HEADER = (f"  {'mode':<6}{'batch':>6}{'net-steps/s':>14}{'syn-events/s':>16}{'launch/tick':>12}"
              f"{'peak GiB':>10}{'secs':>7}")


def row_line(r: dict) -> str:
    if r["status"] != "ok":
        return f"  {r['mode']:<6}{r['batch']:>6}  {r['status']}: {r['reason']}"
    lpt = "-" if r["launches_per_tick"] is None else f"{r['launches_per_tick']:.0f}"
    mem = "-" if r["peak_memory_bytes"] is None else f"{r['peak_memory_bytes'] / 2**30:.2f}"
    return (f"  {r['mode']:<6}{r['batch']:>6}{r['network_steps_per_s']:>14,.0f}"
            f"{r['synaptic_events_per_s']:>16,.0f}{lpt:>12}{mem:>10}{r['seconds']:>7.1f}")


def summary_lines(result: dict) -> list[str]:
    c = result.get("correctness", {})
    lines = [f"device {result['device']} ({result.get('impl', 'torch')}): correctness "
             f"{'passed' if c.get('passed') else 'FAILED'}"]
    for k in ("fixed", "float64"):
        r = c.get(k, {})
        what = "ok" if r.get("passed") else (r.get("first_mismatch") or r.get("error"))
        lines.append(f"  {k:<8} vs {r.get('reference', '-')}: {what}")
    lines.append(ROW_HEADER)
    lines += [row_line(r) for r in result.get("throughput", [])]
    e = result.get("estimate", {})
    for key in ("by_rate_at_best_batch", "as_sweep_batches"):
        if key in e:
            hours = e[key]["seconds"] / 3600
            lines.append(f"  paper sweep ({e['sweep']['runs']} runs), {key}: {hours:.2f} h")
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    from lava_sleep.engine.simulator import check_device
    from lava_sleep.simulation import BackendError

    try:
        check_device(args.device)
    except BackendError as exc:
        return _error(str(exc))
    batches = args.batches or ([2] if args.quick else list(BATCHES))
    fixed_batches = args.fixed_batches if args.fixed_batches is not None else ([] if args.quick
                                                                               else list(FIXED_BATCHES))
    seconds = args.seconds if args.seconds is not None else (QUICK_SECONDS if args.quick else 5.0)
    if min(batches + fixed_batches) < 1:
        return _error("--batches and --fixed-batches must be >= 1")
    if not seconds > 0 or not args.budget > 0:
        return _error("--seconds and --budget must be > 0")
    spi = QUICK_STEPS_PER_IMAGE if args.quick else None
    from lava_sleep.data import DataError

    start = time.perf_counter()
    try:
        images, data_info = load_images(args.dataset, args.random_images)
    except DataError as exc:
        return _error(str(exc).splitlines()[0])
    if data_info.get("images_fallback"):
        print(f"gpu_check: {data_info['images_fallback']}", flush=True)
    result = {"script": "benchmarks/gpu_check.py", "device": args.device, "impl": args.impl,
              "quick": args.quick,
              "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": bench.machine_info(args.device), "status": "running",
              "settings": {"batches": batches, "fixed_batches": fixed_batches, "seconds": seconds,
                           "budget_s": args.budget, **data_info,
                           "steps_per_image": check_params(False, 0.0, spi).input.steps_per_image}}

    def save(status="running"):
        result["status"] = status
        result["elapsed_s"] = time.perf_counter() - start
        atomic_write_json(args.json, result)

    save()
    machine = result["machine"]
    print(f"gpu_check of {args.impl} on {args.device} ({machine.get('gpu') or machine['cpu']})", flush=True)
    result["correctness"] = corr = correctness(args.device, images, args.quick, args.impl)
    save()
    print(f"correctness: {'passed' if corr['passed'] else 'FAILED'} ({time.perf_counter() - start:.0f} s)",
          flush=True)
    print(ROW_HEADER, flush=True)

    p_float = check_params(False, bench.SLEEP_FRACTION, spi)
    eps = bench.events_per_step(p_float, images, SEEDS[0], max(4, bench.period_images(p_float)))
    calib = {"init_s_per_member": max([r["init_s"] / r["members"] for r in corr.values()
                                       if isinstance(r, dict) and r.get("init_s") is not None], default=0.0)}
    result["throughput"] = rows = []
    for batch, mode in plan(batches, fixed_batches):
        elapsed = time.perf_counter() - start
        guess = predict_seconds(batch, mode, seconds, calib)
        if elapsed >= args.budget or (guess is not None and elapsed + guess > args.budget):
            row = planned_row(batch, mode, args.device, data_info, spi, args.impl)[0]
            why = (f"the {args.budget:g} s budget is spent ({elapsed:.0f} s)" if elapsed >= args.budget
                   else f"predicted {guess:.0f} s would end at {elapsed + guess:.0f} s, past the "
                        f"{args.budget:g} s budget")
            row.update(status="skipped", reason=f"time guard: {why}", peak_memory_bytes=None)
        else:
            row = throughput_row(batch, mode, args.device, images, seconds, eps, data_info, spi, args.impl)
            if row["status"] == "ok":
                calib[mode] = {"batch": batch, "call_s": row["seconds"] / row["calls"]}
        rows.append(row)
        save()
        print(row_line(row), flush=True)

    result["estimate"] = estimate(rows)
    result["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    save("done")
    print("\n".join(summary_lines(result)))
    print(f"wrote {args.json} ({time.perf_counter() - start:.0f} s)")
    return 0 if corr["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
