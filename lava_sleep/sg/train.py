"""Training, sleep intervention and evaluation of the SG-SNN baseline (docs/sg.md).

Units of the schedule: one **wake step** is one training iteration (one minibatch
forward over ``steps`` time steps, backward, one Adam step); one **sleep step** is
one sleep iteration (one noise-driven forward over ``steps`` time steps with the
input silenced, no gradient). Both simulate ``steps`` network time steps per
sample, so the sleep share is the same counted in iterations or in time steps.
Episodes follow :meth:`lava_sleep.params.SleepParams.episode_length` with
``period = SGParams.sleep_period``: after every ``sleep_period``-th wake
iteration, episode k lasts ``episode_length(k)`` sleep iterations (less on early
wake-up).

The homeostatic decay is :func:`lava_sleep.kernels.sleep.decay_block` on the
magnitudes ``|W|`` of both weight matrices, with the signs kept, settled every
``SleepParams.block`` sleep iterations (and at an episode's end) for
``K * steps`` time steps (``lam`` is per time step, as in the STDP model). The
optimizer state (Adam moments and step counts) is left unchanged by sleep; the
weights are edited in place so Adam keeps tracking the same tensors.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from lava_sleep.errors import UserError
from lava_sleep.kernels import sleep as sleep_kernels
from lava_sleep.params import SleepParams
from lava_sleep.sg import model
from lava_sleep.sg.params import SGParams


class SGDataError(UserError, ValueError):
    """Images, labels, state or device unusable for the SG-SNN (one-line message)."""


@dataclass
class SGRun:
    """Result of :func:`train_sg`.

    Attributes:
        state: arrays enough to evaluate: W1 (H, P), b1 (H,), W2 (C, H), b2 (C,) float32,
            mask_W1, mask_W2 (bool; False only for synapses pruned by sleep), seed (int64 scalar),
            counters [wake_steps, sleep_steps, episodes] (int64).
        history: one dict per epoch: epoch, loss (mean training loss), train_accuracy (on the
            training batches as they were trained, online), wake_steps, sleep_steps, episodes,
            seconds.
        sleep_steps: sleep iterations in total (after early wake-up).
        wake_steps: training iterations in total.
        episodes: one dict per sleep episode: episode, wake_step (training iterations before
            it), planned, used, woke_early, totals_before / totals_after / targets
            (total |w| per weight matrix), hidden_rate / output_rate (mean spikes per neuron
            and time step during the episode's noise-driven activity).
        seconds: wall time of the training.
    """

    state: dict[str, np.ndarray]
    history: list[dict] = field(default_factory=list)
    sleep_steps: int = 0
    wake_steps: int = 0
    episodes: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def sleep_share(self) -> float:
        """Sleep iterations / (sleep + wake iterations)."""
        total = self.sleep_steps + self.wake_steps
        return self.sleep_steps / total if total else 0.0


def _device(device: str) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise SGDataError(f"unknown torch device {device!r}; use 'cpu' or 'cuda[:N]'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SGDataError(f"device {device!r} requested but CUDA is not available")
    if dev.type not in ("cpu", "cuda"):
        raise SGDataError(f"device {device!r} is not supported; use 'cpu' or 'cuda[:N]'")
    return dev


def _check_data(images, labels, n_classes: int, n_input: int | None = None):
    images = np.asarray(images)
    if images.ndim != 2 or images.shape[0] == 0 or images.shape[1] == 0:
        raise SGDataError(f"images must have shape (N, P) with N, P >= 1, got {images.shape}")
    if images.dtype != np.uint8:
        raise SGDataError(f"images must be uint8 (0-255), got {images.dtype}")
    if n_input is not None and images.shape[1] != n_input:
        raise SGDataError(f"images have {images.shape[1]} pixels but the network has {n_input} inputs")
    if labels is None:
        return images, None
    labels = np.asarray(labels)
    if labels.shape != (images.shape[0],):
        raise SGDataError(f"labels must have shape ({images.shape[0]},), got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise SGDataError(f"labels must be integers, got {labels.dtype}")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise SGDataError(f"labels must lie in [0, {n_classes}), got [{labels.min()}, {labels.max()}]")
    return images, labels.astype(np.int64)


class SGTrainer:
    """Wake iterations, sleep episodes and the state of one SG-SNN run (used by :func:`train_sg`).

    Args:
        params: network and training parameters.
        sleep: the sleep protocol; ``sleep.period`` is replaced by ``params.sleep_period``
            (iterations). fraction 0 = no sleep.
        n_input: P, pixels per image.
        seed: run seed in [0, 2**32); every random number derives from it (docs/sg.md).
        device: "cpu" or "cuda[:N]".
    """

    def __init__(self, params: SGParams, sleep: SleepParams, n_input: int, seed: int,
                 device: str = "cpu"):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
            raise SGDataError(f"seed must be an integer in [0, 2**32), got {seed!r}")
        for name, size in (("steps * batch_size * P", params.steps * params.batch_size * n_input),
                           ("steps * P", params.steps * n_input),
                           ("sleep_batch * hidden", params.sleep_batch * params.hidden)):
            if size >= 2**32:
                raise SGDataError(f"{name} = {size} exceeds the random-stream index range 2**32")
        self.params = params
        self.sleep = dataclasses.replace(sleep, period=params.sleep_period)
        self.seed = int(seed)
        self.device = _device(device)
        init = model.init_weights(self.seed, n_input, params.hidden, params.n_classes)
        self.weights = {k: torch.tensor(v, device=self.device, requires_grad=True) for k, v in init.items()}
        self.masks = {n: torch.ones_like(self.weights[n], dtype=torch.bool) for n in model.LAYERS}
        self.optimizer = torch.optim.Adam(list(self.weights.values()), lr=params.lr,
                                          betas=tuple(params.adam_betas))
        # Homeostatic baselines from the initial magnitudes (MODEL.md 4): mean |w| (static),
        # total |w| (group, early wake-up), incoming |w| per post-neuron (neuron).
        self.total0, self.row_total0, self.decay_consts = {}, {}, {}
        sp = self.sleep
        for n in model.LAYERS:
            m = self.weights[n].detach().abs()
            self.total0[n] = float(m.sum())
            self.row_total0[n] = m.sum(1)
            self.decay_consts[n] = sleep_kernels.DecayConsts(
                sp.form, sp.target, sp.lam, sp.decay_noise, float(m.mean()), 0.0, math.inf,
                sp.w_floor, sp.prune, False)
        self.wake_steps = 0
        self.sleep_steps = 0
        self.n_episodes = 0

    # -- wake -----------------------------------------------------------------
    def wake_iteration(self, images: np.ndarray, labels: np.ndarray) -> tuple[float, int]:
        """One training iteration on a minibatch; returns (loss, correct predictions)."""
        p = self.params
        thr = torch.from_numpy(model.pixel_thresholds(images, p.max_rate)).to(self.device)
        x = model.train_input(self.seed, self.wake_steps * p.steps, p.steps, thr)
        y = torch.from_numpy(labels).to(self.device)
        out_mem, _ = model.forward(self.weights, x, p)
        loss, logits = model.loss_and_logits(out_mem, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.sleep.prune:
            with torch.no_grad():
                for n in model.LAYERS:
                    self.weights[n].mul_(self.masks[n])
        self.wake_steps += 1
        correct = int((logits.argmax(1) == y).sum())
        return float(loss.detach()), correct

    # -- sleep ----------------------------------------------------------------
    def totals(self) -> dict[str, float]:
        """Total |w| per weight matrix."""
        return {n: float(self.weights[n].detach().abs().sum()) for n in model.LAYERS}

    def sleep_iteration(self) -> tuple[float, float]:
        """One sleep step: ``steps`` time steps with silenced input; hidden membranes are
        driven by the bias plus noise N(0, sigma_sleep**2) per step. No gradient, no
        weight change. Returns the mean hidden and output spike rates (per neuron-step)."""
        p = self.params
        w = self.weights
        with torch.no_grad():
            drive = w["b1"].expand(p.steps, p.sleep_batch, p.hidden)
            if p.sigma_sleep > 0:
                drive = drive + p.sigma_sleep * model.sleep_noise(
                    self.seed, self.sleep_steps * p.steps, p.steps, p.sleep_batch, p.hidden, self.device)
            h_spk, _ = model.lif_layer(drive, p.beta, p.threshold, p.surrogate_slope)
            o_spk, _ = model.lif_layer(torch.nn.functional.linear(h_spk, w["W2"], w["b2"]),
                                       p.beta, p.threshold, p.surrogate_slope)
        self.sleep_steps += 1
        return float(h_spk.mean()), float(o_spk.mean())

    def decay(self, k_iterations: int) -> None:
        """Settle the homeostatic decay for ``k_iterations`` sleep iterations (``k * steps``
        time steps of ``lam``) on |W1| and |W2|, keeping each weight's sign (zero counts as +)."""
        with torch.no_grad():
            for layer, n in enumerate(model.LAYERS):
                w = self.weights[n]
                dc = self.decay_consts[n]
                xi = None
                if dc.noise > 0:
                    xi = model.decay_noise(self.seed, self.sleep_steps, layer, w.numel(),
                                           self.device).view_as(w)
                sign = torch.where(w >= 0, 1.0, -1.0)
                m = sleep_kernels.decay_block(dc, w.abs(), self.masks[n], self.total0[n],
                                              self.row_total0[n], k_iterations * self.params.steps, xi=xi)
                m, self.masks[n] = sleep_kernels.floor_and_prune(dc, m, self.masks[n])
                w.copy_(sign * m)  # in place: the optimizer keeps the same parameter tensors

    def sleep_episode(self, length: int | None = None) -> dict:
        """Run sleep episode k = n_episodes + 1 (MODEL.md 4 schedule and early wake-up).

        length: None for the scheduled episode; an int >= 0 for an on-demand episode of that
        many sleep iterations (docs/model.md "On-demand sleep episodes": it runs whatever the
        sleep fraction, leaves the schedule's episode counter alone and is recorded as
        episode 0).
        """
        sp = self.sleep
        if length is None:
            self.n_episodes += 1
            planned, number = sp.episode_length(self.n_episodes), self.n_episodes
        else:
            if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
                raise SGDataError(f"sleep episode length must be an integer >= 0, got {length!r}")
            planned, number = int(length), 0
        before = self.totals()
        used = since = 0
        woke = False
        h_rate = o_rate = 0.0
        while used < planned:
            h, o = self.sleep_iteration()
            h_rate += h
            o_rate += o
            used += 1
            since += 1
            if used % sp.block == 0 or used == planned:
                self.decay(since)
                since = 0
                tot = self.totals()
                if used < planned and sleep_kernels.wake_check(
                        [tot[n] for n in model.LAYERS], [self.total0[n] for n in model.LAYERS], sp.tol):
                    woke = True
                    break
        return {"episode": number, "wake_step": self.wake_steps, "planned": planned,
                "used": used, "woke_early": woke, "totals_before": before, "totals_after": self.totals(),
                "targets": dict(self.total0), "hidden_rate": h_rate / max(used, 1),
                "output_rate": o_rate / max(used, 1)}

    def sleep_due(self) -> bool:
        """True right after every ``sleep_period``-th wake iteration when sleep is on."""
        return self.sleep.fraction > 0 and self.wake_steps % self.sleep.period == 0

    # -- state ----------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        d = {k: v.detach().cpu().numpy().copy() for k, v in self.weights.items()}
        for n in model.LAYERS:
            d[f"mask_{n}"] = self.masks[n].cpu().numpy().copy()
        d["seed"] = np.array(self.seed, dtype=np.int64)
        d["counters"] = np.array([self.wake_steps, self.sleep_steps, self.n_episodes], dtype=np.int64)
        return d


def train_sg(params: SGParams, sleep: SleepParams, train_images: np.ndarray, train_labels: np.ndarray,
             seed: int, device: str = "cpu", progress: bool | Callable[[dict], None] = True) -> SGRun:
    """Train the SG-SNN on ``train_images`` (N, P) uint8 with labels (N,) under a sleep protocol.

    Each epoch visits the images in a seeded order (minibatches of ``batch_size``, the last one
    smaller); after every ``params.sleep_period``-th training iteration a sleep episode runs
    (``sleep.fraction`` = share of sleep iterations; 0 = no sleep). progress: True shows a tqdm
    bar on stderr, False nothing, a callable receives each epoch's history record.
    Deterministic under ``seed`` on CPU.
    """
    if not isinstance(params, SGParams) or not isinstance(sleep, SleepParams):
        raise TypeError("train_sg needs an SGParams and a SleepParams")
    images, labels = _check_data(train_images, train_labels, params.n_classes)
    if labels is None:
        raise SGDataError("train_sg needs labels")
    trainer = SGTrainer(params, sleep, images.shape[1], seed, device)
    n = len(images)
    n_batches = -(-n // params.batch_size)
    bar = None
    if progress is True:
        from tqdm import tqdm

        bar = tqdm(total=params.epochs * n_batches, desc="sg train", unit="it", leave=False)
    run = SGRun(state={})
    t_start = time.perf_counter()
    try:
        for epoch in range(params.epochs):
            t0 = time.perf_counter()
            wake0, sleep0, ep0 = trainer.wake_steps, trainer.sleep_steps, len(run.episodes)
            order = model.shuffle_order(trainer.seed, epoch, n)
            loss_sum = 0.0
            correct = 0
            for b in range(n_batches):
                idx = order[b * params.batch_size:(b + 1) * params.batch_size]
                loss, c = trainer.wake_iteration(images[idx], labels[idx])
                loss_sum += loss * len(idx)
                correct += c
                if trainer.sleep_due():
                    run.episodes.append(trainer.sleep_episode())
                if bar is not None:
                    bar.update(1)
            rec = {"epoch": epoch, "loss": loss_sum / n, "train_accuracy": correct / n,
                   "wake_steps": trainer.wake_steps - wake0, "sleep_steps": trainer.sleep_steps - sleep0,
                   "episodes": len(run.episodes) - ep0, "seconds": time.perf_counter() - t0}
            run.history.append(rec)
            if bar is not None:
                bar.set_postfix(loss=f"{rec['loss']:.3f}", acc=f"{rec['train_accuracy']:.3f}")
            elif callable(progress):
                progress(rec)
    finally:
        if bar is not None:
            bar.close()
    run.state = trainer.state_dict()
    run.wake_steps = trainer.wake_steps
    run.sleep_steps = trainer.sleep_steps
    run.seconds = time.perf_counter() - t_start
    return run


def evaluate_sg(state: dict, params: SGParams, images: np.ndarray, labels=None,
                device: str = "cpu", classes=None) -> dict:
    """Classify ``images`` (N, P) uint8 with a trained state.

    Input spikes are keyed by (state seed, image index), so results do not depend on
    ``eval_batch``. classes: None (argmax over every output neuron) or the class indices the
    prediction may choose from (e.g. the classes seen so far in class-incremental learning).
    Returns {"accuracy": float (None without labels), "n_images": int, "predictions": int64
    array (N,)}.
    """
    missing = [k for k in ("W1", "b1", "W2", "b2", "seed") if k not in state]
    if missing:
        raise SGDataError(f"SG state lacks {missing}")
    h, n_input = np.shape(state["W1"])
    c = np.shape(state["W2"])[0]
    if h != params.hidden or c != params.n_classes:
        raise SGDataError(f"state has {h} hidden / {c} output neurons but the parameters say "
                          f"{params.hidden} / {params.n_classes}")
    images, labels = _check_data(images, labels, params.n_classes, n_input)
    dev = _device(device)
    w = {k: torch.as_tensor(np.asarray(state[k], dtype=np.float32), device=dev)
         for k in ("W1", "b1", "W2", "b2")}
    seed = int(np.asarray(state["seed"]))
    allowed = None
    if classes is not None:
        allowed = np.unique(np.asarray(classes, dtype=np.int64))
        if allowed.size == 0 or allowed[0] < 0 or allowed[-1] >= c:
            raise SGDataError(f"classes must be a non-empty list of indices in [0, {c}), got {classes!r}")
    preds = np.empty(len(images), dtype=np.int64)
    with torch.no_grad():
        for start in range(0, len(images), params.eval_batch):
            idx = np.arange(start, min(start + params.eval_batch, len(images)))
            thr = torch.from_numpy(model.pixel_thresholds(images[idx], params.max_rate)).to(dev)
            x = model.eval_input(seed, idx, params.steps, thr)
            out_mem, _ = model.forward(w, x, params)
            score = out_mem.sum(0)
            if allowed is None:
                preds[idx] = score.argmax(1).cpu().numpy()
            else:
                preds[idx] = allowed[score[:, torch.from_numpy(allowed).to(dev)].argmax(1).cpu().numpy()]
    acc = None if labels is None else float((preds == labels).mean())
    return {"accuracy": acc, "n_images": int(len(images)), "predictions": preds}
