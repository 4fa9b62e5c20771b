"""Frozen, validated model parameters (MODEL.md sections 1-4).

Every dataclass validates itself on construction: an invalid value raises
``ValueError`` naming the field, the value and the allowed range. Units are
given per field; time is in simulation steps of ``dt`` milliseconds (dt = 1 ms).

Presets: :func:`paper` (the paper's network and values) and :func:`quick` (a
smaller, faster configuration for demos and tests). Parameters round-trip
through TOML with :func:`save_toml` / :func:`load_toml`.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field, fields, replace
from fractions import Fraction
from typing import Any

from lava_sleep.errors import UserError

POPULATIONS = ("X", "E", "I")
PATHWAY_NAMES = ("XE", "EE", "EI", "IE")
STDP_RULES = ("stdp", "vogels", "diehl_cook")
CONNECTION_PATTERNS = ("random", "one_to_one", "all_but_self")


class ParamError(UserError, ValueError):
    """Invalid parameter value (a ValueError naming field, value and range)."""


def _check_range(obj, name, lo=None, hi=None, lo_open=False, hi_open=False, integer=False):
    value = getattr(obj, name)
    cls = type(obj).__name__
    if integer:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamError(f"{cls}.{name} must be an integer, got {value!r}")
    else:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamError(f"{cls}.{name} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ParamError(f"{cls}.{name} must be finite, got {value!r}")
    bad = False
    if lo is not None:
        bad |= value <= lo if lo_open else value < lo
    if hi is not None:
        bad |= value >= hi if hi_open else value > hi
    if bad:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        lo_s = "-inf" if lo is None else lo
        hi_s = "inf" if hi is None else hi
        raise ParamError(
            f"{cls}.{name} = {value!r} is out of range; allowed {left}{lo_s}, {hi_s}{right}"
        )


def _check_choice(obj, name, choices):
    value = getattr(obj, name)
    if value not in choices:
        raise ParamError(
            f"{type(obj).__name__}.{name} = {value!r} is not allowed; choose one of {choices}"
        )


def _check_bool(obj, name):
    value = getattr(obj, name)
    if not isinstance(value, bool):
        raise ParamError(f"{type(obj).__name__}.{name} must be true or false, got {value!r}")


@dataclass(frozen=True)
class InputParams:
    """Input layer X: Bernoulli (Poisson-like) rate coding of images.

    Attributes:
        image_size: side of the square input image in pixels (images are resized
            to image_size x image_size); n_input = image_size**2. Range [2, 64].
            Paper: 15 (225 inputs); 28 (784) also works.
        max_rate_hz: firing rate of a white pixel (intensity 255) in Hz;
            spike probability per step = intensity / 255 * max_rate_hz * dt / 1000.
            Range (0, 1000]. The paper does not state its rate; 400 Hz is our choice
            (docs/model.md "Input rate"), picked on the shared MNIST images that the
            MNIST evaluations also draw from: at Diehl & Cook's 63.75 Hz the mean input
            drive (about 1 mV) drowns in the paper's 2 mV-per-step membrane noise and
            no readout gets above ~20 % on MNIST. At 400 Hz the measured MNIST no-sleep
            linear readout is 75.8 % (paper: 63 %; benchmarks/results/
            reproduce_mnist_summary.md). Redone on the embedded digits
            (benchmarks/choose_input_rate.py, best no-sleep linear readout), the
            choice is 1000 Hz: +10.5 pp over 400 Hz there (input_rate_choice.json).
            The default stays 400 Hz (why: docs/model.md "Input rate").
        steps_per_image: wake steps each image is presented (ms). Range [1, 100000].
        rest_steps: wake steps without input after each image (Diehl & Cook's 150 ms rest, which
            lets membranes and traces relax before the next image). Range [0, 100000]; 0 = none.
            An image's slot is steps_per_image + rest_steps wake steps; the per-image spike
            counts cover the presentation steps only.
    """

    image_size: int = 15
    max_rate_hz: float = 400.0
    steps_per_image: int = 350
    rest_steps: int = 0

    def __post_init__(self):
        _check_range(self, "image_size", 2, 64, integer=True)
        _check_range(self, "max_rate_hz", 0, 1000, lo_open=True)
        _check_range(self, "steps_per_image", 1, 100000, integer=True)
        _check_range(self, "rest_steps", 0, 100000, integer=True)

    @property
    def slot_steps(self) -> int:
        """Wake steps per image: presentation plus rest."""
        return self.steps_per_image + self.rest_steps

    @property
    def n_input(self) -> int:
        return self.image_size * self.image_size


@dataclass(frozen=True)
class NeuronParams:
    """Current-based LIF neuron with adaptive threshold and membrane noise (MODEL.md 2).

    Attributes (voltages in mV, times in ms):
        dt: step length, ms. Range (0, 10]; 1 in the paper.
        tau_syn: synaptic current time constant, ms. Range [dt, 1e4].
        tau_m: membrane time constant, ms. Range [dt, 1e4].
        r_m: membrane resistance (current-to-voltage gain), mV per unit current. Range (0, 1e4].
        v_rest: resting potential, mV.
        v_reset: potential after a spike, mV; must lie in [v_min, v_thresh).
        v_thresh: base threshold theta, mV; must lie in (v_reset, v_max).
        v_min, v_max: membrane clamp, mV (v_min < v_rest < v_max).
        tau_a: adaptation time constant, ms. Range [dt, 1e9]. Diehl & Cook's slow threshold
            homeostasis uses 1e7 (with a small delta_a and a_decay_every > 1).
        a_decay_every: the adaptation decays only on every a_decay_every-th global step (steps t
            with (t + 1) % a_decay_every == 0), by the factor (1 - dt/tau_a)**a_decay_every, so
            slow time constants keep their value in fixed point, whose 12-bit keep factor
            cannot express 1 - 1e-7 per step. Range [1, 10**7]; 1 = every step.
        freeze_adaptation: in runs with learning off (evaluation) the adaptation neither
            grows nor decays, as Diehl & Cook fix their learned threshold theta at test time;
            off (default), adaptation is a neuron property that always runs.
        delta_a: threshold increment per spike, mV. Range [0, 100].
        theta_min, theta_max: bounds of the effective threshold theta + a, mV;
            theta_min <= v_thresh <= theta_max.
        sigma_wake: membrane noise standard deviation per step during wake, mV. Range [0, 50].
        sigma_sleep: membrane noise standard deviation per step during sleep, mV. Range [0, 50].
        bias: constant drive added to the membrane every step, mV. Range [-50, 50].
    """

    dt: float = 1.0
    tau_syn: float = 30.0
    tau_m: float = 30.0
    r_m: float = 30.0
    v_rest: float = -70.0
    v_reset: float = -80.0
    v_thresh: float = -55.0
    v_min: float = -100.0
    v_max: float = 40.0
    tau_a: float = 100.0
    delta_a: float = 3.0
    a_decay_every: int = 1
    freeze_adaptation: bool = False
    theta_min: float = -90.0
    theta_max: float = 0.0
    sigma_wake: float = 2.0
    sigma_sleep: float = 4.0
    bias: float = 0.0

    def __post_init__(self):
        _check_range(self, "dt", 0, 10, lo_open=True)
        for name in ("tau_syn", "tau_m"):
            _check_range(self, name, self.dt, 1e4)
        _check_range(self, "tau_a", self.dt, 1e9)
        _check_range(self, "a_decay_every", 1, 10**7, integer=True)
        _check_bool(self, "freeze_adaptation")
        _check_range(self, "r_m", 0, 1e4, lo_open=True)
        for name in ("v_rest", "v_reset", "v_thresh", "v_min", "v_max", "theta_min", "theta_max"):
            _check_range(self, name, -200, 200)
        _check_range(self, "v_max", self.v_rest, 200, lo_open=True)
        _check_range(self, "v_min", -200, self.v_rest, hi_open=True)
        _check_range(self, "v_reset", self.v_min, self.v_thresh, hi_open=True)
        _check_range(self, "v_thresh", self.v_reset, self.v_max, lo_open=True, hi_open=True)
        _check_range(self, "theta_min", -200, self.v_thresh)
        _check_range(self, "theta_max", self.v_thresh, 200)
        _check_range(self, "delta_a", 0, 100)
        _check_range(self, "sigma_wake", 0, 50)
        _check_range(self, "sigma_sleep", 0, 50)
        _check_range(self, "bias", -50, 50)


@dataclass(frozen=True)
class PathwayParams:
    """One synaptic pathway pre -> post (MODEL.md 1 and 3).

    Attributes:
        name: "XE", "EE", "EI" or "IE" (pre population letter, post population letter).
        p: connection probability of the "random" pattern. Range [0, 1]; 1 gives dense
            all-to-all. Unused by the other patterns.
        pattern: "random" (Bernoulli(p) per synapse; E->E never has self-connections),
            "one_to_one" (post i <- pre i only) or "all_but_self" (post i <- every pre j != i,
            Diehl & Cook's lateral inhibition). The last two need equal pre and post sizes.
        w_init: initial weight (signed; the sign sets the synapse class:
            positive = excitatory, negative = inhibitory). |w_init| in [0, w_max].
        w_init_jitter: relative uniform jitter of initial weights:
            |w| = |w_init| * (1 + jitter * U(-1, 1)), clipped to [w_min, w_max]. Range [0, 1].
        w_min, w_max: magnitude bounds |w| in [w_min, w_max]. 0 <= w_min < w_max <= 16.
        plastic: whether the pathway learns (STDP) and takes part in sleep decay.
        rule: "stdp" (pair-based trace STDP on |w|), "vogels" (symmetric iSTDP,
            Vogels et al. 2011: potentiation on coincidence, depression by alpha on pre spikes)
            or "diehl_cook" (Diehl & Cook 2015: on a post spike the weight moves by
            eta_plus (x_pre - alpha) (w_max - |w|)**mu, so inputs whose trace is below the
            target x_tar = alpha are depressed; plus the stdp rule's depression on pre spikes).
        eta_plus, eta_minus: learning rates (weight units per trace unit). Range [0, 1].
        mu: soft-bound exponent: potentiation scales with (w_max - |w|)**mu,
            depression with |w|**mu. 0 = hard bounds only. Range [0, 2]; the
            fixed-point form supports only 0 and 1.
        alpha: trace offset (trace units). "vogels": the depression offset on pre spikes;
            "diehl_cook": the presynaptic target x_tar. Unused by "stdp". Range [0, 10].
        normalize: per-image weight normalization (Diehl & Cook): at the end of every image
            slot while learning, each post neuron's incoming magnitudes are rescaled to the
            neuron's initial incoming total. Plastic pathways only.
    """

    name: str
    p: float
    w_init: float
    w_init_jitter: float = 0.0
    w_min: float = 0.0
    w_max: float = 1.0
    plastic: bool = False
    rule: str = "stdp"
    eta_plus: float = 0.01
    eta_minus: float = 0.0105
    mu: float = 0.0
    alpha: float = 0.2
    pattern: str = "random"
    normalize: bool = False

    def __post_init__(self):
        _check_choice(self, "name", PATHWAY_NAMES)
        _check_range(self, "p", 0, 1)
        _check_choice(self, "pattern", CONNECTION_PATTERNS)
        _check_bool(self, "normalize")
        if self.normalize and not self.plastic:
            raise ParamError(f"PathwayParams.normalize of {self.name} needs plastic = true")
        _check_range(self, "w_max", 0, 16, lo_open=True)
        _check_range(self, "w_min", 0, self.w_max, hi_open=True)
        _check_range(self, "w_init", -self.w_max, self.w_max)
        _check_range(self, "w_init_jitter", 0, 1)
        _check_bool(self, "plastic")
        _check_choice(self, "rule", STDP_RULES)
        _check_range(self, "eta_plus", 0, 1)
        _check_range(self, "eta_minus", 0, 1)
        _check_range(self, "mu", 0, 2)
        _check_range(self, "alpha", 0, 10)
        if self.name[0] == "I" and self.w_init > 0:
            raise ParamError(
                f"PathwayParams.w_init = {self.w_init!r} of {self.name} must be <= 0 (inhibitory)")
        if self.name[0] != "I" and self.w_init < 0:
            raise ParamError(
                f"PathwayParams.w_init = {self.w_init!r} of {self.name} must be >= 0 (excitatory)")

    @property
    def pre(self) -> str:
        return self.name[0]

    @property
    def post(self) -> str:
        return self.name[1]

    @property
    def sign(self) -> int:
        """+1 for excitatory (pre in X or E), -1 for inhibitory (pre in I)."""
        return -1 if self.pre == "I" else 1


def _default_pathways() -> tuple[PathwayParams, ...]:
    return (
        PathwayParams("XE", p=0.10, w_init=0.15, w_max=1.0, plastic=True),
        PathwayParams("EE", p=0.15, w_init=0.3, w_max=1.0, plastic=True),
        PathwayParams("EI", p=0.20, w_init=0.6, w_max=1.5, plastic=False),
        PathwayParams("IE", p=0.25, w_init=-0.5, w_max=1.5, plastic=False),
    )


@dataclass(frozen=True)
class NetworkParams:
    """Population sizes and the four pathways (MODEL.md 1).

    Attributes:
        n_exc: excitatory neurons E. Range [1, 100000]. Paper: 200.
        n_inh: inhibitory neurons I. Range [0, 100000]. Paper: 50 (n_exc / 4).
        pathways: exactly one PathwayParams for each of "XE", "EE", "EI", "IE", in that order.
            E->E never has self-connections.
    """

    n_exc: int = 200
    n_inh: int = 50
    pathways: tuple[PathwayParams, ...] = field(default_factory=_default_pathways)

    def __post_init__(self):
        _check_range(self, "n_exc", 1, 100000, integer=True)
        _check_range(self, "n_inh", 0, 100000, integer=True)
        names = tuple(pw.name for pw in self.pathways)
        if names != PATHWAY_NAMES:
            raise ParamError(
                f"NetworkParams.pathways must be {PATHWAY_NAMES} in that order, got {names}"
            )
        sizes = {"X": None, "E": self.n_exc, "I": self.n_inh}
        for pw in self.pathways:
            if pw.pattern != "random" and sizes[pw.pre] != sizes[pw.post]:
                raise ParamError(
                    f"PathwayParams.pattern = {pw.pattern!r} of {pw.name} needs as many {pw.pre} as "
                    f"{pw.post} neurons (n_exc = {self.n_exc}, n_inh = {self.n_inh}; X->E must be random)")

    def pathway(self, name: str) -> PathwayParams:
        for pw in self.pathways:
            if pw.name == name:
                return pw
        raise KeyError(name)

    def with_pathway(self, name: str, **changes) -> NetworkParams:
        """A copy with one pathway's fields changed."""
        new = tuple(replace(pw, **changes) if pw.name == name else pw for pw in self.pathways)
        return replace(self, pathways=new)

    @property
    def plastic_pathways(self) -> tuple[str, ...]:
        return tuple(pw.name for pw in self.pathways if pw.plastic)


@dataclass(frozen=True)
class STDPParams:
    """Trace STDP shared by all plastic pathways (MODEL.md 3).

    Attributes:
        tau_plus: presynaptic trace time constant, ms. Range [1, 1000].
        tau_minus: postsynaptic trace time constant, ms. Range [1, 1000].
        t_epoch: learning epoch in steps: weight updates accumulate and are applied
            every t_epoch steps (Loihi learning epoch). Range [1, 64].
        learn_in_sleep: whether STDP keeps running during sleep episodes.
        trace_bits: fixed point: trace width in bits (unsigned, saturating). Range [3, 16].
        trace_impulse: fixed point: trace increment per spike (integer); one float
            trace unit equals trace_impulse integer units. Range [1, 2**trace_bits - 1].
            Default 13: a 7-bit trace then holds 9.8 spikes, above the mean pre trace of a
            white pixel at 400 Hz (8.2); larger impulses saturate and under-potentiate,
            smaller ones add rounding noise that the weight bounds clip into a bias
            (measured in docs/model.md, "Fixed point vs float").
    """

    tau_plus: float = 20.0
    tau_minus: float = 20.0
    t_epoch: int = 1
    learn_in_sleep: bool = True
    trace_bits: int = 7
    trace_impulse: int = 13

    def __post_init__(self):
        _check_range(self, "tau_plus", 1, 1000)
        _check_range(self, "tau_minus", 1, 1000)
        _check_range(self, "t_epoch", 1, 64, integer=True)
        _check_bool(self, "learn_in_sleep")
        _check_range(self, "trace_bits", 3, 16, integer=True)
        _check_range(self, "trace_impulse", 1, 2**self.trace_bits - 1, integer=True)


#: Where the sleep runs (SleepParams.site).
SLEEP_SITES = ("host", "onchip")
#: Default decay period of the on-chip form: Lava's epoch dependency u8 (every 256 steps).
ONCHIP_BLOCK = 256
#: Largest decimation exponent k of Lava's ``u<k>`` dependency we use (u0 ... u9).
ONCHIP_MAX_K = 9
#: Loihi learning-rule scaling factors, as Lava's rule parser (ProductSeries) accepts them: a
#: 4-bit signed mantissa (-8..7; we use magnitudes 1..7) times 2**e with e in [-7, 8].
LITERAL_MANT_MAX = 7
LITERAL_EXP_RANGE = (-7, 8)


def loihi_literal(x: float) -> tuple[int, int]:
    """(mantissa, exponent) with |mantissa| in 1..LITERAL_MANT_MAX (sign carried by the
    mantissa) and exponent in LITERAL_EXP_RANGE whose value ``mantissa * 2**exponent`` is
    nearest to ``x`` (relative error); (0, 0) for 0. ParamError when |x| is outside the range."""
    x = float(x)
    if x == 0.0:
        return 0, 0
    ax, best = abs(x), None
    lo, hi = LITERAL_EXP_RANGE
    for e in range(lo, hi + 1):
        m = round(ax / 2.0**e)
        if 1 <= m <= LITERAL_MANT_MAX:
            err = abs(m * 2.0**e - ax)
            if best is None or err <= best[0]:
                best = (err, m, e)
    if best is None or best[0] > 0.5 * ax:
        raise ParamError(f"{x!r} is outside the range of a Loihi learning-rule constant "
                         f"(1..{LITERAL_MANT_MAX} times 2**e, e in [{lo}, {hi}])")
    return (best[1] if x > 0 else -best[1]), best[2]


def onchip_rate(sp) -> float:
    """The on-chip decay constant c: ``1 - lam**block`` rounded to a Loihi literal."""
    m, e = loihi_literal(1.0 - sp.lam**sp.block)
    return m * 2.0**e


def onchip_mismatches(sp) -> list[str]:
    """What keeps SleepParams ``sp`` from the on-chip form (empty: nothing)."""
    want = {"form": "linear", "target": "static", "decay_noise": 0.0, "w_floor": 0.0, "prune": False,
            "tol": 0.0}
    bad = [f"{k} {v!r} (has {getattr(sp, k)!r})" for k, v in want.items() if getattr(sp, k) != v]
    k = sp.block.bit_length() - 1
    if sp.block != 1 << k or k > ONCHIP_MAX_K:
        bad.append(f"block a power of two <= {1 << ONCHIP_MAX_K} (has {sp.block})")
    elif sp.lam < 1.0:
        try:
            loihi_literal(1.0 - sp.lam**sp.block)
        except ParamError as exc:
            bad.append(f"1 - lam**block as a learning-rule constant ({exc})")
    return bad


@dataclass(frozen=True)
class SleepParams:
    """Sleep phase: silenced input, noise-driven activity, homeostatic decay (MODEL.md 4).

    Attributes:
        fraction: share f of all simulated steps spent asleep. Range [0, 0.95];
            0 = no sleep. Episode k lasts round(k*period*f/(1-f)) - round((k-1)*period*f/(1-f))
            steps, so the share is exact over time (before early wake-up).
        period: wake steps between sleep episodes. Range [1, 10**9].
        lam: decay factor per sleep step (lambda). Range (0, 1]; paper 0.99997.
        form: "log" (|w| <- t * (|w|/t)**lam) or "linear" (|w| <- t + (|w| - t) * lam).
            The fixed-point form supports only "linear".
        target: "static" (t = mean initial |w| of the pathway), "group" (scale the
            pathway's total |w| back to its initial total) or "neuron" (synaptic scaling:
            restore each post-neuron's incoming total, keeping relative weights).
        decay_noise: relative standard deviation of each synapse's decay strength
            (1 - lam**K) per block (float forms; fixed point uses stochastic rounding
            in addition). Range [0, 1].
        block: the decay is settled every `block` sleep steps with lam**block (and for the
            remainder at episode end); early wake-up is checked at the same points. Range [1, 10000].
        w_floor: magnitude floor after decay; |w| below it is set to w_floor, or pruned
            (mask set to 0) when prune is on. Range [0, 1].
        prune: prune sub-floor synapses instead of flooring them.
        tol: early wake-up when every plastic pathway's total |w| is within tol
            (relative) of its target total. Range [0, 1]; 0 disables early wake-up.
        site: where the sleep runs. "host" (default): the decay is settled by a controller
            every `block` sleep steps of an episode and at its end, with ``lam**K``.
            "onchip": the form a Loihi 2 learning engine can run without host access
            (docs/model.md, "On-chip sleep"): a term ``-c (m - t)`` of the learning rule,
            gated by a sleep third factor, evaluated at every global step t (steps done)
            with ``t % block == 0`` while asleep, with the constant ``c =``
            :func:`onchip_rate` (``1 - lam**block`` rounded to a Loihi literal). It needs
            form "linear", target "static", decay_noise 0, w_floor 0, prune off, tol 0 and
            block a power of two (Lava's epoch dependency ``u<k>``, k = log2(block) <= 9);
            :meth:`onchip` converts host settings.
    """

    fraction: float = 0.0
    period: int = 3500
    lam: float = 0.99997
    form: str = "log"
    target: str = "neuron"
    decay_noise: float = 0.1
    block: int = 10
    w_floor: float = 0.0
    prune: bool = False
    tol: float = 0.01
    site: str = "host"

    def __post_init__(self):
        _check_range(self, "fraction", 0, 0.95)
        _check_range(self, "period", 1, 10**9, integer=True)
        _check_range(self, "lam", 0, 1, lo_open=True)
        _check_choice(self, "form", ("log", "linear"))
        _check_choice(self, "target", ("static", "group", "neuron"))
        _check_range(self, "decay_noise", 0, 1)
        _check_range(self, "block", 1, 10000, integer=True)
        _check_range(self, "w_floor", 0, 1)
        _check_bool(self, "prune")
        _check_range(self, "tol", 0, 1)
        _check_choice(self, "site", SLEEP_SITES)
        if self.site == "onchip":
            bad = onchip_mismatches(self)
            if bad:
                raise ParamError(f"SleepParams.site = 'onchip' needs {'; '.join(bad)} "
                                 "(SleepParams.onchip() converts host settings)")

    def onchip(self, block: int = ONCHIP_BLOCK) -> SleepParams:
        """These settings as the on-chip form: same fraction, period and lam; linear static
        decay, no decay noise, no floor or pruning, no early wake-up, ``block`` a power of two
        (the decay is applied every ``block`` global steps while asleep)."""
        return replace(self, site="onchip", form="linear", target="static", decay_noise=0.0,
                       w_floor=0.0, prune=False, tol=0.0, block=int(block))

    def decay_lam(self) -> float:
        """The per-step factor the decay blocks use: ``lam`` (host), or on chip the factor
        whose ``block``-th power is ``1 - onchip_rate(self)``, so that every backend's
        ``lam**K`` tables give the literal the learning rule holds."""
        if self.site == "host":
            return self.lam
        return (1.0 - onchip_rate(self)) ** (1.0 / self.block)

    def settles(self, used: int, planned: int, t: int) -> bool:
        """Whether the decay is settled after an episode's sleep step number ``used``
        (1-based) of ``planned``, ``t`` the global step counter after that step (steps done).
        Host: every ``block`` sleep steps and at the episode's end. On chip: where Lava's
        ``u<k>`` dependency fires, ``t % block == 0`` (no settlement at the episode's end)."""
        if self.site == "onchip":
            return t % self.block == 0
        return used % self.block == 0 or used == planned

    def steps_to_settlement(self, used: int, t: int) -> int:
        """Sleep steps from step ``used`` of an episode (global step counter ``t``, steps done)
        to the next step after which :meth:`settles` may be true (the episode's end aside)."""
        return self.block - (t if self.site == "onchip" else used) % self.block

    def decay_steps(self, since: int) -> int:
        """K of a settlement: the sleep steps since the last one (host), ``block`` on chip."""
        return self.block if self.site == "onchip" else since

    def episode_length(self, k: int) -> int:
        """Planned length of sleep episode k (k = 1, 2, ...), in steps."""
        if self.fraction == 0.0:
            return 0
        # Exact rational arithmetic on the decimal the user wrote (0.6 -> 3/5): in floats,
        # 0.6 / 0.4 = 1.4999999999999998, which rounded the ties of round half up down.
        f = Fraction(repr(self.fraction))
        r = f / (1 - f) * self.period
        half = Fraction(1, 2)
        return math.floor(k * r + half) - math.floor((k - 1) * r + half)


#: Rounding modes of the fixed-point trace decay and weight updates (lava_sleep.fixed).
ROUNDING_MODES = ("stochastic", "nearest", "floor")
#: How the fixed-point weight LSB is chosen (lava_sleep.fixed).
W_SCALES = ("pow2", "full")


@dataclass(frozen=True)
class FixedParams:
    """Fixed-point (Loihi-style) widths and rounding; see lava_sleep.fixed for every derived constant.

    Attributes:
        w_bits: weight magnitude bits (sign separate). Range [2, 8] (Loihi: 8).
        v_frac_bits: fractional bits of voltage: 1 mV = 2**v_frac_bits integer units.
            Range [6, 16]; must keep v_max - v_rest and the threshold range inside the
            24-bit state.
        dw_frac_bits: fractional bits of accumulated weight updates before they are rounded
            to whole weight LSB. Range [4, 24].
        decay_frac_bits: fractional bits of the sleep decay factor. Range [16, 30].
        w_scale: how the weight LSB is chosen. "pow2" (default, Loihi's weight mantissa and
            exponent): the LSB is the smallest power-of-two multiple of the voltage unit that
            still represents w_max in w_bits bits, so w_max takes 2**(w_bits-1) to 2**w_bits - 1
            codes. "full": LSB = w_max / (2**w_bits - 1) (up to 1 part in w_mult), every code
            is used, and a spike adds ``(sum of magnitudes * w_mult) >> 8`` with an integer
            multiplier per pathway (not Loihi's weight format).
        trace_rounding: rounding of the trace decay ``(x * keep + r) >> 12``: "stochastic"
            (default, r uniform per trace and step, unbiased), "nearest" (r = 2048, ties up),
            "floor" (r = 0).
        dw_rounding: rounding of the accumulated update ``(acc + r) >> dw_frac_bits``:
            "stochastic" (default, r uniform per synapse and epoch), "nearest"
            (r = 2**(dw_frac_bits-1), ties up), "floor" (r = 0: toward minus infinity, so any
            net depression within an epoch costs at least one LSB).
    """

    w_bits: int = 8
    v_frac_bits: int = 16
    dw_frac_bits: int = 16
    decay_frac_bits: int = 24
    w_scale: str = "pow2"
    trace_rounding: str = "stochastic"
    dw_rounding: str = "stochastic"

    def __post_init__(self):
        _check_range(self, "w_bits", 2, 8, integer=True)
        _check_range(self, "v_frac_bits", 6, 16, integer=True)
        _check_range(self, "dw_frac_bits", 4, 24, integer=True)
        _check_range(self, "decay_frac_bits", 16, 30, integer=True)
        _check_choice(self, "w_scale", W_SCALES)
        _check_choice(self, "trace_rounding", ROUNDING_MODES)
        _check_choice(self, "dw_rounding", ROUNDING_MODES)


@dataclass(frozen=True)
class ModelParams:
    """The whole model: input, neurons, network, STDP, sleep, fixed point."""

    input: InputParams = field(default_factory=InputParams)
    neuron: NeuronParams = field(default_factory=NeuronParams)
    network: NetworkParams = field(default_factory=NetworkParams)
    stdp: STDPParams = field(default_factory=STDPParams)
    sleep: SleepParams = field(default_factory=SleepParams)
    fixed: FixedParams = field(default_factory=FixedParams)

    @property
    def n_input(self) -> int:
        return self.input.n_input

    def sizes(self) -> dict[str, int]:
        """Population sizes {"X": n_input, "E": n_exc, "I": n_inh}."""
        return {"X": self.n_input, "E": self.network.n_exc, "I": self.network.n_inh}

    def with_sleep_fraction(self, fraction: float) -> ModelParams:
        return replace(self, sleep=replace(self.sleep, fraction=float(fraction)))

    def check_fixed(self) -> None:
        """Raise ParamError if the configuration has no fixed-point form."""
        if self.sleep.form != "linear" and self.sleep.fraction > 0:
            raise ParamError(
                f"SleepParams.form = {self.sleep.form!r} has no fixed-point form; use 'linear'"
            )
        for pw in self.network.pathways:
            if pw.plastic and pw.mu not in (0.0, 1.0):
                raise ParamError(
                    f"PathwayParams.mu = {pw.mu!r} of {pw.name} has no fixed-point form; use 0 or 1"
                )

    def fixed_form(self) -> tuple[ModelParams, list[str]]:
        """(params, notes): these parameters in a form the fixed-point model runs.

        The log sleep-decay form has no fixed-point form (it needs a power of |w|/t per
        synapse); it becomes the linear form with the same lambda and target, which decays
        toward the same target at the same rate to first order in (1 - lambda). Each change
        is described in ``notes``. Remaining impossibilities raise ParamError (check_fixed).
        """
        p, notes = self, []
        if p.sleep.form == "log":
            p = replace(p, sleep=replace(p.sleep, form="linear"))
            notes.append("fixed point has no log sleep-decay form: using SleepParams.form = 'linear' "
                         f"(same lam = {p.sleep.lam}, same target '{p.sleep.target}')")
        p.check_fixed()
        return p, notes

    # -- serialisation -----------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["network"]["pathways"] = {pw["name"]: pw for pw in d["network"]["pathways"]}
        for pw in d["network"]["pathways"].values():
            pw.pop("name")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], base: ModelParams | None = None) -> ModelParams:
        """Build from a (possibly partial) nested dict on top of ``base`` (default: paper)."""
        base = base or ModelParams()
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ParamError(f"unknown parameter section(s): {sorted(unknown)}; known {sorted(known)}")
        parts = {}
        for f in fields(cls):
            sub = d.get(f.name, {})
            cur = getattr(base, f.name)
            if not isinstance(sub, dict):
                raise ParamError(f"section [{f.name}] must be a table, got {sub!r}")
            sub = dict(sub)
            if f.name == "network":
                pws = sub.pop("pathways", {})
                if not isinstance(pws, dict):
                    raise ParamError("network.pathways must be a table of pathway tables")
                unknown_pw = set(pws) - set(PATHWAY_NAMES)
                if unknown_pw:
                    raise ParamError(f"unknown pathway(s) {sorted(unknown_pw)}; known {PATHWAY_NAMES}")
                newpw = []
                for pw in cur.pathways:
                    ch = dict(pws.get(pw.name, {}))
                    _reject_unknown(PathwayParams, ch, f"network.pathways.{pw.name}", skip={"name"})
                    newpw.append(replace(pw, **ch))
                _reject_unknown(NetworkParams, sub, "network", skip={"pathways"})
                parts[f.name] = replace(cur, pathways=tuple(newpw), **sub)
            else:
                _reject_unknown(type(cur), sub, f.name)
                parts[f.name] = replace(cur, **sub)
        return cls(**parts)


