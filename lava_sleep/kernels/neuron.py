"""LIF neuron with adaptive threshold and noise (MODEL.md 2), float and fixed.

State per neuron, all relative to v_rest:

* ``u`` - per-step voltage increment carried by the synaptic current
  (``U = r_m * I * dt / tau_m``), mV (float) or 2**-v_frac_bits mV (fixed);
* ``v`` - membrane potential minus v_rest, same units;
* ``a`` - threshold adaptation, same units.

One step (``drive`` = summed weighted spikes of the previous step)::

    u <- u * k_u + gain * drive            float: k_u = 1 - dt/tau_syn
    v <- clip(v * k_v + u + bias + noise, v_min, v_max)
    s  = v > v_thresh + a
    v <- v_reset where s
    a <- clip(a * k_a + delta_a * s, a_min, a_max)

The adaptation decays only on steps where ``decay_a`` is true: the caller passes
``adaptation_decays(t, a_decay_every)``, and ``k_a = (1 - dt/tau_a)**a_decay_every``
(fixed: the 12-bit ``round(4096 * k_a)``), so a slow homeostasis (tau_a = 1e7 ms) keeps its
time constant in fixed point. With a_decay_every = 1 it decays every step.

This is MODEL.md's Euler form rewritten with U = r_m I dt/tau_m (algebraically
identical). In fixed point every product with a keep factor is the 12-bit decay
of :func:`lava_sleep.kernels._xp.decay12`, ``drive`` is already an integer in u
units (summed magnitudes shifted per pathway), u saturates at 24 bits, and the
order of operations is Lava's ``PyLifModelBitAcc`` (u, then v from the new u,
then compare, then reset), with adaptation and noise added on top.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lava_sleep.fixed import NOISE_SHIFT, STATE_MAX, STATE_MIN, FixedConstants
from lava_sleep.kernels._xp import decay12, xp_of
from lava_sleep.params import ModelParams
from lava_sleep.rng import NORMAL_INT_SD


@dataclass(frozen=True)
class NeuronConstsFloat:
    """Float constants of the neuron step (mV relative to rest, per step)."""

    k_u: float
    k_v: float
    k_a: float
    gain: float
    v_thresh: float
    v_reset: float
    v_min: float
    v_max: float
    a_min: float
    a_max: float
    delta_a: float
    bias: float
    noise_wake: float  # multiplier of the integer normal: sigma / NORMAL_INT_SD
    noise_sleep: float


def neuron_consts_float(params: ModelParams) -> NeuronConstsFloat:
    n = params.neuron
    return NeuronConstsFloat(
        k_u=1.0 - n.dt / n.tau_syn,
        k_v=1.0 - n.dt / n.tau_m,
        k_a=(1.0 - n.dt / n.tau_a) ** n.a_decay_every,
        gain=n.r_m * n.dt * n.dt / (n.tau_m * n.tau_syn),
        v_thresh=n.v_thresh - n.v_rest,
        v_reset=n.v_reset - n.v_rest,
        v_min=n.v_min - n.v_rest,
        v_max=n.v_max - n.v_rest,
        a_min=n.theta_min - n.v_thresh,
        a_max=n.theta_max - n.v_thresh,
        delta_a=n.delta_a,
        bias=n.bias,
        noise_wake=n.sigma_wake / NORMAL_INT_SD,
        noise_sleep=n.sigma_sleep / NORMAL_INT_SD,
    )


def noise_from_int(z, consts, sleeping: bool, dtype=None):
    """Membrane noise from integer normals ``z`` (see lava_sleep.rng.normal_int).

    Float: ``float(z) * (sigma / NORMAL_INT_SD)`` in ``dtype`` (one exact integer
    conversion and one correctly rounded product: identical in NumPy and torch).
    Fixed: ``(z * sigma_int) >> NOISE_SHIFT`` (arithmetic shift, i.e. floor).
    """
    if isinstance(consts, FixedConstants):
        sigma = consts.sigma_sleep if sleeping else consts.sigma_wake
        return (z * sigma) >> NOISE_SHIFT
    c = consts.noise_sleep if sleeping else consts.noise_wake
    zf = z.astype(dtype) if isinstance(z, np.ndarray) else z.to(dtype)
    return zf * c


def adaptation_decays(t, every: int):
    """Whether the adaptation decays at global step ``t`` (int or integer array):
    ``(t + 1) % every == 0``."""
    return (t + 1) % every == 0


def adaptation_runs(learn: bool, freeze: bool) -> bool:
    """Whether the adaptation changes in a run: always, unless frozen with learning off."""
    return bool(learn) or not freeze


def neuron_step(u, v, a, drive, noise, consts, decay_a=True, adapt=True):
    """One neuron step; returns (u, v, a, spikes(bool)). Float or fixed by ``consts`` type.

    ``decay_a``: whether the adaptation decays this step (bool, or a boolean array
    broadcasting against ``a`` for batched members); see :func:`adaptation_decays`.
    ``adapt``: False freezes the adaptation (no increment, no decay): a run with learning
    off under ``NeuronParams.freeze_adaptation`` (see :func:`adaptation_runs`).
    """
    xp = xp_of(v)
    if not adapt:
        u, v, _, s = neuron_step(u, v, a, drive, noise, consts, False, True)
        return u, v, a, s
    if isinstance(consts, FixedConstants):
        u = xp.clip(decay12(u, consts.k_u) + drive, STATE_MIN, STATE_MAX)
        v = xp.clip(decay12(v, consts.k_v) + u + consts.bias + noise, consts.v_min, consts.v_max)
        s = v > consts.v_thresh + a
        v = xp.where(s, consts.v_reset, v)
        ad = _maybe(xp, decay_a, decay12(a, consts.k_a), a)
        a = xp.clip(ad + consts.delta_a * s, consts.a_min, consts.a_max)
        return u, v, a, s
    u = u * consts.k_u + drive * consts.gain
    v = xp.clip(v * consts.k_v + u + consts.bias + noise, consts.v_min, consts.v_max)
    s = v > consts.v_thresh + a
    v = xp.where(s, consts.v_reset, v)
    a = _maybe(xp, decay_a, a * consts.k_a, a)
    # where() instead of ``delta_a * s``: a Python float times a bool array is float64 in
    # NumPy, which would turn a float32 state into float64.
    a = xp.clip(xp.where(s, a + consts.delta_a, a), consts.a_min, consts.a_max)
    return u, v, a, s


def _maybe(xp, cond, yes, no):
    """``yes`` where ``cond`` (a Python bool or boolean array), else ``no``."""
    if isinstance(cond, (bool, np.bool_)):
        return yes if cond else no
    return xp.where(cond, yes, no)
