"""``lava-sleep bench``: simulation throughput of every backend, written as a JSON list.

Each row simulates the paper network (225 inputs, 200 E, 50 I; STDP on) for a short timed
window after a warm-up and records::

    {backend, network, batch, steps, seconds, network_steps_per_s, synaptic_events_per_s,
     device, mode, dtype, impl, sleep_fraction, sleep_steps, sleep_share, schedule,
     sleep_period, images_per_call, input_rate_hz, dataset, events_per_step, status, machine, ...}

* ``network_steps_per_s`` counts every member of a batch (aggregate);
* ``synaptic_events_per_s`` = network_steps_per_s x events_per_step, where events_per_step
  (spikes times the number of existing synapses they travel through, all pathways) is
  measured once per schedule and sleep fraction with a recorded run of the engine (all
  backends compute the same spikes, so it is a property of the model, not of the backend);
* engine rows (``torch``, native kernel) run the way ``lava-sleep train`` does: the paper
  preset's schedule (one sleep episode every ``period`` = 3,500 steps, i.e. every 10 images;
  early wake-up as configured) and ``run()`` on chunks of many images (160 at B = 1, the
  chunk ``train`` uses for 8,000 images and 50 snapshots; about 160 member-images per call at
  larger batches, whole sleep periods). Each batch size gets a 20 %-sleep row and a no-sleep
  row (``--sleep-fractions``);
* the slow rows (NumPy oracle, Lava backends, the engine's pure torch path) run one image per
  call with a sleep episode after every image (period = steps_per_image = 350, early wake-up
  off), so even a window of a few images is 20 % sleep, block decays included; fixed-point
  rows use the linear decay form (the only fixed form);
* the images are the first 512 of ``--dataset`` (default: the embedded digits, no download),
  resized to 15x15; a dataset that fails to load is a one-line error (exit 2), never a silent
  substitute. Random images only with ``--random-images``, recorded in every row;
* Lava rows run in a subprocess each (a hang or crash there cannot stop the bench) and are
  recorded as ``status: "skipped"`` with the reason when the backend is unavailable;
* ``launches_per_tick`` (rows of the engine's pure torch path, ``impl: "torch"`` or, with its
  tick under torch.compile, ``"torch-compiled"``, which is what the CUDA rows run; None
  elsewhere): kernel launches per lockstep tick (one tick advances every member one step),
  counted by :func:`launches_per_tick` under torch.profiler
  in one extra call of one image after the timed window (profiling never slows the timed
  calls). On CUDA it counts device kernels, memcpy and memset operations; on the CPU the
  top-level ATen operator calls plus any torch.compile-generated kernels. ``launch_profile``
  holds that call's ticks, sleep ticks, launches, launches by kind and what was counted
  (training-schedule rows: the image after the window is the first of a sleep period, so
  its ticks are wake ticks only).

The JSON file is rewritten atomically after every row, so an interrupted bench keeps the
rows it finished. Timings are wall-clock and depend on the machine's load; ``machine``
records CPU, cores, load average and library versions.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import re
import subprocess
import sys
import time

import numpy as np

#: --impl values of the engine's pure torch path (rows on the per-image schedule, with launches)
PURE_TORCH = ("torch", "torch-compiled")
HELP = "measure simulation throughput of the backends (writes a JSON list of records)"

BACKENDS = ("numpy", "torch", "lava-float", "lava-fixed", "lava-float-fused", "lava-fixed-fused")
CPU_BATCHES = (1, 16, 64)
CUDA_BATCHES = (1, 16, 64, 256, 1024)
SLEEP_FRACTION = 0.2
SLEEP_FRACTIONS = (SLEEP_FRACTION, 0.0)
#: images per run() call at B = 1: the chunk `lava-sleep train` uses for 8,000 training
#: images and 50 snapshots (lava_sleep.experiment.stdp.chunk_bounds: ceil(8000 / 50)).
TRAIN_CHUNK = math.ceil(8000 / 50)
#: no-sleep rows are added for batches up to this size (larger CUDA batches: sleep rows only).
NO_SLEEP_MAX_BATCH = 64
BENCH_IMAGES = 512
DEFAULT_DATASET = "digits"
SCHEDULE_TRAINING = "training"
SCHEDULE_PER_IMAGE = "sleep after every image"
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
                   help="timed window per row after the warm-up, seconds (default 5; at least one call)")
    p.add_argument("--batches", type=int, nargs="+", metavar="B", default=None,
                   help="torch batch sizes (default 1 16 64 on the CPU, up to 1024 on CUDA)")
    p.add_argument("--sleep-fractions", type=float, nargs="+", metavar="F", default=list(SLEEP_FRACTIONS),
                   help="engine rows: one row per sleep fraction at each batch (default 0.2 0: a 20 %% "
                        f"sleep row and a no-sleep row; no-sleep rows up to B = {NO_SLEEP_MAX_BATCH}); "
                        "the NumPy and Lava rows use the first")
    p.add_argument("--chunk-images", type=int, default=TRAIN_CHUNK, metavar="N",
                   help=f"engine rows: images per run() call at B = 1 (default {TRAIN_CHUNK}, the chunk "
                        "train uses for 8,000 images); at batch B about N/B, in whole sleep periods "
                        "(10 images), at least one period")
    p.add_argument("--dataset", default=None, metavar="NAME",
                   help=f"images to present: digits | mnist | ... | path to .npz or IDX folder "
                        f"(default {DEFAULT_DATASET}, embedded; the first {BENCH_IMAGES}, resized to 15x15)")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="folder holding the dataset files (default: the cache folder)")
    p.add_argument("--random-images", action="store_true",
                   help="present uniformly random images (seed 0) instead of a dataset; recorded in "
                        "every row (random pixels drive the network much harder than digits)")
    p.add_argument("--device", default="auto",
                   help="torch rows: cpu, cuda or auto (default: CPU rows, plus CUDA rows when present)")
    p.add_argument("--seed", type=int, default=0, help="seed of the networks (default 0)")
    p.add_argument("--impl", choices=PURE_TORCH + ("auto", "native"), default="auto",
                   help="engine rows: auto (native C kernel on the CPU, the compiled torch path on CUDA), "
                        "native, torch (the pure tensor path, eager, at every batch, on the per-image "
                        "schedule, with launches_per_tick) or torch-compiled (the same under "
                        "torch.compile: a minute or more of compilation before the first row)")


# -- configuration ---------------------------------------------------------------------------
def bench_params(fixed: bool = False, fraction: float = SLEEP_FRACTION):
    """The slow rows' schedule: the paper network with STDP on and sleep ``fraction``, one
    episode after every image and early wake-up off (every window of whole images has the
    fraction's share of sleep)."""
    from lava_sleep import params as P

    base = P.paper()
    spi = base.input.steps_per_image
    form = "linear" if fixed else base.sleep.form
    return dataclasses.replace(base, sleep=dataclasses.replace(
        base.sleep, fraction=float(fraction), period=spi, tol=0.0, form=form))


def training_params(fixed: bool = False, fraction: float = SLEEP_FRACTION):
    """The engine rows' schedule: what ``lava-sleep train --sleep-fraction F`` runs (the paper
    preset with that fraction; fixed point in the linear decay form)."""
    from lava_sleep import params as P

    p = P.paper().with_sleep_fraction(float(fraction))
    if fixed:
        p = dataclasses.replace(p, sleep=dataclasses.replace(p.sleep, form="linear"))
    return p


def row_params(row: dict):
    fixed = row["mode"] == "fixed"
    if row["schedule"] == SCHEDULE_TRAINING:
        return training_params(fixed, row["sleep_fraction"])
    return bench_params(fixed, row["sleep_fraction"])


def period_images(p) -> int:
    """Images per sleep period (the schedule repeats every this many images)."""
    return max(1, math.ceil(p.sleep.period / p.input.slot_steps))


def chunk_images(chunk: int, batch: int, per_period: int) -> int:
    """Images per call at ``batch``: about chunk / batch, whole periods, at least one period."""
    return max(per_period, (chunk // batch) // per_period * per_period)


def load_bench_images(dataset: str | None = None, data_dir=None, n: int = BENCH_IMAGES,
                      random: bool = False, size: int = 15) -> tuple[np.ndarray, dict]:
    """The bench's images (n, size*size) uint8 and a description for the records.

    The first ``n`` images of ``dataset`` (default the embedded digits), area-resampled to
    size x size. Raises DataError (one line, exit 2 on the command line) when the dataset
    cannot be loaded; random images only when asked for (``random=True``).
    """
    from lava_sleep.data import DataError, load_dataset, resize_images

    if random:
        if dataset is not None:
            raise DataError("--random-images and --dataset exclude each other")
        images = np.random.default_rng(0).integers(0, 256, size=(n, size * size), dtype=np.uint8)
        return images, {"dataset": "random (uniform 0-255, seed 0)", "dataset_images": n,
                        "original_size": [size, size], "random_images": True}
    name = DEFAULT_DATASET if dataset is None else dataset
    ds = load_dataset(name, data_dir=data_dir)
    if len(ds) == 0:
        raise DataError(f"{name}: the dataset holds no images")
    k = min(n, len(ds))
    images = resize_images(ds.images[:k], size).reshape(k, -1)
    return images, {"dataset": str(ds.name), "dataset_images": int(k),
                    "original_size": [int(x) for x in ds.images.shape[1:]], "random_images": False}


def bench_images(n: int = 64) -> np.ndarray:
    """The embedded digits (no download) resized to 15x15, flattened (raises DataError)."""
    return load_bench_images(DEFAULT_DATASET, n=n)[0]


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


def events_per_step(params, images, seed: int, n_images: int = 4) -> float:
    """Mean synaptic events per network step: spikes times existing outgoing synapses, over
    ``n_images`` images (and the sleep they bring) of a fresh engine member."""
    from lava_sleep.backends import make_simulator

    sim = make_simulator("torch", [params], [seed])
    try:
        out = sim.run(cycle(images, 0, n_images), record_spikes=True)
        masks, sp = sim.masks(0), out.spikes[0]
    finally:
        getattr(sim, "close", lambda: None)()
    events = 0
    for name, mask in masks.items():
        out_degree = mask.sum(0)  # (pre,)
        events += int((sp[name[0]] @ out_degree).sum())
    return events / max(int(out.steps[0]), 1)


# -- measuring -------------------------------------------------------------------------------
def cycle(images: np.ndarray, start: int, n: int) -> np.ndarray:
    """Images start .. start + n - 1, wrapping around the set."""
    return images[np.arange(start, start + n) % len(images)]


def measure(sim, images, seconds: float, images_per_call: int = 1, warmup_images: int = 1,
            sync=None) -> dict:
    """Warm up on ``warmup_images`` images, then call ``run()`` on ``images_per_call``
    images at a time until ``seconds`` have passed (at least one call). ``sync()`` (e.g.
    torch.cuda.synchronize) is called before the timer is read, so no queued work is missed."""
    sync = sync or (lambda: None)
    sim.run(cycle(images, 0, warmup_images))
    steps = sleep_steps = calls = 0
    k = warmup_images
    sync()
    t0 = time.perf_counter()
    while True:
        out = sim.run(cycle(images, k, images_per_call))
        k += images_per_call
        calls += 1
        steps += int(np.sum(out.steps))
        sleep_steps += int(np.sum(out.sleep_steps))
        sync()
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            break
    return {"steps": steps, "seconds": elapsed, "sleep_steps": sleep_steps, "calls": calls,
            "images": calls * images_per_call}


def _row(backend, batch, device, mode, dtype, impl, fixed, sleep_fraction=SLEEP_FRACTION,
         images_per_call=None, data_info=None) -> dict:
    """A planned record. The engine's native rows (backend torch, impl not in PURE_TORCH) use the
    training schedule and ``images_per_call`` (default: the training chunk scaled to the
    batch); the other rows the per-image schedule, one image per call."""
    chunked = backend == "torch" and impl not in PURE_TORCH
    row = {"backend": backend, "network": "paper", "batch": batch, "device": device, "mode": mode,
           "dtype": dtype, "impl": impl, "sleep_fraction": float(sleep_fraction),
           "schedule": SCHEDULE_TRAINING if chunked else SCHEDULE_PER_IMAGE,
           "steps": 0, "seconds": 0.0, "network_steps_per_s": None, "synaptic_events_per_s": None,
           "sleep_steps": 0, "sleep_share": None, "launches_per_tick": None, "status": "ok",
           "reason": None}
    p = row_params({**row, "mode": "fixed" if fixed else mode})
    per_period = period_images(p)
    if not chunked:
        ipc, warm = 1, 1
    else:
        ipc = images_per_call or chunk_images(TRAIN_CHUNK, batch, per_period)
        warm = per_period if p.sleep.fraction > 0 else 1  # the first episode happens in the warm-up
    row.update({"images_per_call": int(ipc), "warmup_images": int(warm), "calls": 0, "images": 0,
                **schedule_fields(p)})
    row.update(data_info or {"dataset": DEFAULT_DATASET, "random_images": False})
    return row


def schedule_fields(p) -> dict:
    """The fields of a record that say which schedule and input ``p`` run (steps, rate in Hz)."""
    return {"steps_per_image": p.input.steps_per_image, "sleep_period": p.sleep.period,
            "sleep_tol": p.sleep.tol, "sleep_form": p.sleep.form, "input_rate_hz": p.input.max_rate_hz}


def _finish(row, res, eps) -> dict:
    row.update(res)
    row["network_steps_per_s"] = res["steps"] / res["seconds"] if res["seconds"] > 0 else None
    row["synaptic_events_per_s"] = row["network_steps_per_s"] * eps if row["network_steps_per_s"] else None
    row["sleep_share"] = res["sleep_steps"] / res["steps"] if res["steps"] else None
    row["events_per_step"] = eps
    return row


def run_inprocess(row, images, seconds, seed, eps, threads=None, params=None) -> dict:
    """Measure ``row`` in this process (``params``: the members' parameters, default
    :func:`row_params`; a caller that passes others records them with :func:`schedule_fields`).
    Rows of the engine's pure torch path also get ``launches_per_tick`` from one more call of
    one image after the timed window."""
    from lava_sleep.backends import make_simulator

    p = row_params(row) if params is None else params
    B = row["batch"]
    sync = None
    if row["backend"] == "numpy":
        sim = make_simulator("numpy", [p] * B, [seed + b for b in range(B)], mode=row["mode"],
                             dtype=row["dtype"])
    else:
        from lava_sleep.engine import TorchSimulator

        compiled = row["impl"] == "torch-compiled"
        sim = TorchSimulator([p] * B, [seed + b for b in range(B)], mode=row["mode"], dtype=row["dtype"],
                             device=row["device"], impl="torch" if compiled else row["impl"] or "auto",
                             threads=threads, compile=True if compiled else None)
        row["impl"] = "torch-compiled" if sim.compile else sim.impl_name
        if sim.device.type == "cuda":
            import torch

            def sync():
                torch.cuda.synchronize(sim.device)
    try:
        _finish(row, measure(sim, images, seconds, row["images_per_call"], row["warmup_images"], sync), eps)
        if getattr(sim, "impl_name", None) == "torch":
            nxt = row["warmup_images"] + row["images"]
            prof = launches_per_tick(sim, cycle(images, nxt, 1))
            row["launches_per_tick"] = prof.pop("launches_per_tick")
            row["launch_profile"] = prof
        return row
    finally:
        close = getattr(sim, "close", None)
        if close is not None:
            close()


# -- kernel launches -------------------------------------------------------------------------
#: CPU profiler events that stand for a torch.compile region (the code inductor generated runs
#: inside), and name prefixes of the kernels inductor generates (C++ on the CPU, Triton on CUDA;
#: inductor's kernel profiling names a C++ kernel ``graph_<n>_cpp_fused_...``).
COMPILED_REGIONS = ("Torch-Compiled Region", "CompiledFunction", "## Call CompiledFxGraph")
GENERATED_KERNELS = ("cpp_fused", "triton_")
_GRAPH_PREFIX = re.compile(r"^graph_\d+_")


def _generated(name: str) -> bool:
    """Whether a profiler event's name is a kernel torch.compile generated."""
    return _GRAPH_PREFIX.sub("", name).startswith(GENERATED_KERNELS)
#: kineto activity types of the device operations counted as launches, and their kind.
DEVICE_KINDS = {"kernel": "kernel", "gpu_memcpy": "memcpy", "gpu_memset": "memset"}
#: ATen operators that only make views or allocate (no data is read or written, no kernel runs on
#: a GPU); a top-level call of one counts as a launch only when an operator below it computes.
METADATA_OPS = frozenset({
    "aten::view", "aten::_unsafe_view", "aten::reshape", "aten::_reshape_alias", "aten::slice",
    "aten::select", "aten::unsqueeze", "aten::squeeze", "aten::expand", "aten::expand_as",
    "aten::transpose", "aten::t", "aten::permute", "aten::as_strided", "aten::split",
    "aten::split_with_sizes", "aten::unbind", "aten::alias", "aten::detach", "aten::view_as",
    "aten::empty", "aten::empty_strided", "aten::empty_like", "aten::resize_", "aten::lift_fresh",
    "aten::to", "aten::numpy_T", "aten::chunk", "aten::narrow"})
CPU_COUNTED = ("top-level ATen operator calls (aten::* CPU events whose parent is not an aten:: event: "
               "what Python dispatched), except calls that only make views or allocate (METADATA_OPS "
               "with no computing operator below them; by_kind['metadata'], not counted)")
DEVICE_COUNTED = ("CUDA device operations: kernels, memcpy and memset (each one launch on the device; "
                  "by_kind splits them), from CUPTI through torch.profiler")


def _get(event, attr, default=None):
    """``attr`` of a profiler event: an attribute (torch FunctionEvent) or a method (raw kineto
    event)."""
    v = getattr(event, attr, default)
    return v() if callable(v) else v


class _Node:
    """A CPU profiler event reduced to what :func:`count_cpu_launches` reads."""

    __slots__ = ("name", "cpu_parent")

    def __init__(self, name: str, cpu_parent=None):
        self.name, self.cpu_parent = name, cpu_parent


def cpu_event_tree(events) -> list:
    """The synchronous CPU events among raw kineto events (``prof.profiler.kineto_results
    .events()``) as nodes with ``name`` and ``cpu_parent``: the innermost event of the same
    thread whose time span encloses it. Much cheaper than torch's ``prof.events()`` for the
    hundreds of thousands of events of a profiled engine call."""
    threads: dict = {}
    for e in events:
        if ("CPU" not in str(_get(e, "device_type", "CPU")) or _get(e, "is_async", False)
                or _get(e, "is_hidden_event", False)):
            continue
        start, end = _get(e, "start_ns"), _get(e, "end_ns")
        threads.setdefault(_get(e, "start_thread_id"), []).append((start, -end, _get(e, "name")))
    nodes = []
    for evs in threads.values():
        evs.sort()  # by start, the enclosing (longer) event first
        stack = []  # (end_ns, node) of the open events
        for start, neg_end, name in evs:
            while stack and stack[-1][0] <= start:
                stack.pop()
            node = _Node(name, stack[-1][1] if stack else None)
            nodes.append(node)
            stack.append((-neg_end, node))
    return nodes


def _ancestors(event):
    parent = event.cpu_parent
    while parent is not None:
        yield parent
        parent = parent.cpu_parent


def count_cpu_launches(events) -> tuple[int, dict]:
    """Launches in CPU profiler events (objects with ``name`` and ``cpu_parent``, such as torch's
    FunctionEvents): top-level ATen operator calls (``aten::*`` whose parent is not ``aten::*``),
    plus the kernels torch.compile generated (``cpp_fused*`` / ``triton_*`` events not inside
    another such event), plus 1 for every outermost compiled region (``COMPILED_REGIONS``) in
    which no generated kernel is visible (its fused code then counts as one launch).

    A top-level call of a view or allocation operator (:data:`METADATA_OPS`) is not a launch
    unless an operator below it computes (a reshape that copies, a ``to`` that converts); those
    calls are counted in by_kind["metadata"] only.

    Returns (launches, by_kind) with by_kind {"aten": n, "generated": n, "compiled_region": n,
    "metadata": n} (launches = the sum of the first three).
    """
    events = [e for e in events if "CPU" in str(_get(e, "device_type", "CPU"))]
    computes = set()  # ids of aten events that compute or have a computing aten descendant
    for e in events:
        if e.name.startswith("aten::") and e.name not in METADATA_OPS:
            computes.add(id(e))
            computes.update(id(a) for a in _ancestors(e))
    by_kind = {"aten": 0, "generated": 0, "compiled_region": 0}
    metadata = 0
    regions = {}  # id(outermost compiled region) -> a generated kernel is visible inside
    for e in events:
        name = e.name
        if name.startswith("aten::"):
            parent = e.cpu_parent
            if parent is None or not parent.name.startswith("aten::"):
                if id(e) in computes:
                    by_kind["aten"] += 1
                else:
                    metadata += 1
            continue
        up = list(_ancestors(e))
        outer = [a for a in up if a.name.startswith(COMPILED_REGIONS)]
        if _generated(name):
            if not any(_generated(a.name) for a in up):
                by_kind["generated"] += 1
            if outer:
                regions[id(outer[-1])] = True
        elif name.startswith(COMPILED_REGIONS) and not outer:
            regions.setdefault(id(e), False)
    by_kind["compiled_region"] = sum(not seen for seen in regions.values())
    return sum(by_kind.values()), {**by_kind, "metadata": metadata}


def count_device_launches(events) -> tuple[int, dict]:
    """Launches in profiler events of a CUDA device (raw kineto events or FunctionEvents):
    kernels, memcpy and memset operations, by their kineto activity type (by name where the
    event has none: "Memcpy*", "Memset*", else a kernel; user annotations are skipped).

    Returns (launches, by_kind) with by_kind {"kernel": n, "memcpy": n, "memset": n}.
    """
    by_kind = dict.fromkeys(DEVICE_KINDS.values(), 0)
    for e in events:
        if "CUDA" not in str(_get(e, "device_type", "")):
            continue
        activity = _get(e, "activity_type")
        if activity:
            kind = DEVICE_KINDS.get(str(activity))
        elif _get(e, "is_user_annotation", False):
            kind = None
        else:
            name = str(_get(e, "name", ""))
            kind = ("memcpy" if name.startswith("Memcpy") else "memset" if name.startswith("Memset")
                    else "kernel")
        if kind is not None:
            by_kind[kind] += 1
    return sum(by_kind.values()), by_kind


def launches_per_tick(sim, images, learn: bool = True, sleep_on: bool = True) -> dict:
    """Kernel launches per lockstep tick of one ``sim.run(images, learn, sleep_on)`` call,
    counted under torch.profiler (the call runs slower than unprofiled: never time it).

    ticks = ``int(out.steps.max())``: the lockstep path advances every member one step per
    tick. On CUDA the launches are the device's kernels, memcpy and memset operations
    (:func:`count_device_launches`); on the CPU the top-level ATen operator calls plus any
    torch.compile-generated kernels (:func:`count_cpu_launches`). Returns ``{"launches_per_tick":
    float, "ticks": int, "sleep_ticks": int or None, "launches": int, "by_kind": dict, "counted":
    str}``; every number None for the native C kernel (``sim.impl_name == "native"``: one
    compiled loop per member, no kernel launches), and launches_per_tick None when the
    profiler recorded no device events on CUDA (CUPTI unavailable).
    """
    import torch
    from torch.profiler import ProfilerActivity, profile

    impl = getattr(sim, "impl_name", "torch")
    if impl != "torch":
        return {"launches_per_tick": None, "ticks": None, "sleep_ticks": None, "launches": None,
                "by_kind": None, "counted": f"not applicable: impl {impl!r} launches no kernels per tick"}
    dev = torch.device(getattr(sim, "device", "cpu"))
    cuda = dev.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    if cuda:
        torch.cuda.synchronize(dev)
    with profile(activities=activities) as prof:
        out = sim.run(images, learn=learn, sleep_on=sleep_on)
        if cuda:
            torch.cuda.synchronize(dev)
    ticks = int(np.max(out.steps))
    sleep = getattr(out, "sleep_steps", None)
    results = getattr(getattr(prof, "profiler", None), "kineto_results", None)
    if cuda:
        launches, by_kind = count_device_launches(prof.events() if results is None else results.events())
        counted = DEVICE_COUNTED
    else:
        launches, by_kind = count_cpu_launches(prof.events() if results is None
                                               else cpu_event_tree(results.events()))
        counted = CPU_COUNTED
        if by_kind["generated"]:
            counted += "; plus the torch.compile-generated kernels (cpp_fused*/triton_* events)"
        if by_kind["compiled_region"]:
            counted += (f"; plus {by_kind['compiled_region']} compiled region(s) whose generated kernels "
                        "were not visible, counted as 1 launch each")
    per_tick = launches / ticks if ticks else None
    if cuda and not launches:
        per_tick = None
        counted += "; no device events were recorded (CUPTI unavailable?)"
    return {"launches_per_tick": per_tick, "ticks": ticks,
            "sleep_ticks": None if sleep is None else int(np.max(sleep)),
            "launches": launches, "by_kind": by_kind, "counted": counted}


def run_lava_subprocess(row, seconds, seed, eps, images=None) -> dict:
    """Measure a Lava row in a subprocess; ``images`` (default: the embedded digits) are sent
    along, so the worker presents the same images as the other rows."""
    spec = {"backend": row["backend"], "impl": row["impl"], "seconds": seconds, "seed": seed,
            "fraction": row.get("sleep_fraction", SLEEP_FRACTION),
            "images": None if images is None else np.asarray(images, dtype=np.uint8).tolist()}
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

        p = bench_params("fixed" in spec["backend"], spec.get("fraction", SLEEP_FRACTION))
        images = (bench_images(BENCH_IMAGES) if spec.get("images") is None
                  else np.asarray(spec["images"], dtype=np.uint8))
        sim = lava_backend.make(spec["backend"], [p], [spec["seed"]], fused_kernel=spec.get("impl") or "auto")
    except Exception as exc:  # noqa: BLE001 - reported as a skipped row
        print(RESULT_TAG + json.dumps({"error": f"{type(exc).__name__}: {exc}".splitlines()[0]}), flush=True)
        return 0
    try:
        res = measure(sim, images, spec["seconds"])
        res["impl"] = getattr(sim, "fused_kernel", None)
    except Exception as exc:  # noqa: BLE001
        res = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    finally:
        sim.close()
    print(RESULT_TAG + json.dumps(res), flush=True)
    return 0


# -- the command -------------------------------------------------------------------------------
def plan_rows(args, cuda: bool, data_info: dict | None = None) -> list[dict]:
    rows = []
    want = set(args.backends)
    fractions = list(getattr(args, "sleep_fractions", None) or SLEEP_FRACTIONS)
    chunk = getattr(args, "chunk_images", None) or TRAIN_CHUNK
    f0 = fractions[0]

    def add(backend, batch, device, mode, dtype, impl, fixed, fraction=f0):
        if backend == "torch" and impl is None and getattr(args, "impl", "auto") != "auto":
            impl = args.impl
        ipc = None
        if backend == "torch" and impl not in PURE_TORCH:
            ipc = chunk_images(chunk, batch, period_images(training_params(fixed, fraction)))
        rows.append(_row(backend, batch, device, mode, dtype, impl, fixed, fraction, ipc, data_info))

    if "numpy" in want:
        add("numpy", 1, "cpu", "float", "float64", None, False)
        if args.full:
            add("numpy", 1, "cpu", "fixed", "float64", None, True)
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
                for i, f in enumerate(fractions):
                    if i == 0 or f > 0 or b <= NO_SLEEP_MAX_BATCH:
                        add("torch", b, dev, "float", "float64", None, False, f)
            if args.full:
                for b in (batches[0], batches[-1]):
                    add("torch", b, dev, "float", "float32", None, False)
                    add("torch", b, dev, "fixed", "float64", None, True)
                if dev == "cpu" and getattr(args, "impl", "auto") == "auto":  # the pure tensor path
                    add("torch", 1, dev, "float", "float64", "torch", False)
                    add("torch", 64, dev, "float", "float64", "torch", False)
                    add("torch", 64, dev, "float", "float64", "torch-compiled", False)
                    add("torch", 64, dev, "fixed", "float64", "torch-compiled", True)
    for be in BACKENDS[2:]:
        if be in want:
            fixed = "fixed" in be
            add(be, 1, "cpu", "fixed" if fixed else "float", "float64", None, fixed)
            if args.full and be.endswith("fused"):  # the fused model's NumPy step, for comparison
                add(be, 1, "cpu", "fixed" if fixed else "float", "float64", "numpy", fixed)
    return rows


def format_row(r: dict) -> str:
    impl = r["impl"] or "-"
    what = (f"{r['backend']:<17}{impl:<15}{r['mode']:<6}{r['dtype']:<8}{r['batch']:>5}  {r['device']:<5}"
            f"{r['sleep_fraction']:>6.2f}{r['images_per_call']:>6}")
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
    if args.chunk_images < 1:
        raise UserError(f"--chunk-images must be >= 1, got {args.chunk_images}")
    bad = [f for f in args.sleep_fractions if not 0 <= f <= 0.95]
    if bad:
        raise UserError(f"--sleep-fractions must be in [0, 0.95], got {bad[0]}")
    if not 0 <= args.seed < 2**32 - 2**16:  # members use seeds seed .. seed + B - 1
        raise UserError(f"--seed must be in [0, 2**32 - 65536), got {args.seed}")
    if args.device not in ("auto", "cpu") and not args.device.startswith("cuda"):
        raise UserError(f"--device must be auto, cpu or cuda[:N], got {args.device!r}")
    cuda = torch.cuda.is_available()
    if args.device.startswith("cuda") and not cuda:
        raise UserError(f"--device {args.device}: CUDA is not available on this machine")
    images, data_info = load_bench_images(args.dataset, args.data_dir, BENCH_IMAGES, args.random_images)
    rate = training_params().input.max_rate_hz
    data_info["mean_input_rate_hz"] = float(images.mean()) / 255.0 * rate
    rows = plan_rows(args, cuda, data_info)
    eps = {}
    for r in rows:
        key = (r["schedule"], r["sleep_fraction"])
        if key not in eps:
            p = row_params({**r, "mode": "float"})
            eps[key] = events_per_step(p, images, args.seed, max(4, period_images(p)))
    src = data_info["dataset"] + ("" if args.random_images else
                                  " ({} images, {}x{} -> 15x15)".format(data_info["dataset_images"],
                                                                       *data_info["original_size"]))
    print(f"paper network, STDP on; images: {src}; input {rate:g} Hz for a white pixel "
          f"(mean {data_info['mean_input_rate_hz']:.1f} Hz); window {args.seconds:g} s per row")
    print(f"engine rows: training schedule (sleep every {period_images(training_params())} images), "
          f"{args.chunk_images} images per call at B = 1; other rows: one image per call, sleep after "
          "every image")
    print(f"{'backend':<17}{'impl':<15}{'mode':<6}{'dtype':<8}{'batch':>5}  {'dev':<5}{'sleep':>6}"
          f"{'img/c':>6}{'net-steps/s':>14}{'syn-events/s':>16}{'share':>8}{'secs':>7}")
    done = []
    for row in rows:
        row["machine"] = machine_info(row["device"])
        e = eps[(row["schedule"], row["sleep_fraction"])]
        if row["backend"].startswith("lava"):
            row = run_lava_subprocess(row, args.seconds, args.seed, e, images)
        else:
            try:
                row = run_inprocess(row, images, args.seconds, args.seed, e)
            except UserError as exc:
                row.update(status="skipped", reason=str(exc))
        done.append(row)
        print(format_row(row), flush=True)
        if args.json:
            atomic_write_json(args.json, done)
    if args.json:
        print(f"wrote {len(done)} records to {args.json}")
    return 0
