"""Batched STDP runs: wake/sleep training, health snapshots, checkpoints, evaluation.

One call of :func:`run_members` trains B networks ("members", e.g. several sleep
fractions and seeds) in one :func:`lava_sleep.backends.make_simulator` batch:

1. **Training**: the training images stream through the network in chunks, with
   learning on and the sleep schedule of each member's SleepParams. After every
   chunk each member's weight health is recorded (:func:`lava_sleep.metrics.weight_health`);
   the chunk containing the first sleep episode is run with spike recording
   (``raster.npz``: a wake-sleep-wake transition). Checkpoints (every member's
   ``state_dict`` + progress) are written atomically at chunk ends, so an
   interrupted run resumes exactly where the last checkpoint left it.
2. **Evaluation** with learning and sleep off, starting from the trained state: the
   held-out images, then (from the trained state again) the training images. The
   counts on training images fit the label assignment and the logistic readout; both
   are scored on the held-out counts (and on the training images: the generalization
   gap). Because the held-out pass starts from the saved state, ``lava-sleep eval`` on
   the same images reproduces the reported accuracies.
3. **Baselines** on the same split, images and readouts (``metrics.baselines``): logistic
   regression on the resized pixels, and the *untrained network* (the same parameters and
   seed in their initial state, learning and sleep off) read out exactly like the trained
   one. Untrained networks run in the evaluation batch beside the trained members, one per
   distinct (parameters without sleep, seed, data), and can be shared across batches
   through ``TrainOptions.baseline_cache`` (a sweep computes one per seed, not per fraction).
4. **Cost**: synaptic events, neuron updates and STDP/decay synapse updates per phase, and a
   Loihi 1 energy estimate (:mod:`lava_sleep.energy`), from the backends' spike totals.
5. **Outputs** per member: ``result.json`` and ``model.npz`` (lava_sleep.experiment.files).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lava_sleep import __version__, energy, rng
from lava_sleep.backends import make_simulator
from lava_sleep.experiment import files
from lava_sleep.experiment.config import RunError, config_hash
from lava_sleep.experiment.data import RunData
from lava_sleep.io import atomic_savez
from lava_sleep.metrics import diversity, pathway_bounds, phi, weight_health
from lava_sleep.params import ModelParams
from lava_sleep.readout import LinearReadout, accuracy, assign_labels, class_rates, predict_assignment
from lava_sleep.simulation import BackendError, BatchOutput


@dataclass
class Member:
    """One network of a batch.

    params: its model parameters (members of a batch share the network shape);
    seed: network seed (connectivity, input spikes, noise); data: its images;
    out_dir: where result.json / model.npz / raster.npz go (None: nothing written);
    label: short name for progress bars and tables; meta: extra result.json fields.
    """

    params: ModelParams
    seed: int
    data: RunData
    out_dir: Path | None = None
    label: str = ""
    meta: dict = field(default_factory=dict)


@dataclass
class TrainOptions:
    """How a batch is run.

    backend, mode ("float"/"fixed"), dtype ("float64"/"float32"), device: simulator choice.
    epochs: passes over the training images (epoch e > 0 visits them in a seeded order).
    snapshots: about this many weight-health snapshots over training.
    checkpoint: checkpoint file (None: no checkpoints); checkpoint_every: seconds between
    checkpoints (0: after every chunk). resume: "auto" (resume a checkpoint of the same
    configuration, refuse one of another), "require" (fail without one), "fresh" (ignore any).
    readout_images: training images used to fit the readouts (None: all).
    record_raster: record spikes around the first sleep episode.
    progress: show a tqdm bar on stderr. on_chunk: called with the images done after
    every chunk (after the checkpoint), e.g. to stop a test run.
    baselines: also score raw pixels and the untrained network (metrics.baselines).
    baseline_cache: dict shared between calls (e.g. the batches of a sweep): baselines
    already computed for a (parameters without sleep, seed, data, readout) are reused.
    """

    backend: str = "numpy"
    mode: str = "float"
    dtype: str = "float64"
    device: str = "cpu"
    epochs: int = 1
    snapshots: int = 50
    checkpoint: Path | None = None
    checkpoint_every: float = 60.0
    resume: str = "auto"
    readout_images: int | None = None
    record_raster: bool = True
    progress: bool = True
    desc: str = "train"
    on_chunk: Callable[[int], None] | None = None
    baselines: bool = True
    baseline_cache: dict | None = None


def member_key(m: Member, opts: TrainOptions) -> str:
    """Hash of everything that determines a member's results."""
    return config_hash({"format": files.RESULT_FORMAT, "params": m.params.to_dict(), "seed": m.seed,
                        "data": m.data.digest(), "baselines": opts.baselines,
                        "backend": opts.backend, "mode": opts.mode, "dtype": opts.dtype,
                        "epochs": opts.epochs, "readout_images": opts.readout_images})