def _reject_unknown(dc, d, where, skip=()):
    names = {f.name for f in fields(dc)} - set(skip)
    unknown = set(d) - names
    if unknown:
        raise ParamError(f"unknown parameter(s) in [{where}]: {sorted(unknown)}; known {sorted(names)}")


def paper() -> ModelParams:
    """The paper's network: 15x15 inputs, 200 E, 50 I, pathway values of MODEL.md 1."""
    return ModelParams()


def quick() -> ModelParams:
    """Smaller, faster preset: 10x10 inputs, 100 E, 25 I, 150 steps per image."""
    return ModelParams(
        input=InputParams(image_size=10, steps_per_image=150),
        network=NetworkParams(n_exc=100, n_inh=25),
        sleep=SleepParams(period=1500),
    )


def competitive() -> ModelParams:
    """A network that learns: Diehl & Cook's (2015) ingredients in this model.

    15x15 inputs, 200 E, 200 I; X->E all-to-all and plastic (rule "diehl_cook", x_tar 0.4,
    per-image normalization); E->I one-to-one, I->E all-but-self (winner-take-all); no E->E;
    slow threshold homeostasis (tau_a = 3e5 ms, decayed every 10,000 steps, frozen in
    evaluation); 150 rest steps between images; no wake noise; 3 passes over the data
    (PRESET_EPOCHS). docs/competitive.md has the tuning and the study behind the values.
    """
    return ModelParams(
        input=InputParams(image_size=15, max_rate_hz=127.5, steps_per_image=350, rest_steps=150),
        neuron=NeuronParams(tau_syn=5.0, tau_m=50.0, r_m=200.0, v_rest=-65.0, v_reset=-65.0,
                            v_thresh=-52.0, v_min=-100.0, v_max=40.0, tau_a=3e5, delta_a=0.2,
                            a_decay_every=10000, freeze_adaptation=True, theta_min=-52.0,
                            theta_max=-12.0, sigma_wake=0.0, sigma_sleep=4.0),
        network=NetworkParams(n_exc=200, n_inh=200, pathways=(
            PathwayParams("XE", p=1.0, w_init=0.02, w_init_jitter=1.0, w_max=0.2, plastic=True,
                          rule="diehl_cook", eta_plus=0.001, eta_minus=0.00002, mu=1.0, alpha=0.4,
                          normalize=True),
            PathwayParams("EE", p=0.0, w_init=0.0),
            PathwayParams("EI", p=1.0, w_init=16.0, w_max=16.0, pattern="one_to_one"),
            PathwayParams("IE", p=1.0, w_init=-8.0, w_max=16.0, pattern="all_but_self"),
        )),
        sleep=SleepParams(period=5000, target="neuron", tol=0.0),
    )


