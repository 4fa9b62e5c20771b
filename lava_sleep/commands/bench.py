"""``lava-sleep bench``: simulation throughput of every backend, written as a JSON list.

Each row simulates the paper network (225 inputs, 200 E, 50 I; STDP on; sleep fraction 0.2)
for a short timed window after a warm-up and records::

    {backend, network, batch, steps, seconds, network_steps_per_s, synaptic_events_per_s,
     device, mode, dtype, impl, sleep_steps, sleep_share, events_per_step, status, machine, ...}

* ``network_steps_per_s`` counts every member of a batch (aggregate);
* ``synaptic_events_per_s`` = network_steps_per_s x events_per_step, where events_per_step
  (spikes times the number of existing synapses they travel through, all pathways) is
  measured once for the configuration with a recorded run of the engine (all backends
  compute the same spikes, so it is a property of the model, not of the backend);
* the schedule puts a sleep episode after every image (period = steps_per_image = 350) and
  disables early wake-up (tol = 0), so every window of whole images is 20 % sleep, block
  decays included; fixed-point rows use the linear decay form (the only fixed form);
* Lava rows run in a subprocess each (a hang or crash there cannot stop the bench) and are
  recorded as ``status: "skipped"`` with the reason when the backend is unavailable.

The JSON file is rewritten atomically after every row, so an interrupted bench keeps the
rows it finished. Timings are wall-clock and depend on the machine's load; ``machine``
records CPU, cores, load average and library versions.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

HELP = "measure simulation throughput of the backends (writes a JSON list of records)"

BACKENDS = ("numpy", "torch", "lava-float", "lava-fixed", "lava-float-fused", "lava-fixed-fused")
CPU_BATCHES = (1, 16, 64)
CUDA_BATCHES = (1, 16, 64, 256, 1024)
SLEEP_FRACTION = 0.2
RESULT_TAG = "BENCH_RESULT "


def add_arguments(p):
    p.add_argument("--json", metavar="FILE", default=None,
                   help="write the records to FILE (a JSON list; written atomically after every row)")
    p.add_argument("--full", action="store_true",
                   help="more rows: float32 and fixed engine modes, the pure torch path, larger batches, "
                        "the fused Lava model's NumPy step")
    p.add_argument("--backends", nargs="+", metavar="B", default=list(BACKENDS),
                   help=f"backends to measure (default all: {' '.join(BACKENDS)})")
    p.add_argument("--seconds", type=float, default=5.0, metavar="S",
                   help="timed window per row after the warm-up, seconds (default 5; at least one image)")
    p.add_argument("--batches", type=int, nargs="+", metavar="B", default=None,
                   help="torch batch sizes (default 1 16 64 on the CPU, up to 1024 on CUDA)")
    p.add_argument("--device", default="auto",
                   help="torch rows: cpu, cuda or auto (default: CPU rows, plus CUDA rows when present)")
    p.add_argument("--seed", type=int, default=0, help="seed of the networks (default 0)")


# -- configuration ---------------------------------------------------------------------------
def bench_params(fixed: bool = False):
    """The paper network with STDP on and 20 % sleep, one episode after every image."""
    from lava_sleep import params as P

    base = P.paper()
    spi = base.input.steps_per_image
    form = "linear" if fixed else base.sleep.form
    return dataclasses.replace(base, sleep=dataclasses.replace(
        base.sleep, fraction=SLEEP_FRACTION, period=spi, tol=0.0, form=form))


def bench_images(n: int = 64) -> np.ndarray:
    """The embedded digits (no download) resized to 15x15, flattened; random images as fallback."""
    try:
        from lava_sleep.data import load_dataset, resize_images

        ds = load_dataset("digits")
        return resize_images(ds.images[:n], 15).reshape(n, -1)
    except Exception:  # noqa: BLE001 - the bench must run even without the data module
        return np.random.default_rng(0).integers(0, 256, size=(n, 225), dtype=np.uint8)


def machine_info(device: str | None = None) -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            names = [ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    info = {
        "cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    try:
        from importlib.metadata import version

        info["lava_nc"] = version("lava-nc")
    except Exception:  # noqa: BLE001
        info["lava_nc"] = None
    if device and device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def events_per_step(params, images, seed: int) -> float:
    """Mean synaptic events per network step: spikes times existing outgoing synapses."""
    from lava_sleep.backends import make_simulator

    sim = make_simulator("torch", [params], [seed])
    out = sim.run(images[:4], record_spikes=True)
    masks, sp = sim.masks(0), out.spikes[0]
    events = 0
    for name, mask in masks.items():
        out_degree = mask.sum(0)  # (pre,)
        events += int((sp[name[0]] @ out_degree).sum())
    return events / max(int(out.steps[0]), 1)


# -- measuring -------------------------------------------------------------------------------
def measure(sim, images, seconds: float) -> dict:
    """Warm up on one image, then run one image per call until ``seconds`` have passed."""
    sim.run(images[:1])
    steps = sleep_steps = 0
    k = 1
    t0 = time.perf_counter()
    while True:
        out = sim.run(images[k % len(images): k % len(images) + 1])
        k += 1
        steps += int(np.sum(out.steps))
        sleep_steps += int(np.sum(out.sleep_steps))
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            break
    return {"steps": steps, "seconds": elapsed, "sleep_steps": sleep_steps}


def _row(backend, batch, device, mode, dtype, impl, fixed) -> dict:
    p = bench_params(fixed)
    return {"backend": backend, "network": "paper", "batch": batch, "device": device, "mode": mode,
            "dtype": dtype, "impl": impl, "steps": 0, "seconds": 0.0, "network_steps_per_s": None,
            "synaptic_events_per_s": None, "sleep_steps": 0, "sleep_share": None,
            "steps_per_image": p.input.steps_per_image, "sleep_period": p.sleep.period,
            "sleep_fraction": p.sleep.fraction, "sleep_form": p.sleep.form, "status": "ok", "reason": None}


def _finish(row, res, eps) -> dict:
    row.update(res)
    row["network_steps_per_s"] = res["steps"] / res["seconds"] if res["seconds"] > 0 else None
    row["synaptic_events_per_s"] = row["network_steps_per_s"] * eps if row["network_steps_per_s"] else None
    row["sleep_share"] = res["sleep_steps"] / res["steps"] if res["steps"] else None
    row["events_per_step"] = eps
    return row


def run_inprocess(row, images, seconds, seed, eps, threads=None) -> dict:
    from lava_sleep.backends import make_simulator

    fixed = row["mode"] == "fixed"
    p = bench_params(fixed)
    B = row["batch"]
    if row["backend"] == "numpy":
        sim = make_simulator("numpy", [p] * B, [seed + b for b in range(B)], mode=row["mode"],
                             dtype=row["dtype"])
    else:
        from lava_sleep.engine import TorchSimulator

        sim = TorchSimulator([p] * B, [seed + b for b in range(B)], mode=row["mode"], dtype=row["dtype"],
                             device=row["device"], impl=row["impl"] or "auto", threads=threads)
        row["impl"] = sim.impl_name
    try:
        return _finish(row, measure(sim, images, seconds), eps)
    finally:
        close = getattr(sim, "close", None)
        if close is not None:
            close()


def run_lava_subprocess(row, seconds, seed, eps) -> dict:
    spec = {"backend": row["backend"], "impl": row["impl"], "seconds": seconds, "seed": seed}
    code = "from lava_sleep.commands.bench import lava_worker; raise SystemExit(lava_worker())"
    try:
        res = subprocess.run([sys.executable, "-c", code], input=json.dumps(spec), capture_output=True,
                             text=True, timeout=180 + 10 * seconds)
    except subprocess.TimeoutExpired:
        row.update(status="skipped", reason=f"timed out after {180 + 10 * seconds:.0f} s")
        return row
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith(RESULT_TAG)]
    if not lines:
        tail = (res.stderr.strip().splitlines() or ["no output"])[-1]
        row.update(status="skipped", reason=f"worker failed (exit {res.returncode}): {tail}")
        return row
    result = json.loads(lines[-1][len(RESULT_TAG):])
    if "error" in result:
        row.update(status="skipped", reason=result["error"])
        return row
    return _finish(row, result, eps)


def lava_worker() -> int:
    """Subprocess entry point: measure one Lava backend (spec as JSON on stdin)."""
    spec = json.loads(sys.stdin.read())
    try:
        from lava_sleep import lava_backend

        sim = lava_backend.make(spec["backend"], [bench_params("fixed" in spec["backend"])], [spec["seed"]],
                                fused_kernel=spec.get("impl") or "auto")
    except Exception as exc:  # noqa: BLE001 - reported as a skipped row
        print(RESULT_TAG + json.dumps({"error": f"{type(exc).__name__}: {exc}".splitlines()[0]}), flush=True)
        return 0
    try:
        res = measure(sim, bench_images(), spec["seconds"])
        res["impl"] = getattr(sim, "fused_kernel", None)
    except Exception as exc:  # noqa: BLE001
        res = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    finally:
        sim.close()
    print(RESULT_TAG + json.dumps(res), flush=True)
    return 0


# -- the command -------------------------------------------------------------------------------
def plan_rows(args, cuda: bool) -> list[dict]:
    rows = []
    want = set(args.backends)
    if "numpy" in want:
        rows.append(_row("numpy", 1, "cpu", "float", "float64", None, False))
        if args.full:
            rows.append(_row("numpy", 1, "cpu", "fixed", "float64", None, True))
    if "torch" in want:
        devices = []
        if args.device in ("auto", "cpu"):
            devices.append("cpu")
        if (args.device == "auto" and cuda) or args.device.startswith("cuda"):
            devices.append("cuda" if args.device == "auto" else args.device)
        for dev in devices:
            batches = args.batches or (CUDA_BATCHES if dev.startswith("cuda") else CPU_BATCHES)
            if args.full and not args.batches and dev == "cpu":
                batches = (*batches, 256)
            for b in batches:
                rows.append(_row("torch", b, dev, "float", "float64", None, False))
            if args.full:
                for b in (batches[0], batches[-1]):
                    rows.append(_row("torch", b, dev, "float", "float32", None, False))
                    rows.append(_row("torch", b, dev, "fixed", "float64", None, True))
                if dev == "cpu":  # the pure tensor path, for comparison with the native kernel
                    rows.append(_row("torch", 1, dev, "float", "float64", "torch", False))
                    rows.append(_row("torch", 64, dev, "float", "float64", "torch", False))
    for be in BACKENDS[2:]:
        if be in want:
            fixed = "fixed" in be
            rows.append(_row(be, 1, "cpu", "fixed" if fixed else "float", "float64", None, fixed))
            if args.full and be.endswith("fused"):  # the fused model's NumPy step, for comparison
                rows.append(_row(be, 1, "cpu", "fixed" if fixed else "float", "float64", "numpy", fixed))
    return rows


def format_row(r: dict) -> str:
    impl = r["impl"] or "-"
    what = f"{r['backend']:<17}{impl:<7}{r['mode']:<6}{r['dtype']:<8}{r['batch']:>5}  {r['device']:<5}"
    if r["status"] != "ok":
        return f"{what}  skipped: {r['reason']}"
    return (f"{what}{r['network_steps_per_s']:>14,.0f}{r['synaptic_events_per_s']:>16,.0f}"
            f"{r['sleep_share']:>8.2f}{r['seconds']:>7.1f}")


def run(args) -> int:
    import torch

    from lava_sleep.errors import UserError
    from lava_sleep.io import atomic_write_json

    unknown = sorted(set(args.backends) - set(BACKENDS))
    if unknown:
        raise UserError(f"unknown backend(s) {unknown}; choose from {', '.join(BACKENDS)}")
    if not args.seconds > 0:
        raise UserError(f"--seconds must be > 0, got {args.seconds}")
    if args.batches and min(args.batches) < 1:
        raise UserError("--batches must be >= 1")
    if not 0 <= args.seed < 2**32 - 2**16:  # members use seeds seed .. seed + B - 1
        raise UserError(f"--seed must be in [0, 2**32 - 65536), got {args.seed}")
    if args.device not in ("auto", "cpu") and not args.device.startswith("cuda"):
        raise UserError(f"--device must be auto, cpu or cuda[:N], got {args.device!r}")
    cuda = torch.cuda.is_available()
    if args.device.startswith("cuda") and not cuda:
        raise UserError(f"--device {args.device}: CUDA is not available on this machine")
    images = bench_images()
    rows = plan_rows(args, cuda)
    eps = events_per_step(bench_params(), images, args.seed)
    print(f"paper network, STDP on, sleep fraction {SLEEP_FRACTION}; {eps:.1f} synaptic events per "
          f"network-step; window {args.seconds:g} s per row")
    print(f"{'backend':<17}{'impl':<7}{'mode':<6}{'dtype':<8}{'batch':>5}  {'dev':<5}"
          f"{'net-steps/s':>14}{'syn-events/s':>16}{'sleep':>8}{'secs':>7}")
    done = []
    for row in rows:
        row["machine"] = machine_info(row["device"])
        if row["backend"].startswith("lava"):
            row = run_lava_subprocess(row, args.seconds, args.seed, eps)
        else:
            try:
                row = run_inprocess(row, images, args.seconds, args.seed, eps)
            except UserError as exc:
                row.update(status="skipped", reason=str(exc))
        done.append(row)
        print(format_row(row), flush=True)
        if args.json:
            atomic_write_json(args.json, done)
    if args.json:
        print(f"wrote {len(done)} records to {args.json}")
    return 0