def _epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """Visiting order of the training images in an epoch: identity for epoch 0 (the split
    is already shuffled), else sorted by a hash on stream SPLIT, counter epoch."""
    if epoch == 0:
        return np.arange(n)
    h = rng.uniform_u32(rng.key(seed, rng.Stream.SPLIT, epoch), np.arange(n, dtype=np.int64))
    return np.argsort(h, kind="stable")


def _first_episode_image(p: ModelParams) -> int | None:
    """Index of the image during which the first sleep episode starts (None: no sleep)."""
    if p.sleep.fraction <= 0 or p.sleep.episode_length(1) <= 0:
        return None
    return (p.sleep.period - 1) // p.input.steps_per_image


def chunk_bounds(n_total: int, snapshots: int, raster: tuple[int, int] | None) -> list[int]:
    """Image boundaries of the training chunks: every ceil(n_total/snapshots) images, except
    that the raster range (start, end) is one chunk."""
    step = max(1, math.ceil(n_total / max(1, snapshots)))
    b = set(range(0, n_total, step)) | {n_total}
    if raster is not None:  # one chunk covers the raster range
        b = {x for x in b if not raster[0] < x < raster[1]} | {raster[0], raster[1]}
    return sorted(x for x in b if 0 <= x <= n_total)


def score_counts(train_counts, train_labels, test_counts, test_labels, n_classes: int,
                 seconds_per_image: float) -> tuple[dict, dict]:
    """Readouts and metrics from E spike counts (learning and sleep off).

    Returns (metrics, arrays): metrics holds assignment/linear accuracies (held-out and
    training), phi on held-out and training rate vectors, diversity, mean rates; arrays
    holds the assignment, class rates and readout coefficients for model.npz.
    """
    assign = assign_labels(train_counts, train_labels, n_classes)
    readout = LinearReadout.fit(train_counts, train_labels)
    pa_te = predict_assignment(test_counts, assign, n_classes)
    pl_te = readout.predict(test_counts)
    pa_tr = predict_assignment(train_counts, assign, n_classes)
    pl_tr = readout.predict(train_counts)
    n_e = train_counts.shape[1]
    metrics = {
        "assignment_accuracy": accuracy(pa_te, test_labels),
        "linear_accuracy": accuracy(pl_te, test_labels),
        "train_assignment_accuracy": accuracy(pa_tr, train_labels),
        "train_linear_accuracy": accuracy(pl_tr, train_labels),
        "phi": phi(test_counts / seconds_per_image, test_labels),
        "phi_train": phi(train_counts / seconds_per_image, train_labels),
        "diversity": diversity(assign, n_classes),
        "test_rate_hz": float(test_counts.sum() / max(1, test_counts.size) / seconds_per_image),
        "silent_test_images": float(np.mean(test_counts.sum(1) == 0)) if len(test_counts) else 0.0,
        "silent_neurons": int(np.sum(train_counts.sum(0) == 0)),
        "n_test": int(len(test_labels)),
        "n_readout_fit": int(len(train_labels)),
        "n_exc": int(n_e),
    }
    arrays = {"assignments": assign, "class_rates": class_rates(train_counts, train_labels, n_classes),
              **readout.to_arrays()}
    return metrics, arrays


