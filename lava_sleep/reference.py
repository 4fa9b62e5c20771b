"""The NumPy oracle: one network, every step spelled out, float or fixed point.

:class:`ReferenceSimulator` runs the wake/sleep schedule of MODEL.md 4 with the
kernels of :mod:`lava_sleep.kernels`. It is deliberately plain (dense matrices,
one Python iteration per step): every other backend is tested against it.

One global step t (docs/model.md has the full definition):

1. neurons integrate the drive computed at the end of step t-1 (all pathways
   deliver with one step of delay, as Lava's Dense does), with membrane noise
   (sigma_wake or sigma_sleep) keyed by (seed, NOISE, t, neuron);
2. the encoder emits input spikes for the current image (keyed by the wake step),
   or nothing while asleep (gate closed);
3. the drive for step t+1 is computed from this step's spikes with the weights as
   they are *before* this step's learning;
4. traces decay, STDP accumulates dm (learning on, and awake or learn_in_sleep),
   traces take this step's spikes; at the end of a learning epoch the accumulator
   is applied;
5. asleep: at the end of every decay block (or of the episode) the homeostatic
   decay is settled, the floor applied and early wake-up checked.

Each image occupies a slot of ``steps_per_image`` presentation steps and ``rest_steps``
rest steps (input gate closed, awake). While learning, pathways with ``normalize`` are
rescaled to their initial per-neuron totals after the slot's last step.

The schedule: after every ``period``-th wake step an episode of
``SleepParams.episode_length(k)`` steps starts (k = 1, 2, ...).

On demand: :meth:`ReferenceSimulator.sleep` runs one episode of a given planned length now,
with the same episode loop (:meth:`ReferenceSimulator._sleep_episode`) and the member's own
SleepParams (the fraction only drives the schedule); it is recorded as episode 0 and leaves
the schedule's episode counter alone (docs/model.md, "On-demand sleep episodes").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lava_sleep import rng
from lava_sleep.fixed import FixedConstants, pathway_drive, rounding_offset, to_fixed
from lava_sleep.kernels import encode, neuron, sleep, stdp
from lava_sleep.network import NetworkInit, build_network
from lava_sleep.params import PATHWAY_NAMES, ModelParams

MODES = ("float", "fixed")
#: ``draw`` of the rounding keys of the per-image normalization (stream DECAY + pathway).
NORMALIZE_DRAW = 2
#: ``episode`` of the record of an on-demand sleep episode (scheduled episodes count from 1).
ON_DEMAND_EPISODE = 0


def check_sleep_steps(steps, batch: int) -> list[int]:
    """The planned lengths of an on-demand sleep call, one per member: ``steps`` is an int (every
    member) or a sequence of ``batch`` ints, each >= 0 (0: the member does nothing). Anything else
    (negative, not an integer, a bool, a sequence of another length) is a one-line ValueError."""

    def is_int(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))

    if is_int(steps):
        values = [steps] * batch
    else:
        try:
            values = list(steps)
        except TypeError:
            raise ValueError(f"sleep steps must be an integer >= 0 or a sequence of {batch} of them, "
                             f"got {steps!r}") from None
        if isinstance(steps, (str, bytes)) or len(values) != batch:
            raise ValueError(f"sleep steps must be an integer or a sequence of {batch} integers (one "
                             f"per member), got {steps!r}")
    for b, v in enumerate(values):
        if not is_int(v) or v < 0:
            where = "" if is_int(steps) else f"[{b}]"
            raise ValueError(f"sleep steps{where} must be an integer >= 0, got {v!r}")
    return [int(v) for v in values]


def spike_arrays(rec: dict, sizes: dict[str, int]) -> dict[str, np.ndarray]:
    """The spikes recorded step by step in a call (``rec``: lists per population "X", "E", "I"
    and "asleep") as (steps, n) bool arrays and "asleep" (steps,); ``sizes``:
    ModelParams.sizes(), so that a call without steps gives (0, n) arrays."""
    out = {p: np.array(rec[p], dtype=bool).reshape(len(rec[p]), sizes[p]) for p in ("X", "E", "I")}
    out["asleep"] = np.array(rec["asleep"], dtype=bool)
    return out


@dataclass
class RunOutput:
    """What one :meth:`ReferenceSimulator.run` call returns.

    counts: (n_images, n_exc) E spikes per image (wake steps of that image only).
    episodes: one dict per sleep episode that ended during the call.
    spikes: when requested, dict with "X", "E", "I" (steps x n, bool) and
        "asleep" (steps,) for every simulated step of the call, sleep included.
    activity: (2, n_x + n_exc + n_inh) int64 spikes per neuron in the call (X, E, I in that
        order), row 0 over wake steps, row 1 over sleep steps (X is all zero there: the input
        is gated while asleep). None from backends that do not count them.
    """

    counts: np.ndarray
    episodes: list = field(default_factory=list)
    spikes: dict | None = None
    steps: int = 0
    sleep_steps: int = 0
    activity: np.ndarray | None = None


class ReferenceSimulator:
    """Single-network oracle in float (float64 or float32) or fixed point (int64)."""

    def __init__(self, params: ModelParams, seed: int, mode: str = "float",
                 dtype=np.float64, init: NetworkInit | None = None):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.params = params
        self.seed = int(seed)
        self.mode = mode
        self.fixed = mode == "fixed"
        if self.fixed:
            params.check_fixed()
        self.init = init or build_network(params, self.seed)
        sizes = params.sizes()
        self.n_x, self.n_e, self.n_i = sizes["X"], sizes["E"], sizes["I"]
        self.n = self.n_e + self.n_i
        self.fc: FixedConstants | None = to_fixed(params) if self.fixed else None
        self.dtype = np.int64 if self.fixed else np.dtype(dtype).type
        self.nc = self.fc if self.fixed else neuron.neuron_consts_float(params)
        self.mask = {k: v.copy() for k, v in self.init.masks.items()}
        if self.fixed:
            self.m = self.init.magnitudes_fixed()
        else:
            self.m = {k: v.astype(self.dtype) for k, v in self.init.magnitudes.items()}
        self.plastic = params.network.plastic_pathways
        self.rules = {n: stdp.stdp_rule(params, n, self.fc) for n in self.plastic}
        self.total0, self.row_total0, self.decay = {}, {}, {}
        for n in self.plastic:
            m0 = self.m[n]
            self.total0[n] = m0.sum()
            self.row_total0[n] = m0.sum(-1)
            nsyn = int(self.mask[n].sum())
            static = float(m0.sum()) / nsyn if nsyn else 0.0
            self.decay[n] = sleep.decay_consts(params, n, static, self.fc)
        self.normalized = tuple(n for n in self.plastic if params.network.pathway(n).normalize)
        self.norm = {n: sleep.normalize_consts(params, n, self.fc) for n in self.normalized}
        self.acc = {n: np.zeros_like(self.m[n]) for n in self.plastic}
        self.acc_dirty = False
        z = np.zeros(self.n, dtype=self.dtype)
        self.u, self.v, self.a = z.copy(), z.copy(), z.copy()
        self.pending = z.copy()
        self.x = {p: np.zeros(s, dtype=self.dtype) for p, s in sizes.items()}
        self.y = {p: np.zeros(sizes[p], dtype=self.dtype) for p in ("E", "I")}
        if self.fixed:
            self.k_plus, self.k_minus = self.fc.k_plus, self.fc.k_minus
        else:
            self.k_plus = float(np.exp(-params.neuron.dt / params.stdp.tau_plus))
            self.k_minus = float(np.exp(-params.neuron.dt / params.stdp.tau_minus))
        self.t = 0  # global step
        self.wake_t = 0  # wake steps so far
        self.n_episodes = 0
        self.sleep_steps_total = 0
        self.neuron_index = np.arange(self.n, dtype=np.int64)
        self.pixel_index = np.arange(self.n_x, dtype=np.int64)
        self.flat = {n: np.arange(self.m[n].size, dtype=np.int64).reshape(self.m[n].shape)
                     for n in PATHWAY_NAMES}
        self.trace_index = {side: {p: off + np.arange(sizes[p], dtype=np.int64) for p, off in offs.items()}
                            for side, offs in stdp.trace_offsets(sizes).items()}

    # -- helpers -----------------------------------------------------------
    def signed_weights(self, name: str) -> np.ndarray:
        """Signed float weights (post x pre) of a pathway (fixed: dequantized)."""
        sign = self.params.network.pathway(name).sign
        if self.fixed:
            return sign * self.m[name].astype(np.float64) * self.fc.pathways[name].lsb
        return sign * self.m[name].astype(np.float64)

    def totals(self) -> dict[str, float]:
        return {n: float(self.m[n].sum()) for n in PATHWAY_NAMES}

    def _propagate(self, s):
        """Drive of the next step from this step's spikes (E rows first, then I)."""
        sx = s["X"].astype(self.dtype)
        se = s["E"].astype(self.dtype)
        si = s["I"].astype(self.dtype)
        if self.fixed:
            pf = self.fc.pathways
            d_e = pathway_drive(self.m["XE"] @ sx, pf["XE"]) + pathway_drive(self.m["EE"] @ se, pf["EE"]) \
                - pathway_drive(self.m["IE"] @ si, pf["IE"])
            d_i = pathway_drive(self.m["EI"] @ se, pf["EI"])
        else:
            d_e = self.m["XE"] @ sx + self.m["EE"] @ se - self.m["IE"] @ si
            d_i = self.m["EI"] @ se
        return np.concatenate([d_e, d_i])

    def _noise(self, asleep: bool):
        k1 = rng.key(self.seed, rng.Stream.NOISE, self.t, 0)
        k2 = rng.key(self.seed, rng.Stream.NOISE, self.t, 1)
        z = rng.normal_int(k1, k2, self.neuron_index)
        return neuron.noise_from_int(z, self.nc, asleep, self.dtype)

    def _learn(self, s, active: bool):
        fixed = self.fc
        rx = ry = {}
        if fixed:
            kx = rng.key(self.seed, rng.Stream.TRACE_ROUND, self.t, stdp.PRE_TRACES)
            ky = rng.key(self.seed, rng.Stream.TRACE_ROUND, self.t, stdp.POST_TRACES)
            mode, bits = fixed.trace_rounding, stdp.TRACE_DECAY_BITS
            rx = {p: rounding_offset(mode, bits, lambda i=i: stdp.trace_rounding(kx, i))
                  for p, i in self.trace_index["x"].items()}
            ry = {p: rounding_offset(mode, bits, lambda i=i: stdp.trace_rounding(ky, i))
                  for p, i in self.trace_index["y"].items()}
        xd = {p: stdp.trace_step(x, self.k_plus, fixed, rx.get(p)) for p, x in self.x.items()}
        yd = {p: stdp.trace_step(y, self.k_minus, fixed, ry.get(p)) for p, y in self.y.items()}
        if active:
            for n in self.plastic:
                pre, post = n[0], n[1]
                dm = stdp.stdp_delta(self.rules[n], self.m[n], self.mask[n], s[pre], s[post],
                                     xd[pre], yd[post])
                self.acc[n] += dm
            self.acc_dirty = True
        self.x = {p: stdp.trace_add(xd[p], s[p].astype(self.dtype), fixed) for p in xd}
        self.y = {p: stdp.trace_add(yd[p], s[p].astype(self.dtype), fixed) for p in yd}
        t_epoch = self.params.stdp.t_epoch
        if (self.t + 1) % t_epoch == 0 and self.acc_dirty:
            epoch = self.t // t_epoch
            for idx, n in enumerate(PATHWAY_NAMES):
                if n not in self.plastic:
                    continue
                r = None
                if self.fixed:
                    k = rng.key(self.seed, rng.Stream.STDP_ROUND + idx, epoch)
                    bits = fixed.dw_frac_bits
                    r = rounding_offset(fixed.dw_rounding, bits,
                                        lambda k=k, n=n, b=bits: rng.uniform_u32(k, self.flat[n]) >> (32 - b))
                self.m[n] = stdp.apply_epoch(self.rules[n], self.m[n], self.acc[n], self.mask[n],
                                             r, fixed.dw_frac_bits if fixed else 0)
                self.acc[n][...] = 0
            self.acc_dirty = False

    def _decay(self, k_steps: int):
        """Settle the sleep decay of a block of k_steps sleep steps (at global step self.t)."""
        for idx, n in enumerate(PATHWAY_NAMES):
            if n not in self.plastic:
                continue
            dc = self.decay[n]
            xi = r = None
            if self.fixed:
                k = rng.key(self.seed, rng.Stream.DECAY + idx, self.t)
                r = rng.uniform_u32(k, self.flat[n]) >> (32 - dc.decay_frac_bits)
            elif dc.noise > 0:
                k1 = rng.key(self.seed, rng.Stream.DECAY + idx, self.t, 0)
                k2 = rng.key(self.seed, rng.Stream.DECAY + idx, self.t, 1)
                xi = (rng.normal_int(k1, k2, self.flat[n]).astype(self.dtype)
                      / self.dtype(rng.NORMAL_INT_SD))
            m = sleep.decay_block(dc, self.m[n], self.mask[n], self.total0[n], self.row_total0[n],
                                  k_steps, xi=xi, r=r)
            self.m[n], self.mask[n] = sleep.floor_and_prune(dc, m, self.mask[n])

    def _normalize(self):
        """Per-image normalization (after the slot's last step, at global step self.t): one
        full-strength linear neuron-target decay block; fixed rounding draws from stream
        DECAY + pathway, counter t, draw 2 (sleep decay uses draws 0 and 1)."""
        for idx, n in enumerate(PATHWAY_NAMES):
            if n not in self.normalized:
                continue
            r = None
            if self.fixed:
                k = rng.key(self.seed, rng.Stream.DECAY + idx, self.t, NORMALIZE_DRAW)
                r = rng.uniform_u32(k, self.flat[n]) >> (32 - self.norm[n].decay_frac_bits)
            self.m[n] = sleep.decay_block(self.norm[n], self.m[n], self.mask[n], self.total0[n],
                                          self.row_total0[n], 1, r=r)

    def _step(self, thresholds, asleep: bool, learn: bool, rec):
        noise = self._noise(asleep)
        decay_a = neuron.adaptation_decays(self.t, self.params.neuron.a_decay_every)
        adapt = neuron.adaptation_runs(learn, self.params.neuron.freeze_adaptation)
        self.u, self.v, self.a, s_n = neuron.neuron_step(self.u, self.v, self.a, self.pending,
                                                         noise, self.nc, decay_a, adapt)
        if asleep or thresholds is None:
            sx = np.zeros(self.n_x, dtype=bool)
        else:
            sx = encode.input_spikes(self.seed, self.wake_t, thresholds, self.pixel_index)
        s = {"X": sx, "E": s_n[: self.n_e], "I": s_n[self.n_e:]}
        self.pending = self._propagate(s)
        active = learn and (not asleep or self.params.stdp.learn_in_sleep)
        self._learn(s, active)
        if rec is not None:
            for p in ("X", "E", "I"):
                rec[p].append(s[p])
            rec["asleep"].append(asleep)
        return s

    def _count(self, out: RunOutput, s, asleep: bool) -> None:
        """Add this step's spikes to the activity row of its phase (wake 0, sleep 1)."""
        row = out.activity[int(asleep)]
        row[: self.n_x] += s["X"]
        row[self.n_x: self.n_x + self.n_e] += s["E"]
        row[self.n_x + self.n_e:] += s["I"]

    def _sleep_episode(self, learn: bool, rec, out: RunOutput, planned: int | None = None):
        """Run one sleep episode from the current step and record it in ``out``.

        planned None: the next scheduled episode (n_episodes advances; its length is
        ``episode_length(n_episodes)``, a length 0 is counted but not recorded); otherwise an
        on-demand episode of ``planned`` steps, recorded as episode ON_DEMAND_EPISODE, the
        schedule's n_episodes unchanged.
        """
        sp = self.params.sleep
        if planned is None:
            self.n_episodes += 1
            episode, planned = self.n_episodes, sp.episode_length(self.n_episodes)
        else:
            episode = ON_DEMAND_EPISODE
        if planned <= 0:
            return
        before = self.totals()
        start = self.t
        used = since = 0
        woke = False
        while used < planned:
            self._count(out, self._step(None, True, learn, rec), True)
            self.t += 1
            used += 1
            since += 1
            if sp.settles(used, planned, self.t):
                self._decay(sp.decay_steps(since))
                since = 0
                tot = [float(self.m[n].sum()) for n in self.plastic]
                tot0 = [float(self.total0[n]) for n in self.plastic]
                if used < planned and sleep.wake_check(tot, tot0, sp.tol):
                    woke = True
                    break
        self.sleep_steps_total += used
        out.sleep_steps += used
        out.episodes.append({
            "episode": episode, "start_step": start, "wake_step": self.wake_t,
            "planned": planned, "used": used, "woke_early": woke,
            "totals_before": before, "totals_after": self.totals(),
        })

    # -- public ------------------------------------------------------------
    def run(self, images, learn: bool = True, sleep_on: bool = True,
            record_spikes: bool = False, progress=None) -> RunOutput:
        """Present ``images`` (n, n_input) uint8, each for steps_per_image wake steps followed
        by rest_steps wake steps without input.

        learn: STDP on/off. sleep_on: run the sleep schedule (needs fraction > 0).
        progress: optional callable(images_done) called after every image.
        """
        images = np.asarray(images)
        if images.ndim != 2 or images.shape[1] != self.n_x:
            raise ValueError(f"images must have shape (n, {self.n_x}), got {images.shape}")
        thr = encode.input_thresholds(images, self.params.input.max_rate_hz, self.params.neuron.dt)
        spi = self.params.input.steps_per_image
        slot = self.params.input.slot_steps
        normalize = learn and bool(self.normalized)
        out = RunOutput(counts=np.zeros((len(images), self.n_e), dtype=np.int64),
                        activity=np.zeros((2, self.n_x + self.n), dtype=np.int64))
        rec = {"X": [], "E": [], "I": [], "asleep": []} if record_spikes else None
        sleeping = sleep_on and self.params.sleep.fraction > 0
        period = self.params.sleep.period
        for i in range(len(images)):
            for k in range(slot):
                present = k < spi
                s = self._step(thr[i] if present else None, False, learn, rec)
                if present:
                    out.counts[i] += s["E"]
                self._count(out, s, False)
                self.t += 1
                self.wake_t += 1
                out.steps += 1
                if normalize and k == slot - 1:
                    self._normalize()
                if sleeping and self.wake_t % period == 0:
                    self._sleep_episode(learn, rec, out)
            if progress is not None:
                progress(i + 1)
        out.steps += out.sleep_steps
        if rec is not None:
            out.spikes = spike_arrays(rec, self.params.sizes())
        return out

    def sleep(self, steps: int, learn: bool = True, record_spikes: bool = False) -> RunOutput:
        """One on-demand sleep episode of planned length ``steps`` (an int >= 0), starting now.

        Exactly a scheduled episode (:meth:`_sleep_episode`): input gate closed, noise
        sigma_sleep, the global step t advances (wake_t does not), STDP iff ``learn`` and
        learn_in_sleep, the decay settled every ``block`` steps and at the end, floor/prune,
        early wake-up with ``tol``, all with this network's SleepParams (also when its fraction
        is 0). The schedule's episode counter (n_episodes) is unchanged; sleep_steps_total grows
        by the steps used. ``steps`` 0 does nothing. Returns counts of shape (0, n_exc), one
        episode record (episode 0) unless steps is 0, the steps used and the sleep activity.
        """
        planned = check_sleep_steps(steps, 1)[0]
        out = RunOutput(counts=np.zeros((0, self.n_e), dtype=np.int64),
                        activity=np.zeros((2, self.n_x + self.n), dtype=np.int64))
        rec = {"X": [], "E": [], "I": [], "asleep": []} if record_spikes else None
        if planned > 0:
            self._sleep_episode(learn, rec, out, planned=planned)
        out.steps = out.sleep_steps
        if rec is not None:
            out.spikes = spike_arrays(rec, self.params.sizes())
        return out

    def state_dict(self) -> dict[str, np.ndarray]:
        """Complete dynamic state as arrays (for checkpoints and cross-backend comparison)."""
        d = {"u": self.u, "v": self.v, "a": self.a, "pending": self.pending,
             "counters": np.array([self.t, self.wake_t, self.n_episodes, self.sleep_steps_total])}
        for p, x in self.x.items():
            d[f"x_{p}"] = x
        for p, y in self.y.items():
            d[f"y_{p}"] = y
        for n in PATHWAY_NAMES:
            d[f"m_{n}"] = self.m[n]
            d[f"mask_{n}"] = self.mask[n]
        for n in self.plastic:
            d[f"acc_{n}"] = self.acc[n]
        return {k: np.array(v) for k, v in d.items()}

    def load_state_dict(self, d: dict[str, np.ndarray]) -> None:
        self.u, self.v, self.a = (d[k].astype(self.dtype) for k in ("u", "v", "a"))
        self.pending = d["pending"].astype(self.dtype)
        self.t, self.wake_t, self.n_episodes, self.sleep_steps_total = (int(c) for c in d["counters"])
        self.x = {p: d[f"x_{p}"].astype(self.dtype) for p in self.x}
        self.y = {p: d[f"y_{p}"].astype(self.dtype) for p in self.y}
        for n in PATHWAY_NAMES:
            self.m[n] = d[f"m_{n}"].astype(self.dtype)
            self.mask[n] = d[f"mask_{n}"].astype(bool)
        for n in self.plastic:
            self.acc[n] = d[f"acc_{n}"].astype(self.dtype)
        self.acc_dirty = any(bool(np.any(self.acc[n])) for n in self.plastic)