PRESETS = {"paper": paper, "quick": quick, "competitive": competitive}
#: Passes over the training images a preset needs (the default of ``--epochs``).
PRESET_EPOCHS = {"paper": 1, "quick": 1, "competitive": 3}


def preset_epochs(name: str) -> int:
    """Default number of passes over the training images for preset ``name``."""
    preset(name)  # unknown names raise ParamError
    return PRESET_EPOCHS[name]


def preset(name: str) -> ModelParams:
    try:
        return PRESETS[name]()
    except KeyError:
        raise ParamError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None


def load_toml(path: str | os.PathLike, base: ModelParams | None = None) -> ModelParams:
    """Read parameters from a TOML file (partial files override ``base``)."""
    import tomli

    try:
        with open(path, "rb") as fh:
            d = tomli.load(fh)
    except FileNotFoundError:
        raise ParamError(f"config file not found: {path}") from None
    except tomli.TOMLDecodeError as exc:
        raise ParamError(f"config file {path} is not valid TOML: {exc}") from None
    try:
        return ModelParams.from_dict(d, base)
    except TypeError as exc:  # wrong value types inside replace()
        raise ParamError(f"config file {path}: {exc}") from None


def save_toml(params: ModelParams, path: str | os.PathLike) -> None:
    """Write parameters to TOML atomically."""
    import tomli_w

    from lava_sleep.io import atomic_write_bytes

    atomic_write_bytes(path, tomli_w.dumps(params.to_dict()).encode())