class _Bar:
    """tqdm progress bar (images of one member) with live E rate and sleep share."""

    def __init__(self, total, initial, desc, enabled):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, unit="img", file=sys.stderr,
                            dynamic_ncols=True, leave=False)

    def update(self, n, rates, shares):
        if self.bar is None:
            return
        self.bar.update(n)
        self.bar.set_postfix_str(
            f"E {np.mean(rates):.1f} Hz, sleep " + "/".join(f"{100 * s:.0f}%" for s in shares[:6]),
            refresh=False)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def run_members(members: list[Member], opts: TrainOptions) -> list[dict]:
    """Train, evaluate and save a batch of members; returns their result dicts."""
    if not members:
        raise ValueError("no members to run")
    p0 = members[0].params
    n_train = len(members[0].data.train_y)
    n_test = len(members[0].data.test_y)
    for m in members:
        if m.params.n_input != p0.n_input or m.params.network.n_exc != p0.network.n_exc \
                or m.params.network.n_inh != p0.network.n_inh \
                or m.params.input.steps_per_image != p0.input.steps_per_image:
            raise RunError("members of a batch must share the network shape and steps per image")
        if len(m.data.train_y) != n_train or len(m.data.test_y) != n_test:
            raise RunError("members of a batch must have the same numbers of images")
        if m.data.train_x.shape[1] != m.params.n_input:
            raise RunError(f"images have {m.data.train_x.shape[1]} pixels, the network "
                           f"{m.params.n_input} inputs")
    if opts.epochs < 1:
        raise RunError(f"epochs must be >= 1, got {opts.epochs}")
    if opts.resume not in ("auto", "require", "fresh"):
        raise ValueError(f"resume must be auto, require or fresh, got {opts.resume!r}")
    B = len(members)
    shared = all(m.data is members[0].data for m in members)
    spi = p0.input.steps_per_image
    dt_s = p0.neuron.dt / 1000.0
    n_e = p0.network.n_exc
    n_total = opts.epochs * n_train
    keys = [member_key(m, opts) for m in members]

    starts = [_first_episode_image(m.params) for m in members]
    starts = [s for s in starts if s is not None and s < n_train]
    raster = None
    if opts.record_raster and starts and any(m.out_dir is not None for m in members):
        k0 = min(starts)
        raster = (max(0, k0 - 1), min(n_total, k0 + 2))
    bounds = chunk_bounds(n_total, opts.snapshots, raster)
    batch_key = config_hash({"members": keys, "bounds": bounds})

    sim = make_simulator(opts.backend, [m.params for m in members], [m.seed for m in members],
                         mode=opts.mode, dtype=opts.dtype, device=opts.device)
    bounds_w = [pathway_bounds(m.params, opts.mode) for m in members]
    plastic = p0.network.plastic_pathways
    orders: dict[int, list[np.ndarray]] = {}

    def images_for(g0, g1):
        xs = []
        for b, m in enumerate(members[:1] if shared else members):
            idx = []
            for g in range(g0, g1):
                e, i = divmod(g, n_train)
                if e not in orders:
                    orders[e] = [_epoch_order(mm.seed, e, n_train) for mm in members]
                idx.append(orders[e][b][i])
            xs.append(m.data.train_x[np.asarray(idx, dtype=np.int64)])
        return xs[0] if shared else np.stack(xs)

    prog = None
    ck = None
    if opts.checkpoint is not None and opts.resume != "fresh":
        found = files.checkpoint_key(opts.checkpoint)
        if found is not None and found != batch_key:
            raise RunError(f"{opts.checkpoint} is a checkpoint of another configuration; "
                           "use another output folder or --force to start over")
        ck = files.read_checkpoint(opts.checkpoint, batch_key, B)
    if ck is None and opts.resume == "require":
        raise RunError(f"--resume: no checkpoint of this configuration at {opts.checkpoint}")
    if ck is not None:
        states, prog = ck
        prog.setdefault("cost", [None] * B)  # a checkpoint without cost tallies: not counted
        for b, st in enumerate(states):
            sim.load_state_dict(b, st)
        if opts.progress:
            sys.stderr.write(f"lava-sleep: resuming from checkpoint at image {prog['done']} of {n_total}\n")
    else:
        prog = {"done": 0, "train_s": 0.0, "steps": [0] * B, "sleep_steps": [0] * B,
                "wake_steps": [0] * B, "spikes": [0] * B, "episodes": [[] for _ in range(B)],
                "history": [[] for _ in range(B)], "cost": [energy.empty_tally() for _ in range(B)]}
        for b in range(B):
            prog["history"][b].append({"images": 0, "step": 0, "wake_steps": 0, "sleep_steps": 0,
                                       "episodes": 0, "rate_hz": 0.0,
                                       "pathways": weight_health(sim.weights(b), sim.masks(b), bounds_w[b])})

    bar = _Bar(n_total, prog["done"], opts.desc, opts.progress)
    last_ck = time.monotonic()
    try:
        for g0, g1 in zip(bounds[:-1], bounds[1:], strict=True):
            if g1 <= prog["done"]:
                continue
            record = raster is not None and g0 == raster[0]
            w_before = [sim.weights(b) for b in range(B)] if record else None
            t0 = time.perf_counter()
            out = sim.run(images_for(g0, g1), learn=True, sleep_on=True, record_spikes=record)
            prog["train_s"] += time.perf_counter() - t0
            rates, shares = [], []
            for b in range(B):
                wake = (g1 - g0) * spi
                spikes = int(np.asarray(out.counts[b]).sum())
                prog["steps"][b] += int(out.steps[b])
                prog["sleep_steps"][b] += int(out.sleep_steps[b])
                prog["wake_steps"][b] += wake
                prog["spikes"][b] += spikes
                prog["episodes"][b].extend(files.jsonable(out.episodes[b]))
                masks_b = sim.masks(b)
                if out.activity is None or prog["cost"][b] is None:
                    prog["cost"][b] = None  # the backend does not count spikes per neuron
                else:
                    energy.add_chunk(prog["cost"][b], out.activity[b], masks_b, members[b].params,
                                     (wake, int(out.sleep_steps[b])), True, out.episodes[b])
                rate = spikes / (n_e * wake * dt_s)
                rates.append(rate)
                shares.append(prog["sleep_steps"][b] / max(1, prog["steps"][b]))
                prog["history"][b].append({
                    "images": g1, "step": prog["steps"][b], "wake_steps": prog["wake_steps"][b],
                    "sleep_steps": prog["sleep_steps"][b], "episodes": len(prog["episodes"][b]),
                    "rate_hz": rate, "pathways": weight_health(sim.weights(b), masks_b, bounds_w[b])})
                if record and members[b].out_dir is not None:
                    sp = out.spikes[b]
                    w_after = sim.weights(b)
                    atomic_savez(Path(members[b].out_dir) / files.RASTER,
                                 X=sp["X"], E=sp["E"], I=sp["I"], asleep=sp["asleep"],
                                 step0=np.array(prog["steps"][b] - int(out.steps[b])),
                                 image0=np.array(g0), steps_per_image=np.array(spi),
                                 **{f"w_before_{n}": w_before[b][n] for n in plastic},
                                 **{f"w_after_{n}": w_after[n] for n in plastic})
            prog["done"] = g1
            bar.update(g1 - g0, rates, shares)
            now = time.monotonic()
            if opts.checkpoint is not None and (now - last_ck >= opts.checkpoint_every or g1 == n_total):
                files.write_checkpoint(opts.checkpoint, batch_key,
                                       [sim.state_dict(b) for b in range(B)], prog)
                last_ck = now
            if opts.on_chunk is not None:
                opts.on_chunk(g1)
    finally:
        bar.close()

    # -- evaluation: learning and sleep off, from the trained state ---------------------
    trained = [sim.state_dict(b) for b in range(B)]
    n_fit = n_train if opts.readout_images is None else max(1, min(n_train, opts.readout_images))
    cache = opts.baseline_cache if opts.baseline_cache is not None else {}
    base_keys = [_baseline_key(m, opts, n_fit) for m in members]
    extra = []  # untrained networks to evaluate beside the trained members: (key, member)
    if opts.baselines:
        for m, k in zip(members, base_keys, strict=True):
            if k not in cache and k not in {x[0] for x in extra}:
                extra.append((k, m))
    train_sim = sim
    sim, eval_backend, states = _eval_simulator(sim, members, trained, [m for _, m in extra], opts)
    if sim is not train_sim and getattr(sim, "first", None) is not train_sim:
        close_simulator(train_sim)
    ev_data = [m.data for m in members] + [m.data for _, m in extra]
    ev_shared = all(d is ev_data[0] for d in ev_data)
    t0 = time.perf_counter()
    test_x = ev_data[0].test_x if ev_shared else np.stack([d.test_x for d in ev_data])
    fit_x = ev_data[0].train_x[:n_fit] if ev_shared else np.stack([d.train_x[:n_fit] for d in ev_data])
    if opts.progress:
        sys.stderr.write(f"lava-sleep: evaluating on {n_test} held-out and {n_fit} training images"
                         + (f" ({len(extra)} untrained baseline network(s) alongside)" if extra else "")
                         + "\n")
    out_te = sim.run(test_x, learn=False, sleep_on=False)
    for b, st in enumerate(states):
        sim.load_state_dict(b, st)
    out_tr = sim.run(fit_x, learn=False, sleep_on=False)
    eval_s = time.perf_counter() - t0
    spi_s = spi * p0.neuron.dt / 1000.0
    for k, (key, m) in enumerate(extra):
        metrics_u, arrays_u = score_counts(np.asarray(out_tr.counts[B + k]), m.data.train_y[:n_fit],
                                           np.asarray(out_te.counts[B + k]), m.data.test_y,
                                           m.data.n_classes, spi_s)
        cache[key] = {"metrics": metrics_u, "arrays": arrays_u}
    if opts.baselines:
        for m in members:
            pkey = ("pixels", m.data.digest(), n_fit)
            if pkey not in cache:
                cache[pkey] = pixel_baseline(m.data.train_x[:n_fit], m.data.train_y[:n_fit],
                                             m.data.test_x, m.data.test_y)

    results = []
    for b, m in enumerate(members):
        base = None
        if opts.baselines:
            base = (cache[("pixels", m.data.digest(), n_fit)], cache[base_keys[b]])
        r = _finish_member(b, m, opts, keys[b], prog, states[b], sim, np.asarray(out_tr.counts[b]),
                           np.asarray(out_te.counts[b]), n_fit, eval_s, bounds_w[b], eval_backend, base)
        results.append(r)
    close_simulator(sim)
    if opts.checkpoint is not None and Path(opts.checkpoint).exists():
        Path(opts.checkpoint).unlink()
    return results


def _baseline_key(m: Member, opts: TrainOptions, n_fit: int) -> str:
    """What determines a member's untrained-network baseline: parameters without sleep
    (learning and sleep are off), seed, data, number format and readout images."""
    return config_hash({"untrained": m.params.with_sleep_fraction(0.0).to_dict(), "seed": m.seed,
                        "data": m.data.digest(), "mode": opts.mode, "dtype": opts.dtype, "n_fit": n_fit})


def pixel_baseline(train_x, train_y, test_x, test_y) -> dict:
    """Logistic regression (the same :class:`LinearReadout` as on spike counts) on the
    resized image pixels: held-out and training accuracy, and the readout arrays."""
    readout = LinearReadout.fit(np.asarray(train_x, dtype=np.float64), train_y)
    return {"linear_accuracy": accuracy(readout.predict(np.asarray(test_x, np.float64)), test_y),
            "train_linear_accuracy": accuracy(readout.predict(np.asarray(train_x, np.float64)), train_y),
            "arrays": readout.to_arrays("pixels_readout_")}


def baseline_metrics(pixels: dict, untrained: dict) -> dict:
    """``metrics.baselines`` of result.json from a pixel baseline and an untrained network's
    metrics (held-out and training accuracies, and their gaps)."""
    u = untrained["metrics"]
    return {
        "pixels_linear_accuracy": pixels["linear_accuracy"],
        "pixels_train_linear_accuracy": pixels["train_linear_accuracy"],
        "untrained_linear_accuracy": u["linear_accuracy"],
        "untrained_assignment_accuracy": u["assignment_accuracy"],
        "untrained_train_linear_accuracy": u["train_linear_accuracy"],
        "untrained_train_assignment_accuracy": u["train_assignment_accuracy"],
        "untrained_phi": u["phi"],
        "untrained_test_rate_hz": u["test_rate_hz"],
    }


def close_simulator(sim) -> None:
    """Release a simulator's resources (Lava runtimes, native buffers) when it offers close()."""
    close = getattr(sim, "close", None)
    if callable(close):
        close()


def _eval_simulator(sim, members, trained, extra, opts):
    """(simulator, backend name, states) for evaluation.

    Without extra members, the training simulator when it can reload states (numpy, torch).
    Otherwise a fresh simulator of the training backend (numpy or torch; the NumPy oracle in
    the same mode and dtype for Lava backends) holding the trained members, loaded with their
    states, followed by the ``extra`` members (untrained networks) in their initial states.
    Keys a Lava backend does not report (traces no pathway learns from) keep the oracle's
    initial values; with learning off they do not influence any spike. ``loihi2`` is another
    neuron model (Lava's LIF: no adaptation, noise as input current), so its trained members
    are evaluated on the training simulator itself and the untrained baselines on the oracle
    (:class:`_SplitEval`; the result's eval_backend says so).
    """
    if not extra or opts.backend == "loihi2":
        try:
            sim.load_state_dict(0, trained[0])  # probe: reloading the current state changes nothing
        except BackendError:
            pass
        else:
            if not extra:
                return sim, opts.backend, trained
            # the Loihi-native network is its own neuron model: its readout is fitted on its own
            # spike counts; the untrained baselines run on the oracle beside it
            base, backend, states = _eval_simulator(sim, [], [], extra,
                                                    dataclasses.replace(opts, backend="numpy"))
            return (_SplitEval(sim, len(members), base), f"{opts.backend} (baselines: {backend})",
                    trained + states)
    backend = opts.backend if opts.backend in ("numpy", "torch") else "numpy"
    allm = list(members) + list(extra)
    ev = make_simulator(backend, [m.params for m in allm], [m.seed for m in allm], mode=opts.mode,
                        dtype=opts.dtype, device=opts.device if backend == "torch" else "cpu")
    n = len(members)
    states = [{**ev.state_dict(b), **st} for b, st in enumerate(trained)]
    states += [ev.state_dict(n + k) for k in range(len(extra))]
    for b in range(n):
        ev.load_state_dict(b, states[b])
    return ev, backend, states


class _SplitEval:
    """Two simulators evaluated as one batch: members 0..n-1 on ``first``, the rest on ``rest``
    (``run`` concatenates their counts; the other calls go to the simulator holding member b)."""

    def __init__(self, first, n: int, rest):
        self.first, self.n, self.rest = first, n, rest

    def _of(self, b: int):
        return (self.first, b) if b < self.n else (self.rest, b - self.n)

    def run(self, images, **kwargs):
        a, b = self.first.run(images, **kwargs), self.rest.run(images, **kwargs)
        return BatchOutput(counts=np.concatenate([np.asarray(a.counts), np.asarray(b.counts)]),
                           episodes=list(a.episodes) + list(b.episodes), spikes=None,
                           steps=np.concatenate([a.steps, b.steps]),
                           sleep_steps=np.concatenate([a.sleep_steps, b.sleep_steps]))

    def load_state_dict(self, b: int, d) -> None:
        sim, i = self._of(b)
        sim.load_state_dict(i, d)

    def weights(self, b: int = 0):
        sim, i = self._of(b)
        return sim.weights(i)

    def masks(self, b: int = 0):
        sim, i = self._of(b)
        return sim.masks(i)

    def close(self) -> None:
        for sim in (self.first, self.rest):
            close_simulator(sim)


def generalization(metrics: dict) -> dict:
    """Training minus held-out accuracy per readout (positive = the readout fits the training
    images better than it generalizes)."""
    return {"linear_gap": metrics["train_linear_accuracy"] - metrics["linear_accuracy"],
            "assignment_gap": metrics["train_assignment_accuracy"] - metrics["assignment_accuracy"]}


def sleep_summary(episodes: list[dict], wake_steps: int) -> dict:
    """Planned and used sleep steps and shares from a list of episode records."""
    planned = int(sum(e["planned"] for e in episodes))
    used = int(sum(e["used"] for e in episodes))
    return {"episodes": len(episodes), "steps_planned": planned, "steps_used": used,
            "woke_early": int(sum(bool(e.get("woke_early")) for e in episodes)),
            "share_planned": planned / (wake_steps + planned) if wake_steps + planned else 0.0,
            "share_used": used / (wake_steps + used) if wake_steps + used else 0.0}


def _finish_member(b, m: Member, opts, key, prog, trained, sim, counts_tr, counts_te, n_fit,
                   eval_s, bounds_w, eval_backend, base) -> dict:
    p = m.params
    data = m.data
    spi_s = p.input.steps_per_image * p.neuron.dt / 1000.0
    metrics, arrays = score_counts(counts_tr, data.train_y[:n_fit], counts_te, data.test_y,
                                   data.n_classes, spi_s)
    weights = sim.weights(b)
    masks = sim.masks(b)
    metrics["weights"] = weight_health(weights, masks, bounds_w)
    metrics["generalization"] = generalization(metrics)
    if base is not None:
        metrics["baselines"] = baseline_metrics(*base)
        metrics["baselines"]["generalization"] = {
            "pixels_linear_gap": base[0]["train_linear_accuracy"] - base[0]["linear_accuracy"],
            **{f"untrained_{k}": v for k, v in generalization(base[1]["metrics"]).items()}}
    wake = prog["wake_steps"][b]
    steps = prog["steps"][b]
    train_s = prog["train_s"]  # wall time of the whole batch (batch_size members at once)
    result = {
        "format": files.RESULT_FORMAT, "version": __version__, "model": "stdp", "label": m.label,
        "run_key": key, "seed": m.seed, "sleep_fraction": p.sleep.fraction,
        "backend": opts.backend, "eval_backend": eval_backend, "mode": opts.mode, "dtype": opts.dtype,
        "device": opts.device,
        "epochs": opts.epochs, "dataset": data.info(), "config": p.to_dict(),
        "accuracy": metrics["linear_accuracy"],
        "assignment_accuracy": metrics["assignment_accuracy"],
        "linear_accuracy": metrics["linear_accuracy"],
        "phi": metrics["phi"],
        "metrics": metrics,
        "sleep": sleep_summary(prog["episodes"][b], wake),
        "steps": {"wake": wake, "sleep": prog["sleep_steps"][b], "total": steps,
                  "train_rate_hz": prog["spikes"][b] / max(1, p.network.n_exc * wake) * 1000 / p.neuron.dt},
        "timings": {"train_s": train_s, "eval_s": eval_s, "total_s": train_s + eval_s,
                    "batch_size": len(prog["steps"]),
                    "network_steps_per_s": sum(prog["steps"]) / train_s if train_s > 0 else None},
        "cost": (energy.cost_summary(prog["cost"][b], prog["done"]) if prog["cost"][b] is not None
                 else {"counted": False, "why": f"backend {opts.backend} reports no per-neuron spike "
                       "totals"}),
        "health": prog["history"][b],
        "episodes": prog["episodes"][b],
        **m.meta,
    }
    if m.out_dir is not None:
        import tomli_w

        config = {"model": "stdp", "params": p.to_dict(), "seed": m.seed, "backend": opts.backend,
                  "mode": opts.mode, "dtype": opts.dtype, "device": opts.device,
                  "dataset": data.info(), "classes": list(data.classes), "image_size": data.image_size,
                  "n_classes": data.n_classes, "run_key": key}
        model = {**{f"w_{n}": w for n, w in weights.items()},
                 **{f"mask_{n}": mk for n, mk in masks.items()},
                 **{f"state_{k}": v for k, v in trained.items()}, **arrays}
        if base is not None:
            model.update(base[0]["arrays"])
            model.update({f"untrained_{k}": v for k, v in base[1]["arrays"].items()})
        files.write_model(m.out_dir, model, config, tomli_w.dumps(p.to_dict()))
        files.write_result(m.out_dir, result)
    return files.jsonable(result)
